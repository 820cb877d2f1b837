"""The DuckDB store: schema, read-only opening, transactions and the lock message."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from chainmine.miner.errors import StoreError, StoreLockedError
from chainmine.miner.store import call_count, connect, ensure_tools, transaction


def test_schema_is_created_once_and_reopened(tmp_path):
    db = tmp_path / "x.duckdb"
    con = connect(db)
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"calls", "tools", "ingests", "rejects", "runs", "run_steps", "calls_v", "sessions"} <= tables
    con.close()
    con = connect(db, read_only=True)
    assert call_count(con) == 0


def test_read_only_on_a_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(StoreError, match="run `chainmine ingest`"):
        connect(tmp_path / "missing.duckdb", read_only=True)


def test_a_file_that_is_not_a_database_is_reported(tmp_path):
    bad = tmp_path / "bad.duckdb"
    bad.write_text("not a database")
    with pytest.raises(StoreError, match="cannot open database"):
        connect(bad)


def test_transaction_rolls_back_everything_on_error(tmp_path):
    con = connect(tmp_path / "x.duckdb")
    with pytest.raises(RuntimeError):
        with transaction(con):
            con.execute("INSERT INTO tools VALUES (1, 'a')")
            raise RuntimeError("crash mid-way")
    assert con.execute("SELECT count(*) FROM tools").fetchone()[0] == 0


def test_tool_dictionary_assigns_stable_ids(tmp_path):
    con = connect(tmp_path / "x.duckdb")
    con.execute("CREATE TEMP TABLE s AS SELECT * FROM (VALUES ('b'), ('a'), ('b')) t(tool)")
    ensure_tools(con, "s")
    con.execute("CREATE TEMP TABLE s2 AS SELECT * FROM (VALUES ('c'), ('a')) t(tool)")
    ensure_tools(con, "s2")
    assert con.execute("SELECT tool, tool_id FROM tools ORDER BY tool_id").fetchall() == [("a", 1), ("b", 2), ("c", 3)]


def test_lock_held_by_another_process_is_one_clear_line(tmp_path):
    db = tmp_path / "locked.duckdb"
    connect(db).close()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, duckdb
        con = duckdb.connect({str(db)!r})
        print("ready", flush=True)
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLockedError) as info:
            connect(db)
        message = str(info.value)
        assert f"process {holder.pid}" in message and "\n" not in message
        assert "--db" in message
        with pytest.raises(StoreLockedError):
            connect(db, read_only=True)
    finally:
        holder.communicate("\n", timeout=30)
