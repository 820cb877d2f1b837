"""Durable runs: recording into DuckDB, resuming after a failure or a killed process, corrupt records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import ToolGuards, WorkflowExecutor
from chainmine.library.runner.errors import ResumeError
from chainmine.miner.cli import cli
from chainmine.miner.run_store import DuckDBRecorder, get_run, list_runs
from chainmine.miner.store import connect

sys.path.insert(0, str(Path(__file__).parent / "tools"))
from runner_fixtures import TOOLS_FILE, calls, registry  # noqa: E402,F401  (fixtures)


def chain(last_tool: str, last_params: dict, **last_opts) -> WorkflowTemplate:
    return WorkflowTemplate.from_dict({
        "name": "chain", "status": "accepted", "inputs": {"uid": {"type": "string"}},
        "steps": [
            {"id": "user", "tool_name": "get_user", "parameters": {"user_id": "{{uid}}"}},
            {"id": "order", "tool_name": "get_order", "parameters": {"order_id": "{{user.orders[0]}}"}},
            {"id": "last", "tool_name": last_tool, "parameters": last_params, "depends_on": ["order"],
             **last_opts},
        ]})


def run_with_db(registry, db, wf, inputs=None, resume=None):
    con = connect(db)
    try:
        ex = WorkflowExecutor(registry, recorder=DuckDBRecorder(con), guards=ToolGuards())
        result = ex.resume(resume) if resume else ex.execute(wf, inputs or {})
        return result
    finally:
        con.close()


def test_a_run_is_recorded_and_its_calls_are_stored_as_a_run(registry, calls, tmp_path):
    db = tmp_path / "runs.duckdb"
    wf = chain("flaky", {"key": "rec", "failures": 1}, max_retries=2, retry_delay=0)
    result = run_with_db(registry, db, wf, {"uid": "ann"})
    assert result.status == "completed"
    con = connect(db, read_only=True)
    try:
        run = get_run(con, result.run_id)
        assert run["status"] == "completed" and run["outputs"]["last"] == {"key": "rec", "calls": 2}
        assert run["inputs"] == {"uid": "ann"} and run["calls"] == 4
        assert [(s["id"], s["status"], s["attempts"]) for s in run["steps"]] == [
            ("user", "completed", 1), ("order", "completed", 1), ("last", "completed", 2)]
        rows = con.execute("""SELECT tool, success, session_id, origin, args->>'$.user_id'
                              FROM calls_v ORDER BY ts, seq""").fetchall()
        assert rows == [("get_user", True, result.run_id, "run", "ann"),
                        ("get_order", True, result.run_id, "run", None),
                        ("flaky", False, result.run_id, "run", None),
                        ("flaky", True, result.run_id, "run", None)]
        assert list_runs(con)[0]["run_id"] == result.run_id
    finally:
        con.close()


def test_a_failed_run_resumes_without_repeating_completed_steps(registry, calls, tmp_path):
    db = tmp_path / "runs.duckdb"
    flag = tmp_path / "open"
    wf = chain("gate", {"flag_file": str(flag)})
    first = run_with_db(registry, db, wf, {"uid": "bo"})
    assert first.status == "failed"
    flag.touch()
    second = run_with_db(registry, db, None, resume=first.run_id)
    assert second.status == "completed" and second.run_id == first.run_id
    assert calls() == ["get_user bo", "get_order bo-o1", "gate open", "gate open"]
    assert second.steps["user"].details["reused"] is True
    assert second.steps["order"].result == {"order_id": "bo-o1", "total": 10}
    con = connect(db, read_only=True)
    try:
        assert get_run(con, first.run_id)["status"] == "completed"
    finally:
        con.close()


def test_steps_undone_by_compensation_run_again_on_resume(registry, calls, tmp_path):
    db = tmp_path / "runs.duckdb"
    flag = tmp_path / "open"
    wf = WorkflowTemplate.from_dict({"name": "saga", "status": "accepted", "steps": [
        {"id": "hold", "tool_name": "reserve", "parameters": {"what": "seat"},
         "compensation": {"tool_name": "release", "parameters": {"reservation": "{{hold.reservation}}"}}},
        {"id": "look", "tool_name": "get_user", "parameters": {"user_id": "x"}},
        {"id": "pay", "tool_name": "gate", "parameters": {"flag_file": str(flag)}, "depends_on": ["hold", "look"]}]})
    first = run_with_db(registry, db, wf)
    assert first.status == "compensated"
    flag.touch()
    second = run_with_db(registry, db, None, resume=first.run_id)
    assert second.status == "completed"
    assert calls().count("reserve seat") == 2          # undone, so done again
    assert calls().count("get_user x") == 1            # no compensation: reused


@pytest.mark.parametrize("corruption, message", [
    ("UPDATE runs SET workflow_json = '{\"name\": 3}'", "stored workflow is invalid"),
    ("UPDATE runs SET workflow_json = '\"text\"'", "no stored workflow"),
    ("UPDATE run_steps SET status = 'exploded' WHERE step_id = 'user'", "corrupt"),
    ("UPDATE run_steps SET step_id = 'ghost' WHERE step_id = 'user'", "step 'ghost' is not in workflow"),
    ("UPDATE runs SET status = 'weird'", "corrupt"),
])
def test_a_corrupt_run_record_gives_a_clear_error(registry, calls, tmp_path, corruption, message):
    db = tmp_path / "runs.duckdb"
    first = run_with_db(registry, db, chain("gate", {"flag_file": str(tmp_path / "never")}), {"uid": "c"})
    con = connect(db)
    con.execute(corruption)
    con.close()
    with pytest.raises(ResumeError, match=message):
        run_with_db(registry, db, None, resume=first.run_id)


@pytest.mark.parametrize("setup, message", [("unknown", "no run 'unknown'"), ("completed", "already completed")])
def test_resuming_needs_an_unfinished_run(registry, calls, tmp_path, setup, message):
    db = tmp_path / "runs.duckdb"
    run_id = "unknown"
    if setup == "completed":
        run_id = run_with_db(registry, db, chain("add", {"a": 1, "b": 2}), {"uid": "d"}).run_id
    with pytest.raises(ResumeError, match=message):
        run_with_db(registry, db, None, resume=run_id)


def wait_for(predicate, what: str, deadline_s: float = 90.0) -> None:
    end = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def test_a_killed_run_resumes_without_repeating_completed_steps(tmp_path, monkeypatch):
    db, lib, log, release = tmp_path / "k.duckdb", tmp_path / "lib.json", tmp_path / "calls.log", tmp_path / "go"
    wf = chain("hang", {"release_file": str(release)})
    lib.write_text(json.dumps({"schema_version": 1, "workflows": [wf.to_dict()]}))
    args = ["run", "chain", "--tools", str(TOOLS_FILE), "--input", "uid=kim", "--db", str(db),
            "--library", str(lib), "--quiet", "--json"]
    env = {**os.environ, "RUNNER_TEST_LOG": str(log)}
    proc = subprocess.Popen([sys.executable, "-c", "from chainmine.miner.cli import main; main()", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: log.exists() and "hang go" in log.read_text(), "the run to reach its third step")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    con = connect(db, read_only=True)
    try:
        (run_id, status), = con.execute("SELECT run_id, status FROM runs").fetchall()
        steps = dict(con.execute("SELECT step_id, status FROM run_steps").fetchall())
    finally:
        con.close()
    assert status == "running" and steps == {"user": "completed", "order": "completed", "last": "running"}

    release.touch()
    monkeypatch.setenv("RUNNER_TEST_LOG", str(log))
    out = CliRunner().invoke(cli, ["run", "chain", "--tools", str(TOOLS_FILE), "--resume", run_id,
                                   "--db", str(db), "--library", str(lib), "--quiet", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["run_id"] == run_id and doc["status"] == "completed"
    assert doc["outputs"]["last"] == {"released": True} and doc["outputs"]["user"]["id"] == "kim"
    assert log.read_text().splitlines() == ["get_user kim", "get_order kim-o1", "hang go", "hang go"]


def test_ctrl_c_cancels_cleanly_compensates_and_records_cancelled(tmp_path):
    db, lib, log, release = tmp_path / "c.duckdb", tmp_path / "lib.json", tmp_path / "calls.log", tmp_path / "never"
    wf = {"name": "held", "status": "accepted", "steps": [
        {"id": "hold", "tool_name": "reserve", "parameters": {"what": "seat"},
         "compensation": {"tool_name": "release", "parameters": {"reservation": "{{hold.reservation}}"}}},
        {"id": "wait", "tool_name": "hang", "parameters": {"release_file": str(release)}, "depends_on": ["hold"]}]}
    lib.write_text(json.dumps({"schema_version": 1, "workflows": [wf]}))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from chainmine.miner.cli import main; main()", "run", "held", "--tools", str(TOOLS_FILE),
         "--db", str(db), "--library", str(lib), "--json", "--quiet"],
        env={**os.environ, "RUNNER_TEST_LOG": str(log)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: log.exists() and "hang never" in log.read_text(), "the run to reach its hanging step")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, err.decode()
    doc = json.loads(out)
    assert doc["status"] == "cancelled"
    assert {s["id"]: s["status"] for s in doc["steps"]} == {"hold": "completed", "wait": "cancelled"}
    assert log.read_text().splitlines()[-1] == "release r-seat"
    con = connect(db, read_only=True)
    try:
        assert con.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
    finally:
        con.close()


def test_a_recorded_run_keeps_the_miners_events_fresh_and_stays_out_of_them(registry, calls, tmp_path):
    from chainmine.miner.chains.events import EVENTS, LOGGED, build_sql, prepare_events
    from chainmine.miner.ingest import ingest_paths

    db = tmp_path / "runs.duckdb"
    con = connect(db)
    ingest_paths(con, [Path(__file__).parent.parent / "data" / "samples" / "canonical.jsonl"])
    con.close()
    result = run_with_db(registry, db, chain("flaky", {"key": "ev", "failures": 0}), {"uid": "ann"})
    con = connect(db, read_only=True)
    try:
        assert prepare_events(con).stored
        run_events = con.execute(f"SELECT count(*) FROM {EVENTS} WHERE sid = hash(?)", [result.run_id]).fetchone()[0]
        assert run_events == 0
        con.execute(f"CREATE TEMP TABLE fresh AS {build_sql(where=LOGGED)}")
        cols = "sid, spos, epos, t, ok, n, rid"
        assert sorted(con.execute(f"SELECT {cols} FROM {EVENTS}").fetchall()) == \
            sorted(con.execute(f"SELECT {cols} FROM fresh").fetchall())
    finally:
        con.close()
