"""``chainmine ingest`` through the CLI: exit codes, one-line errors, tables and ``--json``."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from chainmine.miner.cli import cli

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def run(*args, input=None, env=None):
    return CliRunner().invoke(cli, ["ingest", *map(str, args)], input=input, env=env)


@pytest.fixture
def db(tmp_path):
    return tmp_path / "t.duckdb"


def test_json_output_has_the_design_shape(db):
    result = run(SAMPLES / "canonical.jsonl", SAMPLES / "bad_rows.jsonl", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"accepted", "rejected", "duplicates", "sessions", "files"} <= set(data)
    assert (data["accepted"], data["rejected"], data["duplicates"], data["sessions"]) == (18, 14, 0, 5)
    assert [{k: f[k] for k in ("path", "format", "accepted", "rejected", "duplicates")} for f in data["files"]] == [
        {"path": str(SAMPLES / "canonical.jsonl"), "format": "canonical", "accepted": 16, "rejected": 0,
         "duplicates": 0},
        {"path": str(SAMPLES / "bad_rows.jsonl"), "format": "canonical", "accepted": 2, "rejected": 14,
         "duplicates": 0}]
    assert "rejects" not in data


def test_second_run_reports_duplicates(db):
    run(SAMPLES / "otel.jsonl", "--db", db)
    data = json.loads(run(SAMPLES / "otel.jsonl", "--db", db, "--json").stdout)
    assert (data["accepted"], data["duplicates"]) == (0, 4)


def test_default_output_is_a_summary_table_with_top_reasons(db):
    result = run(SAMPLES / "bad_rows.jsonl", SAMPLES / "anthropic.jsonl", "--db", db)
    assert result.exit_code == 0
    out = result.stdout
    assert "bad_rows.jsonl" in out and "anthropic.jsonl" in out and "total" in out
    assert "top reject reasons:" in out and "no tool (2)" in out
    assert result.stderr == ""  # no progress bar when stderr is not a terminal


def test_show_rejects_lists_rows_after_the_summary(db):
    result = run(SAMPLES / "bad_rows.jsonl", "--db", db, "--show-rejects")
    assert result.exit_code == 0
    out = result.stdout
    assert out.index("Rejected rows") > out.index("accepted")
    assert "negative duration_ms" in out and "seq is not an integer" in out


def test_show_rejects_with_json(db):
    data = json.loads(run(SAMPLES / "bad_rows.jsonl", "--db", db, "--show-rejects", "--json").stdout)
    assert len(data["rejects"]) == 14
    assert {"source", "line", "reason", "raw"} <= set(data["rejects"][0])
    assert [r["line"] for r in data["rejects"]] == list(range(2, 16))


def test_format_option_forces_a_format(db):
    data = json.loads(run(SAMPLES / "anthropic.jsonl", "--format", "canonical", "--db", db, "--json").stdout)
    assert data["files"][0]["format"] == "canonical" and (data["accepted"], data["rejected"]) == (0, 2)


def test_a_forced_format_that_would_silently_read_nothing_is_one_line_and_exit_1(db):
    result = run(SAMPLES / "anthropic.jsonl", "--format", "openai", "--db", db, "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "pass --format anthropic" in result.stderr


def test_stdin_with_dash(db):
    result = run("-", "--db", db, "--json", input=(SAMPLES / "openai_chat.jsonl").read_bytes())
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["accepted"], data["files"][0]["path"], data["files"][0]["format"]) == (6, "<stdin>", "openai")


def test_gz_file(db, tmp_path):
    gz = tmp_path / "calls.jsonl.gz"
    gz.write_bytes(gzip.compress((SAMPLES / "canonical.jsonl").read_bytes()))
    data = json.loads(run(gz, "--db", db, "--json").stdout)
    assert data["accepted"] == 16


def test_session_gap_option(db):
    data = json.loads(run(SAMPLES / "canonical.csv", "--session-gap", "10800", "--db", db, "--json").stdout)
    assert data["sessions"] == 2


def test_redact_option(db, tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"session_id": "s", "seq": 1, "tool": "mail", "args": {"to": "ana@example.org"}})
                    + "\n")
    assert run(path, "--db", db, "--redact", "--redact-key", "k").exit_code == 0
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute("SELECT args->>'to' FROM calls").fetchone()[0]
    con.close()
    assert stored.startswith("<email:") and "ana" not in stored


@pytest.mark.parametrize("name, message", [("missing.jsonl", "no such file"),
                                           ("prose.txt", "not in a known log format")])
def test_unreadable_input_is_one_line_and_exit_1(db, tmp_path, name, message):
    """Every kind of unreadable file is covered in test_ingest_store; here the CLI's side of it."""
    (tmp_path / "prose.txt").write_text("just prose\n")
    result = run(SAMPLES / "canonical.jsonl", tmp_path / name, "--db", db)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 0  # checked before writing anything
    con.close()


def test_exit_0_when_rows_are_rejected(db):
    assert run(SAMPLES / "bad_rows.jsonl", "--db", db).exit_code == 0


@pytest.mark.parametrize("args", [["--format", "xml"], ["--session-gap", "0"], []])
def test_usage_errors_exit_2(db, args):
    paths = [] if not args else [SAMPLES / "canonical.jsonl"]
    assert run(*paths, *args, "--db", db).exit_code == 2


def test_locked_database_names_the_holder(db):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
         str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = run(SAMPLES / "canonical.jsonl", "--db", db)
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1
        assert f"in use by process {holder.pid}" in result.stderr
        assert "Traceback" not in result.output
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert run(SAMPLES / "canonical.jsonl", "--db", db).exit_code == 0  # free again once it is gone


def test_quiet_run_prints_only_the_summary(db):
    result = run(SAMPLES / "otel.jsonl", "--db", db, "--quiet")
    assert result.exit_code == 0 and result.stderr == "" and "otel.jsonl" in result.stdout
