"""The stored event table: kept in step by every ingest, used by mine only when it is fresh."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from chainmine.miner.chains import MiningParams, find_chains
from chainmine.miner.chains.events import EVENTS, build_sql, prepare_events, refresh_events
from chainmine.miner.cli import cli
from chainmine.miner.ingest import ingest_paths
from chainmine.miner.store import connect, transaction

BASE = datetime(2026, 3, 1, 9, 0, 0)
WORKFLOW = ["find_user", "get_orders", "get_orders", "ship_order"]


def write_log(path, sessions, *, start=0, minutes=0):
    """JSON Lines of ``sessions`` (lists of tool names); ids ``s{start + i}``, calls one second apart."""
    with open(path, "w") as fh:
        for i, tools in enumerate(sessions):
            for k, tool in enumerate(tools):
                user = f"u{start + i}"
                fh.write(json.dumps({
                    "session_id": f"s{start + i}", "tool": tool,
                    "ts": (BASE + timedelta(hours=start + i, minutes=minutes, seconds=k)).isoformat(),
                    "args": {"user": user, "order": f"o{k}"} if tool != "find_user" else {"user": user},
                    "result": {"user": user, "order": f"o{k + 1}"}, "success": True}) + "\n")
    return path


def noisy_sessions(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        tools = list(WORKFLOW)
        if rng.random() < 0.5:
            tools.insert(rng.randrange(1, len(tools)), f"note{rng.randrange(3)}")
        out.append(tools + [f"extra{rng.randrange(4)}"] * rng.randrange(2))
    return out


def ingest(db, *logs):
    con = connect(db)
    try:
        ingest_paths(con, list(logs))
    finally:
        con.close()


def events_of(con, relation):
    return sorted(con.execute(f"SELECT sid, spos, epos, t, ok, n, cost, st, et, dur FROM {relation}").fetchall())


def rebuilt(con):
    """The events a temporary build gives for the same calls."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE fresh AS {build_sql()}")
    return events_of(con, "fresh")


def mined(db, **params):
    con = connect(db, read_only=True)
    try:
        search = find_chains(con, MiningParams(**params))
        stored = search.summary.stored
        chains = [(c.tools, c.frequency, c.sessions, round(c.success_rate, 6), c.avg_calls) for c in search.chains]
        search.close()
        return stored, chains
    finally:
        con.close()


def drop_events(db):
    con = connect(db)
    con.execute(f"DROP TABLE {EVENTS}")
    con.close()


def test_an_ingest_stores_the_events_of_every_call(tmp_path):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(30, 1)))
    con = connect(db, read_only=True)
    calls = con.execute("SELECT count(*) FROM calls").fetchone()[0]
    assert con.execute(f"SELECT sum(n) FROM {EVENTS}").fetchone()[0] == calls
    assert events_of(con, EVENTS) == rebuilt(con)
    assert prepare_events(con).stored
    con.close()


@pytest.mark.parametrize("gap", [0, 1, 2])
def test_mining_the_stored_events_matches_building_them(tmp_path, gap):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(40, gap)))
    stored, chains = mined(db, max_gap=gap)
    drop_events(db)
    built, again = mined(db, max_gap=gap)
    assert (stored, built) == (True, False)
    assert chains and chains == again


def test_a_later_ingest_into_known_sessions_rebuilds_them_in_call_order(tmp_path):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(20, 2)))
    # Same sessions, calls timed between the first ones: they interleave.
    ingest(db, write_log(tmp_path / "b.jsonl", [["get_orders", "audit"]] * 20, minutes=0))
    con = connect(db, read_only=True)
    assert events_of(con, EVENTS) == rebuilt(con)
    assert prepare_events(con).stored
    con.close()


