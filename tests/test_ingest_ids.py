"""Content-hash ids: collisions never drop a call, ids follow the engine's hash, old stores upgrade."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import chainmine.miner.ingest.writer as writer
from chainmine.miner.chains.events import EVENTS, STORED_REF, refresh_events
from chainmine.miner.ingest import ingest_paths, store_records
from chainmine.miner.ingest.ids import META_ENGINE, META_HASH, call_id_sql, ensure_id_scheme, fingerprint
from chainmine.miner.store import connect, transaction

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


def _day(agent_rows: list[tuple[str, int, str]]) -> list[dict]:
    """Session-less calls: (agent, minute, tool) on one morning."""
    return [{"tool": tool, "agent": agent, "ts": f"2024-05-01T10:{m:02d}:00Z", "args": {"m": m}}
            for agent, m, tool in agent_rows]


def _chats(tools: list[str]) -> list[dict]:
    """OpenAI conversations without an id, one tool call each."""
    return [{"messages": [{"role": "assistant", "tool_calls": [
        {"id": "k", "type": "function", "function": {"name": tool, "arguments": "{}"}}]}]} for tool in tools]


def sessions_by_ingest(con) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for ingest_id, session in con.execute("SELECT DISTINCT ingest_id, session_id FROM calls").fetchall():
        out.setdefault(ingest_id, set()).add(session)
    return out


SOURCES = {
    # name: (first file, second file, rows of the first, rows of the second)
    "same name in two folders": ("a/day.jsonl", "b/day.jsonl", _day([("bot", 0, "x"), ("bot", 5, "y")]),
                                 _day([("bot", 1, "z"), ("bot", 6, "y")])),
    "id-less conversations": ("a/chat.jsonl", "b/chat.jsonl", _chats(["x", "y"]), _chats(["z", "y"])),
    "two stdin ingests": ("-", "-", _day([("bot", 0, "x")]), _day([("bot", 2, "z")])),
    "same name, no agent": ("a/calls.jsonl", "b/calls.jsonl", [{"tool": "x", "seq": 1}],
                            [{"tool": "z", "seq": 1}]),
}


@pytest.mark.parametrize("first, second, rows_a, rows_b", SOURCES.values(), ids=SOURCES.keys())
def test_derived_sessions_of_different_sources_never_merge(con, tmp_path, first, second, rows_a, rows_b):
    def ingest(name, rows):
        text = "".join(json.dumps(r) + "\n" for r in rows)
        if name == "-":
            import io
            return ingest_paths(con, ["-"], stdin=io.BytesIO(text.encode()))
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return ingest_paths(con, [path])

    a, b = ingest(first, rows_a), ingest(second, rows_b)
    assert (a.accepted, b.accepted, b.duplicates) == (len(rows_a), len(rows_b), 0)
    got = sessions_by_ingest(con)
    assert got[1].isdisjoint(got[2])
    stem = "stdin" if first == "-" else Path(first).stem
    assert all(s.startswith(stem + ":") for s in got[1] | got[2])  # readable: the file's name first
    again = ingest(first, rows_a)  # the same bytes again: the same ids, nothing new
    assert (again.accepted, again.duplicates) == (0, len(rows_a))


@pytest.mark.parametrize("rows", [_day([("bot", 0, "x"), ("bot", 5, "y"), ("bot", 50, "x")]),
                                  _chats(["x", "y", "x"])], ids=["cut at gaps", "conversations"])
def test_derived_session_ids_depend_on_the_content_not_the_name(con, tmp_path, rows):
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "log.jsonl").write_text(text)
    (tmp_path / "log.jsonl").write_text(text)
    (tmp_path / "copy.jsonl").write_text(text)
    first = ingest_paths(con, [tmp_path / "a" / "log.jsonl"])
    ids = con.execute("SELECT line, session_id FROM calls ORDER BY line").fetchall()
    # the same bytes under the same name elsewhere, or under another name: nothing new
    assert ingest_paths(con, [tmp_path / "log.jsonl", tmp_path / "copy.jsonl"]).duplicates == 2 * first.accepted
    assert con.execute("SELECT line, session_id FROM calls ORDER BY line").fetchall() == ids
    other = connect(tmp_path / "other.duckdb")
    ingest_paths(other, [tmp_path / "log.jsonl"])
    assert other.execute("SELECT line, session_id FROM calls ORDER BY line").fetchall() == ids
    other.close()


SESSIONLESS = _day([("bot", 0, "send"), ("bot", 20, "send"), ("bot", 50, "read"), ("ops", 3, "send")])
for _r in SESSIONLESS:
    _r["args"] = {"to": "ana@example.org", "m": _r["args"]["m"]}


@pytest.mark.parametrize("first, second", [
    ({}, {"session_gap_s": 60}), ({"session_gap_s": 60}, {"session_gap_s": 7200}),
    ({}, {"redact": True}), ({"redact": True}, {}), ({"redact": True, "session_gap_s": 60}, {}),
], ids=["gap then another gap", "small gap then large", "plain then redacted", "redacted then plain",
        "redacted, small gap, then plain"])
@pytest.mark.parametrize("session", [False, True], ids=["derived sessions", "given sessions"])
def test_reingest_with_other_options_stores_nothing(con, tmp_path, monkeypatch, first, second, session):
    monkeypatch.delenv("CHAINMINE_REDACT_KEY", raising=False)  # the store's own key
    rows = [{**r, "session_id": "s"} if session else r for r in SESSIONLESS]
    path = write_log(tmp_path / "day.jsonl", rows + ['{"tool": "x", "seq": "bad", "to": "ana@example.org"}'])
    a = ingest_paths(con, [path], **first)
    stored = con.execute("SELECT id, session_id, args::VARCHAR FROM calls ORDER BY line").fetchall()
    b = ingest_paths(con, [path], **second)
    assert (a.accepted, b.accepted, b.duplicates, b.rejected) == (len(rows), 0, len(rows), 1)
    assert con.execute("SELECT id, session_id, args::VARCHAR FROM calls ORDER BY line").fetchall() == stored
    assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 1
    if first.get("redact"):
        assert "ana@" not in repr(stored)


def test_a_key_of_your_own_keeps_ids_of_masked_calls_free_of_the_secret(con, tmp_path):
    """With a private key the tokens cannot be guessed, so the id must not hash the unmasked content."""
    path = write_log(tmp_path / "day.jsonl", [{**r, "session_id": "s"} for r in SESSIONLESS])
    ingest_paths(con, [path], redact=True, redact_key="private")
    assert con.execute("SELECT count(*) FROM calls WHERE unmasked_id").fetchone()[0] == 0
    assert con.execute(f"SELECT bool_and(id = {call_id_sql()}) FROM calls_v").fetchone()[0]
    again = ingest_paths(con, [path], redact=True, redact_key="private")
    assert (again.accepted, again.duplicates) == (0, len(SESSIONLESS))


def test_ids_of_calls_masked_with_the_store_key_survive_a_rehash(con, tmp_path, monkeypatch):
    monkeypatch.delenv("CHAINMINE_REDACT_KEY", raising=False)
    path = write_log(tmp_path / "day.jsonl", SESSIONLESS + [{"tool": "plain", "agent": "bot", "seq": 9}])
    ingest_paths(con, [path], redact=True)
    assert con.execute("SELECT count(*) FILTER (WHERE unmasked_id), count(*) FROM calls").fetchone() == (4, 5)
    ids = con.execute("SELECT id FROM calls ORDER BY line").fetchall()
    con.execute("UPDATE meta SET value = 'made by another engine' WHERE key = ?", [META_HASH])
    assert ensure_id_scheme(con) == 1  # the content of the masked ones is gone: their ids are kept
    assert con.execute("SELECT id FROM calls ORDER BY line").fetchall() == ids
    assert ingest_paths(con, [path]).duplicates == 5


def test_derived_ids_are_recomputed_from_the_stored_columns(con, tmp_path):
    path = write_log(tmp_path / "day.jsonl", SESSIONLESS)
    ingest_paths(con, [path, SAMPLES / "openai_chat.jsonl"])
    derived = con.execute("SELECT count(*) FROM calls WHERE session_source IS NOT NULL").fetchone()[0]
    assert derived == len(SESSIONLESS) + 2  # and the two calls of the conversation without an id
    good = con.execute("SELECT id FROM calls ORDER BY rowid").fetchall()
    con.execute("UPDATE calls SET id = 0")
    con.execute("UPDATE meta SET value = 'old' WHERE key = ?", [META_HASH])
    assert ensure_id_scheme(con) == len(good)
    assert con.execute("SELECT id FROM calls ORDER BY rowid").fetchall() == good
