"""Transactions, idempotency, content-hash dedupe, redaction and store_records."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

import chainmine.miner.ingest.pipeline as pipeline
from chainmine.miner.errors import IngestError, StoreError
from chainmine.miner.ingest import ingest_paths, list_rejects, store_records
from chainmine.miner.ingest.redact import META_KEY
from chainmine.miner.store import connect

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
ALL_SAMPLES = ["canonical.jsonl", "aliases.jsonl", "canonical.csv", "openai_chat.jsonl",
               "openai_responses.json", "anthropic.jsonl", "otel.jsonl", "bad_rows.jsonl"]
TABLES = ["meta", "tools", "calls", "ingests", "rejects", "runs", "run_steps"]


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "t.duckdb")
    yield c
    c.close()


def snapshot(con) -> dict:
    """Every table's full content, to compare the database before and after."""
    return {t: sorted(map(repr, con.execute(f"SELECT * FROM {t}").fetchall())) for t in TABLES}


def test_reingesting_every_sample_adds_nothing(con):
    paths = [SAMPLES / n for n in ALL_SAMPLES]
    first = ingest_paths(con, paths)
    calls_before = con.execute("SELECT count(*) FROM calls").fetchone()[0]
    second = ingest_paths(con, paths)
    assert first.accepted == calls_before == 16 + 6 + 8 + 6 + 4 + 4 + 4 + 2
    assert (second.accepted, second.duplicates, second.sessions) == (0, first.accepted + first.duplicates, 0)
    assert second.rejected == first.rejected  # bad rows are reported again, for the new ingest
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == calls_before
    per_file = [(f["accepted"], f["duplicates"]) for f in second.files]
    assert per_file == [(0, f["accepted"] + f["duplicates"]) for f in first.files]


def test_one_ingests_row_per_file_with_its_counts(con):
    ingest_paths(con, [SAMPLES / "canonical.jsonl", SAMPLES / "bad_rows.jsonl"])
    rows = con.execute("SELECT ingest_id, source, format, accepted, rejected, duplicates, sessions, "
                       "options->>'container' FROM ingests ORDER BY ingest_id").fetchall()
    assert rows == [(1, str(SAMPLES / "canonical.jsonl"), "canonical", 16, 0, 0, 4, "jsonl"),
                    (2, str(SAMPLES / "bad_rows.jsonl"), "canonical", 2, 14, 0, 1, "jsonl")]
    assert con.execute("SELECT DISTINCT ingest_id FROM rejects").fetchall() == [(2,)]
    assert con.execute("SELECT count(*) FROM calls WHERE ingest_id = 1").fetchone()[0] == 16


def test_total_sessions_count_distinct_sessions_across_files(con, tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text('{"session_id": "s", "tool": "x", "seq": 1}\n')
    b.write_text('{"session_id": "s", "tool": "y", "seq": 2}\n')
    r = ingest_paths(con, [a, b])
    assert r.sessions == 1 and [f["sessions"] for f in r.files] == [1, 1]


def test_tools_are_dictionary_encoded(con):
    ingest_paths(con, [SAMPLES / "canonical.jsonl", SAMPLES / "anthropic.jsonl"])
    tools = con.execute("SELECT tool FROM tools ORDER BY tool").fetchall()
    assert len(tools) == len(set(tools)) == con.execute("SELECT count(DISTINCT tool_id) FROM calls").fetchone()[0]
    assert ("github_create_pr",) in tools  # in both files, stored once


@pytest.mark.parametrize("step", ["store_records", "record_ingest", "redact_table"])
def test_failure_mid_ingest_leaves_the_database_unchanged(con, monkeypatch, step):
    ingest_paths(con, [SAMPLES / "otel.jsonl"])  # something already stored must survive intact
    before = snapshot(con)
    real = getattr(pipeline, step)
    seen = []

    def fail_on_second_file(*args, **kwargs):
        seen.append(1)
        if len(seen) == 2:
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, step, fail_on_second_file)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest_paths(con, [SAMPLES / "canonical.jsonl", SAMPLES / "bad_rows.jsonl", SAMPLES / "openai_chat.jsonl"],
                     redact=True)
    assert snapshot(con) == before
    monkeypatch.undo()
    assert ingest_paths(con, [SAMPLES / "canonical.jsonl"]).accepted == 16  # and it still works


@pytest.mark.parametrize("bad, message", [
    ("missing.jsonl", "no such file"),
    ("a_directory", "is a directory"),
    ("empty.jsonl", "is empty"),
    ("prose.txt", "not in a known log format"),
    ("broken.jsonl.gz", "not a valid gzip file"),
])
def test_bad_path_fails_before_anything_is_written(con, tmp_path, bad, message):
    (tmp_path / "a_directory").mkdir()
    (tmp_path / "empty.jsonl").write_text("\n  \n")
    (tmp_path / "prose.txt").write_text("Dear diary,\ntoday the agent called three tools.\n")
    (tmp_path / "broken.jsonl.gz").write_bytes(gzip.compress(b'{"tool": "t", "seq": 1}\n')[:12])
    before = snapshot(con)
    with pytest.raises(IngestError, match=message) as err:
        ingest_paths(con, [SAMPLES / "canonical.jsonl", tmp_path / bad])
    assert "\n" not in str(err.value)
    assert snapshot(con) == before


