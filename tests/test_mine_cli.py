"""``chainmine mine`` through the CLI: JSON shape, table, --save, thresholds and one-line errors."""

from __future__ import annotations

import json
import random

import duckdb
import pytest
from click.testing import CliRunner

from chainmine.library.model import WorkflowTemplate
from chainmine.library.store import WorkflowLibrary
from chainmine.miner.cli import cli
from test_chains import call, lookup_sessions, make_store


def run(*args):
    return CliRunner().invoke(cli, ["mine", *map(str, args)])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = random.Random(21)
    sessions = lookup_sessions(16, rng)
    sessions += [[call("search_flights", {"to": f"city{i}"}, [{"flight": f"F{i}"}]),
                  call("book_flight", {"flight": f"F{i}"}, {"booking": f"B{i}"}),
                  call("send_receipt", {"booking": f"B{i}"}, "sent")] for i in range(6)]
    sessions += [[call("open_ticket", {"id": f"T{i}"}, {"customer": f"C{i}"}),
                  call("history", {"customer": f"C{i}"}, {}), call("sla", {"id": f"T{i}"}, {}),
                  call("close_ticket", {"id": f"T{i}"}, "ok")] if i % 2 else
                 [call("open_ticket", {"id": f"T{i}"}, {"customer": f"C{i}"}),
                  call("sla", {"id": f"T{i}"}, {}), call("history", {"customer": f"C{i}"}, {}),
                  call("close_ticket", {"id": f"T{i}"}, "ok")] for i in range(8)]
    return make_store(tmp_path_factory.mktemp("mine") / "t.duckdb", sessions)


