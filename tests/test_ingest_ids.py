"""Content-hash ids: collisions never drop a call, ids follow the engine's hash, old stores upgrade."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import miner.ingest.writer as writer
from miner.chains.events import EVENTS, STORED_REF, refresh_events
from miner.ingest import ingest_paths, store_records
from miner.ingest.ids import META_ENGINE, META_HASH, call_id_sql, ensure_id_scheme, fingerprint
from miner.store import connect, transaction

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "t.duckdb")
    yield c
    c.close()


def write_log(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def calls_of(con) -> list[tuple]:
    return con.execute("SELECT session_id, seq, tool, args::VARCHAR, line FROM calls_v "
                       "ORDER BY session_id, seq, line").fetchall()


ROWS = [{"session_id": "s1", "seq": 1, "tool": "get_user", "args": {"id": 1}},
        {"session_id": "s1", "seq": 2, "tool": "get_order", "args": {"id": 9}},
        {"session_id": "s2", "seq": 1, "tool": "get_user", "args": {"id": 2}},
        {"session_id": "s2", "seq": 2, "tool": "get_user", "args": None, "result": "Error: gone"}]

COLLIDING = {
    "every id equal": lambda alias="", tool=None: "0::UHUGEINT",
    "ids by tool only": lambda alias="", tool=None: f"hash({tool or alias + 'tool'})::UHUGEINT",
}


@pytest.mark.parametrize("collide", COLLIDING.values(), ids=COLLIDING.keys())
def test_colliding_ids_never_drop_a_distinct_call(con, tmp_path, monkeypatch, collide):
    monkeypatch.setattr(writer, "call_id_sql", collide)
    log = write_log(tmp_path / "a.jsonl", ROWS + [ROWS[1]])  # one exact repeat, on line 5
    first = ingest_paths(con, [log])
    assert (first.accepted, first.duplicates) == (4, 1)
    assert [r[4] for r in calls_of(con)] == [1, 2, 3, 4]  # the first copy of the repeat is kept
    again = ingest_paths(con, [log])
    assert (again.accepted, again.duplicates) == (0, 5)
    changed = write_log(tmp_path / "b.jsonl", ROWS[:3] + [{**ROWS[3], "seq": 3}])
    third = ingest_paths(con, [changed])
    assert (third.accepted, third.duplicates) == (1, 3)
    assert len(calls_of(con)) == 5


@pytest.mark.parametrize("collide", COLLIDING.values(), ids=COLLIDING.keys())
def test_colliding_ids_in_store_records(con, monkeypatch, collide):
    monkeypatch.setattr(writer, "call_id_sql", collide)
    con.execute("""CREATE TEMP TABLE ran AS SELECT * FROM (VALUES ('r1', 1, 'a', '{"x": 1}'), ('r1', 2, 'a', '{"x": 1}'),
                   ('r1', 1, 'a', '{"x": 1}'), ('r1', 1, 'b', NULL)) v(session_id, seq, tool, args)""")
    assert store_records(con, "ran", source="run r1", format="runner") == (3, 1)
    assert store_records(con, "ran", source="run r1", format="runner") == (0, 4)


@pytest.mark.parametrize("sample, redact", [
    ("canonical.jsonl", False), ("canonical.parquet", False), ("canonical.csv", False), ("aliases.jsonl", False),
    ("openai_chat.jsonl", False), ("otel.jsonl", False), ("canonical.jsonl", True), ("sessionless", False),
    ("sessionless", True), ("secrets", True),
])
def test_ids_are_the_content_hash_of_the_stored_row(con, tmp_path, sample, redact):
    """Ids hashed while normalising must equal the hash of what is finally stored (cut sessions, redaction)."""
    path = SAMPLES / sample
    if sample in ("sessionless", "secrets"):
        session = {"session_id": "s1"} if sample == "secrets" else {}
        path = write_log(tmp_path / "day.jsonl", [
            {**session, "tool": "send", "agent": "a", "ts": f"2024-05-01T10:{m:02d}:00Z",
             "args": {"to": "ana@example.org"}} for m in (0, 5, 50)])
    stored = ingest_paths(con, [path], redact=redact, redact_key="k").accepted
    recomputed = con.execute(f"SELECT count(*) FROM calls_v WHERE id = {call_id_sql()}").fetchone()[0]
    assert recomputed == con.execute("SELECT count(*) FROM calls").fetchone()[0] == stored > 0
    if redact and sample in ("sessionless", "secrets"):
        assert "ana@" not in str(con.execute("SELECT list(args) FROM calls").fetchone()[0])


def test_engine_and_fingerprint_are_recorded(con):
    ingest_paths(con, [SAMPLES / "otel.jsonl"])
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    assert meta[META_ENGINE] == duckdb.__version__
    assert meta[META_HASH] == fingerprint(con)


@pytest.mark.parametrize("stored_fingerprint", ["made by another engine", None])
def test_ids_from_another_hash_are_recomputed_so_reingest_adds_nothing(con, stored_fingerprint):
    """An engine upgrade that hashes differently (or a store from the md5 scheme) must not duplicate calls."""
    first = ingest_paths(con, [SAMPLES / "canonical.jsonl", SAMPLES / "anthropic.jsonl"])
    good = con.execute("SELECT id FROM calls ORDER BY rowid").fetchall()
    # Simulate a store written by a different hash function, events built on its ids.
    con.execute("UPDATE calls SET id = md5_number(session_id || ':' || coalesce(seq, 0) || ':' || line)")
    refresh_events(con, "(SELECT session_id FROM calls)")
    if stored_fingerprint is None:
        con.execute("DELETE FROM meta WHERE key IN (?, ?)", [META_HASH, META_ENGINE])
    else:
        con.execute("UPDATE meta SET value = ? WHERE key = ?", [stored_fingerprint, META_HASH])
    again = ingest_paths(con, [SAMPLES / "canonical.jsonl", SAMPLES / "anthropic.jsonl"])
    assert (again.accepted, again.duplicates) == (0, first.accepted + first.duplicates)
    assert con.execute("SELECT id FROM calls ORDER BY rowid").fetchall() == good
    assert con.execute("SELECT value FROM meta WHERE key = ?", [META_HASH]).fetchone()[0] == fingerprint(con)
    # The miner's stored events refer to calls by id: each must still find its call.
    dangling = con.execute(f"SELECT count(*) FROM {EVENTS} e WHERE NOT EXISTS "
                           f"(SELECT 1 FROM calls WHERE {STORED_REF} = e.rid)").fetchone()[0]
    assert con.execute(f"SELECT count(*) FROM {EVENTS}").fetchone()[0] > 0 and dangling == 0


def test_rehash_is_part_of_the_ingest_transaction(con, tmp_path):
    ingest_paths(con, [SAMPLES / "canonical.jsonl"])
    con.execute("UPDATE meta SET value = 'old' WHERE key = ?", [META_HASH])
    con.execute("UPDATE calls SET id = 1")
    with pytest.raises(RuntimeError):
        with transaction(con):
            assert ensure_id_scheme(con) == 16
            raise RuntimeError("crash after the rehash")
    assert con.execute("SELECT DISTINCT id FROM calls").fetchall() == [(1,)]
    assert con.execute("SELECT value FROM meta WHERE key = ?", [META_HASH]).fetchone()[0] == "old"


def test_matching_fingerprint_leaves_ids_alone(con):
    ingest_paths(con, [SAMPLES / "canonical.jsonl"])
    con.execute("UPDATE calls SET id = 1")  # ids are trusted while the engine hashes as before
    assert ensure_id_scheme(con) == 0
    assert con.execute("SELECT DISTINCT id FROM calls").fetchall() == [(1,)]