def test_unreadable_file(con, tmp_path, monkeypatch):
    import chainmine.miner.ingest.sources as sources
    path = tmp_path / "secret.jsonl"
    path.write_text('{"tool": "t", "seq": 1}\n')
    path.chmod(0)  # enough for a normal user; root reads anyway, so access() is asked to say no
    monkeypatch.setattr(sources.os, "access", lambda p, mode: False)
    with pytest.raises(IngestError, match="permission denied"):
        ingest_paths(con, [path])


def test_file_that_breaks_midway_rolls_back_everything(con, tmp_path):
    """A JSON array that turns out to be malformed far in: DuckDB fails the read, nothing stays."""
    path = tmp_path / "bad.json"
    good = ",".join(json.dumps({"session_id": "s", "tool": "t", "seq": i}) for i in range(3000))
    path.write_text("[" + good + ", {broken")
    before = snapshot(con)
    with pytest.raises(IngestError, match="cannot read"):
        ingest_paths(con, [SAMPLES / "canonical.jsonl", path])
    assert snapshot(con) == before


@pytest.mark.parametrize("option, value", [("format", "xml"), ("session_gap_s", 0), ("session_gap_s", "soon")])
def test_bad_options(con, option, value):
    with pytest.raises(IngestError):
        ingest_paths(con, [SAMPLES / "canonical.jsonl"], **{option: value})


SECRETS = {
    "email": "mia.li+travel@example.com",
    "bearer": "Bearer eyJhbGciOiJIUzI1NiJ9abcdefgh",
    "openai": "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234",
    "github": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "slack": "xoxb-123456789012-abcdefghijkl",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "card": "4111 1111 1111 1111",
}


def _redaction_log(tmp_path) -> Path:
    rows = [
        {"session_id": "r", "seq": 1, "tool": "send_email",
         "args": {"to": SECRETS["email"], "headers": {"Authorization": SECRETS["bearer"]}, "note": "plain"},
         "result": f"sent to {SECRETS['email']}"},
        {"session_id": "r", "seq": 2, "tool": "deploy",
         "args": {"keys": [SECRETS["openai"], SECRETS["github"], SECRETS["slack"], SECRETS["aws"]],
                  "cc": "MIA.LI+travel@EXAMPLE.com"},
         "result": {"charged": SECRETS["card"], "card_raw": 4111111111111111, "order": 12345,
                    "other": "ana@example.org"},
         "error": f"card {SECRETS['card']} declined for {SECRETS['email']}", "success": True},
        '{"session_id": "r", "seq": "bad", "tool": "x", "args": {"to": "' + SECRETS["email"] + '"}}',
    ]
    path = tmp_path / "secrets.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_redact_masks_secrets_before_anything_is_stored(con, tmp_path):
    r = ingest_paths(con, [_redaction_log(tmp_path)], redact=True, redact_key="k1")
    assert (r.accepted, r.rejected) == (2, 1)
    stored = " ".join(str(x) for row in con.execute("SELECT args, result, error FROM calls").fetchall() for x in row)
    stored += " ".join(x[0] for x in con.execute("SELECT raw FROM rejects").fetchall())
    for secret in list(SECRETS.values()) + ["4111111111111111", "ana@example.org", "MIA.LI"]:
        assert secret not in stored
    args2, result2 = [json.loads(x) for x in con.execute("SELECT args, result FROM calls WHERE seq = 2").fetchone()]
    assert [re.fullmatch(r"<(\w+):[0-9a-f]{8}>", k).group(1) for k in args2["keys"]] == [
        "api_key", "api_key", "api_key", "api_key"]
    assert result2["order"] == 12345  # short numbers are not card-like
    # equal secrets → equal tokens (e-mail case and card spacing do not matter); different → different
    args1 = json.loads(con.execute("SELECT args FROM calls WHERE seq = 1").fetchone()[0])
    assert args1["to"] == args2["cc"] and args1["to"].startswith("<email:")
    assert result2["charged"] == result2["card_raw"] and result2["charged"].startswith("<card:")
    assert result2["other"] != args1["to"]
    assert len(set(args2["keys"])) == 4
    assert args1["note"] == "plain" and args1["headers"]["Authorization"].startswith("<bearer:")


def test_redaction_tokens_depend_on_the_key(con, tmp_path):
    path = _redaction_log(tmp_path)
    ingest_paths(con, [path], redact=True, redact_key="k1")
    first = con.execute("SELECT args->>'to' FROM calls WHERE seq = 1").fetchone()[0]
    other = connect(tmp_path / "other.duckdb")
    ingest_paths(other, [path], redact=True, redact_key="k2")
    assert other.execute("SELECT args->>'to' FROM calls WHERE seq = 1").fetchone()[0] != first
    again = connect(tmp_path / "again.duckdb")
    ingest_paths(again, [path], redact=True, redact_key="k1")
    assert again.execute("SELECT args->>'to' FROM calls WHERE seq = 1").fetchone()[0] == first