def test_json_is_a_ranked_list_of_valid_workflows(store, tmp_path):
    result = run("--db", store, "--library", tmp_path / "lib.json", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [w["steps"][0]["tool_name"] for w in data] == ["get_user_details", "open_ticket", "search_flights"]
    scores = [w["stats"]["score"] for w in data]
    assert scores == sorted(scores, reverse=True)
    for w in data:
        wf = WorkflowTemplate.from_dict(w)
        assert (wf.status, wf.source) == ("suggested", "mined")
        assert {"frequency", "sessions", "success_rate", "success_rate_low", "avg_duration_ms",
                "example_sessions", "score", "round_trips_saved"} <= set(w["stats"])
    lookup = data[0]
    assert lookup["steps"][1]["map_over"] == "{{get_user.reservations}}"
    assert lookup["steps"][1]["parameters"] == {"reservation_id": "{{item}}"}
    assert not (tmp_path / "lib.json").exists()


def test_table_shows_map_steps_and_parallel_branches(store, tmp_path):
    result = run("--db", store, "--library", tmp_path / "lib.json")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "get_user_details → get_reservation_details ×N" in text
    assert "open_ticket → (" in text and "history" in text and "| " in text
    assert text.index("get_user_then_each_get_reservation") < text.index("search_flights")


def test_top_keeps_the_best(store, tmp_path):
    data = json.loads(run("--db", store, "--library", tmp_path / "l.json", "--json", "--top", "1").stdout)
    assert [w["name"] for w in data] == ["get_user_then_each_get_reservation"]


def test_save_merges_suggestions_into_the_library(store, tmp_path):
    lib = tmp_path / "lib.json"
    first = run("--db", store, "--library", lib, "--save")
    assert first.exit_code == 0, first.output
    assert f"saved to {lib}: 3 added, 0 updated" in first.stdout
    saved = WorkflowLibrary(lib).list_all()
    assert len(saved) == 3 and {w.status for w in saved} == {"suggested"}
    again = run("--db", store, "--library", lib, "--save", "--json")
    assert again.exit_code == 0
    assert len(json.loads(again.stdout)) == 3  # stdout stays one JSON document
    assert "0 added" in again.stderr
    assert len(WorkflowLibrary(lib).list_all()) == 3


def test_mining_never_writes_to_the_database(store, tmp_path):
    def tables():
        con = duckdb.connect(str(store), read_only=True)
        try:
            return con.execute("SELECT table_name FROM information_schema.tables ORDER BY 1").fetchall()
        finally:
            con.close()
    before = tables()
    assert run("--db", store, "--library", tmp_path / "l.json", "--json").exit_code == 0
    assert tables() == before


@pytest.mark.parametrize("option, value, shown", [
    ("--min-frequency", "0", "x>=1"),
    ("--min-confidence", "1.5", "0.0<=x<=1.0"),
    ("--min-success-rate", "-0.1", "0.0<=x<=1.0"),
    ("--max-length", "11", "2<=x<=10"),
    ("--max-gap", "9", "0<=x<=5"),
    ("--closure", "2", "0.0<=x<=1.0"),
])
def test_out_of_range_thresholds_are_usage_errors_naming_the_range(store, option, value, shown):
    result = run("--db", store, option, value)
    assert result.exit_code == 2
    assert option in result.stderr and shown in result.stderr


def test_min_length_above_max_length_is_a_usage_error(store):
    result = run("--db", store, "--min-length", "5", "--max-length", "3")
    assert result.exit_code == 2
    assert "must not exceed --max-length" in result.stderr


def test_empty_store_is_one_line_and_exit_1(tmp_path):
    db = make_store(tmp_path / "empty.duckdb", [])
    result = run("--db", db, "--library", tmp_path / "l.json")
    assert result.exit_code == 1
    assert result.stderr == "error: no tool calls yet: run chainmine ingest\n"


def test_missing_database_is_one_line_and_exit_1(tmp_path):
    result = run("--db", tmp_path / "nope.duckdb")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no database at ") and result.stderr.count("\n") == 1


def test_no_chain_meeting_the_thresholds_says_what_to_relax(store, tmp_path):
    result = run("--db", store, "--library", tmp_path / "l.json", "--min-frequency", "1000")
    assert result.exit_code == 0
    assert "no chains met the thresholds" in result.stdout and "--min-frequency" in result.stdout
    assert json.loads(run("--db", store, "--min-frequency", "1000", "--json").stdout) == []


def _email_sessions(n):
    return [[call("get_contact", {"id": f"C{i}"}, {"email": f"c{i}@x"}),
             call("send_email", {"to": f"c{i}@x", "body": "Hi {{name}}, your order {{ order.id }} shipped"}, "ok")]
            for i in range(n)]


def test_logged_text_holding_braces_is_mined_as_a_literal_constant(tmp_path):
    sessions = lookup_sessions(8, random.Random(5)) + _email_sessions(12)
    db = make_store(tmp_path / "t.duckdb", sessions)
    result = run("--db", db, "--library", tmp_path / "l.json", "--json")
    assert result.exit_code == 0, result.output
    by_first = {w["steps"][0]["tool_name"]: w for w in json.loads(result.stdout)}
    assert set(by_first) == {"get_user_details", "get_contact"}
    body = by_first["get_contact"]["steps"][1]["parameters"]["body"]
    assert body == "Hi {{'{{'}}name}}, your order {{'{{'}} order.id }} shipped"
    assert "left out" not in result.stderr


@pytest.mark.parametrize("as_json", [True, False])
def test_a_chain_whose_workflow_is_invalid_is_left_out_with_a_note(store, tmp_path, monkeypatch, as_json):
    import chainmine.miner.synthesis.build as build
    from chainmine.library.errors import ValidationError

    real = build._build

    def picky(chain, *args):
        if chain.tools[0] == "search_flights":
            raise ValidationError("workflow 'x' is invalid: steps[0].parameters.p: broken", ["broken"])
        return real(chain, *args)

    monkeypatch.setattr(build, "_build", picky)
    result = run("--db", store, "--library", tmp_path / "l.json", *(["--json"] if as_json else []))
    assert result.exit_code == 0, result.output
    if as_json:
        data = json.loads(result.stdout)
        assert isinstance(data, list)
        assert [w["steps"][0]["tool_name"] for w in data] == ["get_user_details", "open_ticket"]
    else:
        assert "get_user_then_each_get_reservation" in result.stdout and "search_flights" not in result.stdout
    assert result.stderr.count("note: 1 chain left out") == 1
    assert "search_flights -> book_flight -> send_receipt: workflow 'x' is invalid" in result.stderr


@pytest.mark.parametrize("seed", [7, 12])
def test_a_commuting_workflow_at_a_high_min_frequency_is_one_workflow_counted_once(tmp_path, seed):
    log, db = tmp_path / "logs.jsonl", tmp_path / "t.duckdb"
    cli_run = CliRunner().invoke
    assert cli_run(cli, ["generate", "--out", str(log), "--sessions", "1000", "--seed", str(seed),
                         "--scenario", "support"]).exit_code == 0
    assert cli_run(cli, ["ingest", str(log), "--db", str(db), "--quiet"]).exit_code == 0
    truth = json.loads((tmp_path / "logs.truth.json").read_text())
    (planted,) = [w for w in truth["workflows"] if len(w.get("orders", [])) > 1]
    counts = sorted(o["count"] for o in planted["orders"])
    high = counts[-1] + (sum(counts) - counts[-1]) // 2  # above every order alone, below all of them
    result = run("--db", db, "--library", tmp_path / "l.json", "--min-frequency", high, "--json")
    assert result.exit_code == 0, result.output
    tools = set(planted["tools"])
    (wf,) = [w for w in json.loads(result.stdout) if {s["tool_name"] for s in w["steps"]} <= tools]
    assert {s["tool_name"] for s in wf["steps"]} == tools
    assert high <= wf["stats"]["frequency"] <= sum(counts)
    branches = [s["depends_on"] for s in wf["steps"][1:-1]]
    assert len(branches) == 2 and branches[0] == branches[1] == [wf["steps"][0]["id"]]