def test_calls_added_by_hand_make_mine_build_the_events(tmp_path):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(20, 3)))
    con = connect(db)
    con.execute("INSERT INTO calls (id, session_id, seq, tool_id, success) "
                "SELECT 99000 + i, 'hand', i, 1, true FROM range(3) r(i)")
    con.close()
    con = connect(db, read_only=True)
    summary = prepare_events(con)
    assert not summary.stored
    assert summary.calls == con.execute("SELECT count(*) FROM calls").fetchone()[0]
    assert events_of(con, "_cm_ev") == rebuilt(con)
    con.close()


def test_an_ingest_into_an_older_database_covers_every_call(tmp_path):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(15, 4)))
    drop_events(db)  # as if written before the table existed
    ingest(db, write_log(tmp_path / "b.jsonl", noisy_sessions(5, 5), start=100))
    con = connect(db, read_only=True)
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == \
        con.execute(f"SELECT sum(n) FROM {EVENTS}").fetchone()[0]
    assert events_of(con, EVENTS) == rebuilt(con)
    con.close()


def test_events_out_of_order_are_not_trusted(tmp_path):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(10, 6)))
    con = connect(db)
    with transaction(con):
        # Move the first session's events to the end, last event first.
        con.execute(f"CREATE TEMP TABLE moved AS SELECT * FROM {EVENTS} WHERE sid = (SELECT min(sid) FROM {EVENTS})")
        con.execute(f"DELETE FROM {EVENTS} WHERE sid IN (SELECT sid FROM moved)")
        con.execute(f"INSERT INTO {EVENTS} SELECT * FROM moved ORDER BY spos DESC")
    con.close()
    con = connect(db, read_only=True)
    assert not prepare_events(con).stored
    con.close()


def test_refresh_with_no_sessions_changes_nothing_when_fresh(tmp_path):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(10, 7)))
    con = connect(db)
    before = events_of(con, EVENTS)
    assert refresh_events(con, "(SELECT NULL::VARCHAR AS session_id WHERE false)")
    assert events_of(con, EVENTS) == before
    con.close()


def test_mine_cli_gives_the_same_workflows_with_and_without_stored_events(tmp_path):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(40, 8)))
    runner = CliRunner()
    first = runner.invoke(cli, ["mine", "--db", str(db), "--json", "--quiet"])
    drop_events(db)
    second = runner.invoke(cli, ["mine", "--db", str(db), "--json", "--quiet"])
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    workflows = json.loads(first.output)
    assert workflows and workflows == json.loads(second.output)
    assert workflows[0]["steps"][0]["tool_name"] == "find_user"


def test_stored_events_refer_to_their_calls_by_rowid(tmp_path):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(25, 9)))
    con = connect(db, read_only=True)
    # Every call of every event, by rowid, is a call of that session and tool.
    mismatched = con.execute(f"""
        WITH refs AS (SELECT sid, t, unnest(coalesce(rids, [rid])) AS r FROM {EVENTS})
        SELECT count(*) FROM refs JOIN calls c ON c.rowid = refs.r
        WHERE hash(c.session_id) <> refs.sid OR c.tool_id <> refs.t""").fetchone()[0]
    referenced = con.execute(f"SELECT sum(coalesce(len(rids), 1)) FROM {EVENTS}").fetchone()[0]
    assert mismatched == 0 and referenced == con.execute("SELECT count(*) FROM calls").fetchone()[0]
    con.close()


def test_refreshing_inside_the_transaction_that_stored_the_calls_is_refused(tmp_path):
    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(5, 10)))
    con = connect(db)
    before = events_of(con, EVENTS)
    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO calls (id, session_id, seq, tool_id, success) VALUES (4242, 'late', 1, 1, true)")
    from chainmine.miner.errors import StoreError
    with pytest.raises(StoreError, match="after the calls are committed"):
        refresh_events(con, "(SELECT 'late' AS session_id)")
    con.execute("ROLLBACK")
    assert events_of(con, EVENTS) == before
    con.close()