def test_redaction_key_is_generated_once_and_kept(con, tmp_path, monkeypatch):
    monkeypatch.delenv("CHAINMINE_REDACT_KEY", raising=False)
    path = _redaction_log(tmp_path)
    first = ingest_paths(con, [path], redact=True)
    key = con.execute("SELECT value FROM meta WHERE key = ?", [META_KEY]).fetchone()[0]
    assert len(key) == 64
    second = ingest_paths(con, [path], redact=True)  # same key → same tokens → all duplicates
    assert (first.accepted, second.accepted, second.duplicates) == (2, 0, 2)


def test_without_redact_nothing_is_masked(con, tmp_path):
    ingest_paths(con, [_redaction_log(tmp_path)])
    assert SECRETS["email"] in con.execute("SELECT args::VARCHAR FROM calls WHERE seq = 1").fetchone()[0]


def test_store_records_for_runner_calls(con):
    con.execute("""CREATE TEMP TABLE executed AS SELECT * FROM (VALUES
        ('run-1', 0, 'get_user_details', '{"user_id": "u1"}', '{"reservations": ["A"]}', NULL, 12.5),
        ('run-1', 1, 'get_reservation_details', '{"reservation_id": "A"}', NULL, 'Timeout', 3000.0)
    ) v(session_id, seq, tool, args, result, error, duration_ms)""")
    assert store_records(con, "executed", source="run run-1", format="runner", origin="runner") == (2, 0)
    rows = con.execute("SELECT tool, success, error, origin, args->>'user_id' FROM calls_v ORDER BY seq").fetchall()
    assert rows == [("get_user_details", True, None, "runner", "u1"),
                    ("get_reservation_details", False, "Timeout", "runner", None)]
    assert con.execute("SELECT source, format, accepted, sessions FROM ingests").fetchall() == [
        ("run run-1", "runner", 2, 1)]
    assert store_records(con, "executed", source="run run-1", format="runner", origin="runner") == (0, 2)


def test_store_records_needs_session_and_tool(con):
    con.execute("CREATE TEMP TABLE nope AS SELECT 'x' AS tool")
    with pytest.raises(StoreError, match="session_id"):
        store_records(con, "nope", source="x", format="runner")


def test_progress_is_reported_after_each_file(con):
    seen = []
    ingest_paths(con, [SAMPLES / "otel.jsonl", SAMPLES / "anthropic.jsonl"],
                 progress=lambda path, done, total: seen.append((Path(path).name, done, total)))
    assert seen == [("otel.jsonl", 1, 2), ("anthropic.jsonl", 2, 2)]


def stored_rejects(con) -> list[tuple]:
    return con.execute("SELECT ingest_id, source, line, reason, raw FROM rejects ORDER BY ingest_id, line").fetchall()


@pytest.mark.parametrize("again", [
    {}, {"redact": True}, {"session_gap_s": 60}, {"format": "canonical"},
], ids=["as before", "redacted", "another gap", "format forced"])
def test_reingesting_reports_bad_rows_again_but_stores_them_once(con, tmp_path, again):
    path = tmp_path / "bad.jsonl"
    path.write_bytes((SAMPLES / "bad_rows.jsonl").read_bytes())
    first = ingest_paths(con, [path])
    stored = stored_rejects(con)
    second = ingest_paths(con, [path], **again)
    assert first.rejected == second.rejected == len(stored) == 14
    assert second.reject_reasons == first.reject_reasons
    assert stored_rejects(con) == stored
    assert con.execute("SELECT rejected FROM ingests ORDER BY ingest_id").fetchall() == [(14,), (14,)]
    # each ingest still lists the bad rows of what it read, under its own id and path
    listed = list_rejects(con, 100, ingest_ids=second.ingest_ids)
    assert [(r["ingest_id"], r["source"], r["line"]) for r in listed] == [(2, str(path), s[2]) for s in stored]


def test_the_same_bad_rows_under_another_name_or_twice_in_one_call_are_stored_once(con, tmp_path):
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes((SAMPLES / "bad_rows.jsonl").read_bytes())
    r = ingest_paths(con, [SAMPLES / "bad_rows.jsonl", copy, copy])
    assert r.rejected == 3 * 14 and sum(r.reject_reasons.values()) == 3 * 14
    assert len(stored_rejects(con)) == 14
    assert {x["source"] for x in list_rejects(con, 100, ingest_ids=r.ingest_ids[1:])} == {str(copy)}


def test_a_changed_file_stores_its_bad_rows(con, tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = (SAMPLES / "bad_rows.jsonl").read_text().splitlines(keepends=True)
    path.write_text("".join(lines))
    ingest_paths(con, [path])
    path.write_text("".join(lines[:2] + lines[3:]))  # one bad row fixed... by removing it
    second = ingest_paths(con, [path])
    assert second.rejected == 13
    assert len(list_rejects(con, 100, ingest_ids=second.ingest_ids)) == 13
    assert len(stored_rejects(con)) == 14 + 13
