"""``chainmine stats`` through the CLI runner: JSON shape, tables, filters, rejects and errors."""

from __future__ import annotations

import json

import duckdb
import pytest
from click.testing import CliRunner

from chainmine.miner.cli import cli
from chainmine.miner.generate import generate_logs, generate_records
from chainmine.miner.store import connect

SESSIONS = 120


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A store filled by the real CLI from a generated log plus a file with two bad lines."""
    tmp = tmp_path_factory.mktemp("stats")
    log = tmp / "agents.jsonl"
    generate_logs(log, sessions=SESSIONS, seed=5)
    bad = tmp / "bad.jsonl"
    bad.write_text('{"session_id": "x", "seq": 1, "tool": "ok_tool"}\nnot json at all\n{"seq": 2}\n')
    path = tmp / "store.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(log), str(bad), "--db", str(path), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    return path


def run(*args):
    return CliRunner().invoke(cli, ["stats", *args])


def test_json_document_has_the_design_shape(db):
    result = run("--db", str(db), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = list(generate_records(sessions=SESSIONS, seed=5))
    assert report["calls"] == len(rows) + 1 and report["sessions"] == SESSIONS + 1
    assert {"calls", "sessions", "tools", "transitions", "time_range", "variants", "top_errors",
            "rejects"} <= set(report)
    for tool in report["tools"]:
        assert {"tool", "calls", "success_rate", "p50_ms", "p95_ms", "avg_cost"} <= set(tool)
    for tr in report["transitions"]:
        assert set(tr) == {"from", "to", "count", "probability"}
    assert sum(t["calls"] for t in report["tools"]) == report["calls"]
    assert report["rejects"] == 2
    assert report["time_range"]["first"] < report["time_range"]["last"]


def test_top_limits_variants_and_errors_not_tools(db):
    report = json.loads(run("--db", str(db), "--json", "--top", "2").stdout)
    assert len(report["variants"]) == 2 and len(report["top_errors"]) == 2
    assert len(report["tools"]) > 20


@pytest.mark.parametrize("args, check", [
    (["--agent", "ci-bot"], lambda r, rows: r["calls"] == sum(x["agent"] == "ci-bot" for x in rows)),
    (["--tool", "get_user_details"],
     lambda r, rows: [t["tool"] for t in r["tools"]] == ["get_user_details"]
     and all("get_user_details" in (t["from"], t["to"]) for t in r["transitions"])),
    (["--since", "2026-01-12"], lambda r, rows: r["calls"] == sum(x["ts"] >= "2026-01-12" for x in rows)),
    (["--until", "2026-01-08"], lambda r, rows: r["calls"] == sum(x["ts"] < "2026-01-09" for x in rows)),
])
def test_filters(db, args, check):
    result = run("--db", str(db), "--json", *args)
    assert result.exit_code == 0, result.output
    rows = list(generate_records(sessions=SESSIONS, seed=5))
    assert check(json.loads(result.stdout), rows)


def test_tables_by_default(db):
    result = run("--db", str(db), "--top", "3")
    assert result.exit_code == 0, result.output
    for title in ("Tools", "Transitions", "Session variants", "Top errors"):
        assert title in result.stdout
    assert "rejected rows" in result.stdout and "more tools" in result.stdout


def test_show_rejects_lists_reasons(db):
    result = run("--db", str(db), "--json", "--show-rejects")
    rows = json.loads(result.stdout)["reject_rows"]
    assert len(rows) == 2 and {r["line"] for r in rows} == {2, 3}
    assert all(r["reason"] for r in rows)
    table = run("--db", str(db), "--show-rejects")
    assert "Rejected rows" in table.stdout and "bad.jsonl" in table.stdout


def test_stats_does_not_change_the_database(db):
    before = db.read_bytes()
    assert run("--db", str(db), "--json").exit_code == 0
    assert db.read_bytes() == before


def test_empty_store(tmp_path):
    path = tmp_path / "empty.duckdb"
    connect(path).close()
    report = json.loads(run("--db", str(path), "--json").stdout)
    assert report["calls"] == 0 and report["tools"] == [] and report["transitions"] == []
    table = run("--db", str(path))
    assert table.exit_code == 0 and "no tool calls" in table.stdout


@pytest.mark.parametrize("args, code, message", [
    (["--db", "{tmp}/missing.duckdb"], 1, "run `chainmine ingest`"),
    (["--db", "{tmp}/plain.duckdb"], 1, "no chainmine tables"),
    (["--db", "{db}", "--since", "2026-02-01", "--until", "2026-01-01"], 1, "the time range is empty"),
    (["--db", "{db}", "--since", "soon"], 2, "use ISO-8601"),
    (["--db", "{db}", "--top", "0"], 2, "--top"),
])
def test_bad_input(tmp_path, db, args, code, message):
    duckdb.connect(str(tmp_path / "plain.duckdb")).close()
    result = run(*(a.format(tmp=tmp_path, db=db) for a in args))
    assert result.exit_code == code
    assert message in result.stderr
    if code == 1:
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert not (tmp_path / "missing.duckdb").exists()


def test_drift_is_delegated_and_needs_a_library(db, tmp_path):
    result = run("--db", str(db), "--drift", "--library", str(tmp_path / "none.json"))
    assert result.exit_code == 1
    assert "library" in result.stderr and "chainmine mine --save" in result.stderr