def test_an_ingest_whose_event_refresh_fails_still_stores_its_calls(tmp_path, monkeypatch):
    """The events are the miner's cache: losing the refresh costs the next mine time, not the ingest."""
    import chainmine.miner.chains.events as ev

    db = tmp_path / "t.duckdb"
    ingest(db, write_log(tmp_path / "a.jsonl", noisy_sessions(30, 11)))
    stored, chains = mined(db)

    def broken(*args, **kwargs):
        raise __import__("duckdb").IOException("disk full")

    monkeypatch.setattr(ev, "refresh_events", broken)
    ingest(db, write_log(tmp_path / "b.jsonl", noisy_sessions(30, 12), start=100))
    monkeypatch.undo()
    con = connect(db, read_only=True)
    assert con.execute("SELECT count(DISTINCT session_id) FROM calls").fetchone()[0] == 60
    assert not prepare_events(con).stored
    con.close()
    built, again = mined(db)
    # Refreshing by hand afterwards gives the stored table the same content and the same chains.
    con = connect(db)
    assert refresh_events(con, "(SELECT session_id FROM calls)")
    assert events_of(con, EVENTS) == rebuilt(con)
    con.close()
    stored_again, chains_again = mined(db)
    assert (stored, built, stored_again) == (True, False, True)
    assert again == chains_again and again != chains


def test_events_are_not_trusted_after_a_checkpoint_renumbers_the_calls(tmp_path):
    """Deleting calls by hand lets a checkpoint compact row groups, which renumbers rowids."""
    db = tmp_path / "t.duckdb"
    con = connect(db)
    con.execute("INSERT INTO tools VALUES (1, 'a'), (2, 'b')")
    con.execute("""INSERT INTO calls (id, session_id, seq, tool_id, success, ingest_id)
                   SELECT i, 's' || (i // 2), i % 2, 1 + i % 2, true, CASE WHEN i < 250000 THEN 1 ELSE 2 END
                   FROM range(300000) r(i)""")
    assert refresh_events(con, "(SELECT session_id FROM calls)")
    con.execute("CHECKPOINT")
    con.execute("DELETE FROM calls WHERE ingest_id = 1 AND rowid % 10 <> 0")
    assert refresh_events(con, "(SELECT NULL::VARCHAR AS session_id WHERE false)")  # rebuilt: coverage changed
    before = con.execute("SELECT max(rowid) FROM calls").fetchone()[0]
    con.execute("CHECKPOINT")
    assert con.execute("SELECT max(rowid) FROM calls").fetchone()[0] != before, "no longer renumbered: revisit"
    con.close()
    con = connect(db, read_only=True)
    assert not prepare_events(con).stored
    dangling = con.execute("""SELECT count(*) FROM _cm_ev e LEFT JOIN calls c ON c.rowid = e.rid
                              WHERE c.rowid IS NULL OR hash(c.session_id) <> e.sid""").fetchone()[0]
    assert dangling == 0
    con.close()


@pytest.mark.parametrize("staleness", ["older layout", "interrupted refresh"])
def test_an_ingest_that_adds_nothing_mends_a_stale_event_table(tmp_path, staleness):
    db = tmp_path / "t.duckdb"
    log = write_log(tmp_path / "a.jsonl", noisy_sessions(20, 14))
    ingest(db, log)
    con = connect(db)
    if staleness == "older layout":
        con.execute("UPDATE meta SET value = '2:' || (SELECT count(*) FROM calls) WHERE key = 'events_calls'")
    else:
        con.execute(f"DELETE FROM {EVENTS} WHERE sid = (SELECT min(sid) FROM {EVENTS})")
    con.close()
    con = connect(db, read_only=True)
    assert not prepare_events(con).stored
    con.close()
    ingest(db, log)  # every call already stored
    con = connect(db, read_only=True)
    assert prepare_events(con).stored and events_of(con, EVENTS) == rebuilt(con)
    con.close()
