"""A big file is read a slice of lines at a time: the result must not depend on where slices end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import chainmine.miner.ingest.chunks as chunks
import chainmine.miner.ingest.slicing as slicing
from chainmine.miner.errors import IngestError
from chainmine.miner.ingest import ingest_paths
from chainmine.miner.store import connect

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
WHOLE = 1_000_000


def ingest_with_slices(tmp_path, monkeypatch, rows: int, paths, **kw) -> dict:
    """Ingest into a fresh store with ``rows`` lines per slice; everything a user can see afterwards.

    JSON Lines files are then cut into chunks of about ``rows`` lines, however small the file.
    """
    monkeypatch.setattr(slicing, "SLICE_ROWS", rows)
    monkeypatch.setattr(chunks, "MIN_CHUNK_BYTES", 1 if rows < WHOLE else chunks.MIN_CHUNK_BYTES)
    con = connect(tmp_path / f"slices{rows}.duckdb")
    try:
        report = ingest_paths(con, paths, **kw).to_dict()
        for f in report["files"]:
            f.pop("path")
        return {
            "report": report,
            "calls": sorted(con.execute("""SELECT id, session_id, ts, seq, tool, success, error, duration_ms, cost,
                                                  args::VARCHAR, result::VARCHAR, call_id, agent, "user",
                                                  session_outcome, ingest_id, line FROM calls_v""").fetchall(), key=repr),
            "rejects": con.execute("SELECT ingest_id, line, reason, raw FROM rejects ORDER BY rowid").fetchall(),
            "ingests": con.execute("SELECT accepted, rejected, duplicates, sessions FROM ingests ORDER BY 1").fetchall(),
        }
    finally:
        con.close()


def write_log(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("sample", ["canonical.jsonl", "aliases.jsonl", "bad_rows.jsonl", "canonical.csv",
                                    "canonical.parquet", "openai_chat.jsonl", "anthropic.jsonl", "otel.jsonl",
                                    "openai_responses.json"])
@pytest.mark.parametrize("rows", [1, 3])
def test_samples_give_the_same_store_whatever_the_slice_size(tmp_path, monkeypatch, sample, rows):
    whole = ingest_with_slices(tmp_path, monkeypatch, WHOLE, [SAMPLES / sample])
    sliced = ingest_with_slices(tmp_path, monkeypatch, rows, [SAMPLES / sample])
    assert sliced == whole
    assert whole["report"]["accepted"] + whole["report"]["rejected"] > 0


def test_sessions_are_cut_across_slice_boundaries(tmp_path, monkeypatch):
    """Rows without a session id are cut by idle gaps over the whole file, not per slice."""
    rows = [{"tool": "t", "agent": a, "ts": f"2024-05-01T10:{m:02d}:00Z"}
            for a, m in [("a", 0), ("b", 1), ("a", 5), ("a", 10), ("b", 59), ("a", 50)]]
    rows.insert(3, {"tool": "t", "session_id": "given", "seq": 1})
    path = write_log(tmp_path / "day.jsonl", rows)
    whole = ingest_with_slices(tmp_path, monkeypatch, WHOLE, [path])
    sliced = ingest_with_slices(tmp_path, monkeypatch, 2, [path])
    assert sliced == whole
    sessions = sorted({re.sub(r"^day:[0-9a-f]{12}:", "day:", c[1]) for c in sliced["calls"]})
    assert sessions == ["day:a:1", "day:a:2", "day:b:1", "day:b:2", "given"]


def test_a_repeat_in_a_later_slice_is_a_duplicate_and_the_first_line_wins(tmp_path, monkeypatch):
    a = {"session_id": "s", "tool": "t", "seq": 1}
    path = write_log(tmp_path / "rep.jsonl", [a, {**a, "seq": 2}, "not json", {**a, "seq": 3}, a, a])
    sliced = ingest_with_slices(tmp_path, monkeypatch, 2, [path])
    assert (sliced["report"]["accepted"], sliced["report"]["duplicates"], sliced["report"]["rejected"]) == (3, 2, 1)
    assert [c[-1] for c in sliced["calls"] if c[3] == 1] == [1]
    assert sliced == ingest_with_slices(tmp_path, monkeypatch, WHOLE, [path])


def test_reingesting_a_sliced_file_adds_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(slicing, "SLICE_ROWS", 2)
    monkeypatch.setattr(chunks, "MIN_CHUNK_BYTES", 1)
    con = connect(tmp_path / "again.duckdb")
    first = ingest_paths(con, [SAMPLES / "canonical.jsonl", SAMPLES / "canonical.parquet"])
    again = ingest_paths(con, [SAMPLES / "canonical.jsonl"])
    assert (first.accepted, first.duplicates) == (16, 16)
    assert (again.accepted, again.duplicates) == (0, 16)
    con.close()


def test_unreadable_lines_and_malformed_csv_rows_keep_their_lines(tmp_path, monkeypatch):
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_bytes(b'{"tool": "a", "seq": 1}\n\xff\xfe\n\n{"tool": "b", "seq": 2}\nnope\n{"tool": "c", "seq": 3}\n')
    csv = tmp_path / "c.csv"
    csv.write_text("session_id,tool,seq\ns1,a,1\ns1,b\ns1,c,3,extra\ns1,d,4\ns1,e,5\n")
    whole = ingest_with_slices(tmp_path, monkeypatch, WHOLE, [jsonl, csv])
    sliced = ingest_with_slices(tmp_path, monkeypatch, 1, [jsonl, csv])
    assert sliced == whole
    assert [(r[1], r[2].split(":")[0]) for r in sliced["rejects"]] == [
        (2, "unreadable line"), (5, "invalid JSON"), (3, "malformed CSV row"), (4, "malformed CSV row")]


def test_redaction_is_the_same_in_every_slice(tmp_path, monkeypatch):
    rows = [{"session_id": "s" if i % 2 else None, "tool": "mail", "seq": i, "ts": f"2024-05-01T10:0{i}:00Z",
             "args": {"to": "ana@example.org"}, "error": "card 4111 1111 1111 1111 declined"} for i in range(5)]
    path = write_log(tmp_path / "secrets.jsonl", rows + ['{"tool": "x", "seq": "bad", "note": "ana@example.org"}'])
    whole = ingest_with_slices(tmp_path, monkeypatch, WHOLE, [path], redact=True, redact_key="k")
    sliced = ingest_with_slices(tmp_path, monkeypatch, 2, [path], redact=True, redact_key="k")
    assert sliced == whole
    assert "ana@" not in repr(sliced) and "4111" not in repr(sliced)


def test_a_table_the_reader_cannot_plan_fails_with_one_line_and_changes_nothing(tmp_path):
    import duckdb
    path = tmp_path / "clash.parquet"
    duckdb.sql(f"COPY (SELECT 't' AS tool, 1 AS seq, 5 AS file_row_number) TO '{path}' (FORMAT parquet)")
    con = connect(tmp_path / "t.duckdb")
    with pytest.raises(IngestError, match="cannot read") as err:
        ingest_paths(con, [SAMPLES / "canonical.jsonl", path])
    assert "\n" not in str(err.value)
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 0
    con.close()
