"""Runs kept apart (chainmine.miner.origins): the calls of `chainmine run` never change what the logs say, unless asked."""

from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner

from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner.loading import load_registry
from chainmine.miner.chains.events import prepare_events
from chainmine.miner.cli import cli
from chainmine.miner.demo import DEMO_TOOLS, example_inputs, pick_runnable
from chainmine.miner.origins import count_calls, migrate_run_origin
from chainmine.miner.store import connect, init_schema

RUNS = 20


def invoke(*args):
    out = CliRunner().invoke(cli, [str(a) for a in args])
    assert out.exit_code == 0, (args, out.output)
    return out


def as_json(*args):
    return json.loads(invoke(*args, "--json", "--quiet" if args[0] in ("mine", "run") else "--json").stdout)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small generated log, mined, one workflow accepted, then every command's answer before and after
    that workflow ran RUNS times."""
    tmp = tmp_path_factory.mktemp("runs-apart")
    db, lib, log = tmp / "c.duckdb", tmp / "w.json", tmp / "log.jsonl"
    invoke("generate", "--out", log, "--sessions", 300, "--seed", 7, "--quiet")
    invoke("ingest", log, "--db", db, "--quiet")
    where = ("--db", db, "--library", lib)
    mined = as_json("mine", *where, "--save")
    with load_registry(DEMO_TOOLS) as registry:
        wf = pick_runnable([WorkflowTemplate.from_dict(w) for w in mined], set(registry.names()))
    invoke("library", "accept", wf.name, "--library", lib)
    recommend = ("recommend", "--tools", wf.steps[0].tool_name, "--include-suggested", *where)

    def answers(*extra):
        return {"mine": as_json("mine", *where, *extra), "stats": as_json("stats", "--db", db, *extra),
                "drift": as_json("stats", "--drift", "--window", "day", *where, *extra),
                "evaluate": as_json("evaluate", "--db", db, *extra),
                "recommend": as_json(*recommend, *extra)}

    before = answers()
    pairs = [a for k, v in example_inputs(wf).items() for a in ("--input", f"{k}={json.dumps(v)}")]
    runs = [as_json("run", wf.name, "--tools", DEMO_TOOLS, *pairs, *where) for _ in range(RUNS)]
    return {"db": db, "lib": lib, "workflow": wf, "mined": mined, "runs": runs, "before": before,
            "after": answers(), "with_runs": answers("--include-runs")}


def test_the_runs_completed_and_are_stored_as_runs(store):
    assert [r["status"] for r in store["runs"]] == ["completed"] * RUNS
    con = connect(store["db"], read_only=True)
    try:
        origins = dict(con.execute("SELECT origin, count(DISTINCT session_id) FROM calls GROUP BY ALL").fetchall())
        assert origins == {"log": 300, "run": RUNS}
    finally:
        con.close()
    listed = as_json("runs", "list", "--db", store["db"])
    assert {r["run_id"] for r in listed} == {r["run_id"] for r in store["runs"]}


def test_mining_after_the_runs_gives_the_same_suggestions_and_figures(store):
    assert store["after"]["mine"] == store["before"]["mine"] and store["before"]["mine"]


def test_mining_with_include_runs_counts_them(store):
    name = store["workflow"].name
    freq = {w["name"]: w["stats"]["frequency"] for w in store["with_runs"]["mine"]}
    before = {w["name"]: w["stats"]["frequency"] for w in store["before"]["mine"]}
    assert freq[name] >= before[name] + RUNS


def test_stats_leave_the_runs_out_unless_asked(store):
    before, after, with_runs = (store[k]["stats"] for k in ("before", "after", "with_runs"))
    assert after == {**before, "filter": after["filter"]} and after["filter"]["include_runs"] is False
    assert with_runs["sessions"] == before["sessions"] + RUNS and with_runs["calls"] > before["calls"]
    assert with_runs["agents"] == before["agents"] + 1  # the runner's own agent name


@pytest.mark.parametrize("command", ["drift", "evaluate", "recommend"])
def test_drift_evaluate_and_recommend_ignore_runs_by_default(store, command):
    assert store["after"][command] == store["before"][command]
    # the runs would change the answer: this is what the default leaves out
    assert store["with_runs"][command] != store["before"][command]


def test_the_latest_drift_window_is_not_the_runs(store):
    name = store["workflow"].name
    rows = {r["workflow"]: r for r in store["after"]["drift"]}
    with_runs = {r["workflow"]: r for r in store["with_runs"]["drift"]}
    assert len(with_runs[name]["windows"]) > len(rows[name]["windows"])


def test_recording_runs_leaves_the_stored_events_fresh(store):
    con = connect(store["db"], read_only=True)
    try:
        summary = prepare_events(con)
        assert summary.stored and summary.calls == count_calls(con)
        assert not prepare_events(con, include_runs=True).stored
    finally:
        con.close()


def test_mining_a_store_of_runs_only_says_how_to_include_them(tmp_path):
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    init_schema(con)
    con.execute("INSERT INTO tools VALUES (1, 'a'), (2, 'b')")
    con.execute("""INSERT INTO calls (id, session_id, seq, tool_id, success, origin)
                   SELECT i, 'r' || (i // 2), i, 1 + i % 2, true, 'run' FROM range(20) t(i)""")
    con.close()
    out = CliRunner().invoke(cli, ["mine", "--db", str(tmp_path / "r.duckdb"), "--json", "--quiet"])
    assert out.exit_code == 1 and "only 20 from workflow runs" in out.stderr and "--include-runs" in out.stderr
    doc = as_json("mine", "--db", tmp_path / "r.duckdb", "--include-runs", "--min-frequency", 3)
    assert [w["steps"][0]["tool_name"] for w in doc] == ["a"]


def test_old_runner_rows_are_read_as_runs_and_migrated_once(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    init_schema(con)
    con.execute("DELETE FROM meta WHERE key = 'run_origin'")
    con.execute("INSERT INTO tools VALUES (1, 'a')")
    con.execute("""INSERT INTO calls (id, session_id, tool_id, success, origin)
                   VALUES (1, 's', 1, true, 'log'), (2, 'r', 1, true, 'runner')""")
    con.close()
    ro = connect(path, read_only=True)
    try:
        assert count_calls(ro) == 1 and count_calls(ro, include_runs=True) == 2
    finally:
        ro.close()
    con = connect(path)
    try:
        assert con.execute("SELECT origin FROM calls ORDER BY id").fetchall() == [("log",), ("run",)]
        assert migrate_run_origin(con) == 0
    finally:
        con.close()
