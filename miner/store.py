"""The DuckDB store: schema, connections, locking and transactions.

Tables
------
``tools``    dictionary of tool names (``tool_id`` → ``tool``); calls store the integer.
``calls``    one row per tool call, ``id`` is a content hash (re-ingest adds nothing; see
           :mod:`chainmine.miner.ingest.ids` for ``session_source`` and ``unmasked_id``);
           ``args``/``result`` are zstd-compressed (half the write cost and size of the default).
``ingests``  one row per ingested source with its counts.
``rejects``  every bad input row with its source, line, raw text and reason, stored once per
           ``rejects_digest`` (the source's content; ``ingests.rejects_digest`` links each ingest).
``runs`` / ``run_steps``  workflow runs recorded by the runner; their calls are in ``calls``
           with ``origin = 'run'`` (logged calls have ``'log'``, see :mod:`chainmine.miner.origins`).
Views: ``calls_v`` (calls with tool names), ``sessions``.

The order of calls inside a session is ``ORDER_BY`` below: start time, then
``seq``, then ingest and line, so ties on ``ts`` keep file order.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from pathlib import Path
from typing import Iterator

import duckdb

from chainmine.miner.errors import StoreError, StoreLockedError
from chainmine.miner.origins import migrate_run_origin

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_DB = "chainmine.duckdb"
ORDER_BY = "ts NULLS LAST, seq NULLS LAST, ingest_id, line"
"""SQL ordering of calls inside one session."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS tools (tool_id INTEGER PRIMARY KEY, tool VARCHAR NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS ingests (
    ingest_id INTEGER PRIMARY KEY,
    source VARCHAR NOT NULL,
    format VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    accepted BIGINT DEFAULT 0,
    rejected BIGINT DEFAULT 0,
    duplicates BIGINT DEFAULT 0,
    sessions BIGINT DEFAULT 0,
    options JSON
);
CREATE TABLE IF NOT EXISTS calls (
    id UHUGEINT NOT NULL,
    session_id VARCHAR NOT NULL,
    ts TIMESTAMP,
    seq BIGINT,
    tool_id INTEGER NOT NULL,
    success BOOLEAN NOT NULL,
    error VARCHAR,
    duration_ms DOUBLE,
    cost DOUBLE,
    args JSON USING COMPRESSION zstd,
    result JSON USING COMPRESSION zstd,
    call_id VARCHAR,
    agent VARCHAR,
    "user" VARCHAR,
    session_outcome DOUBLE,
    origin VARCHAR NOT NULL DEFAULT 'log',
    ingest_id INTEGER,
    line BIGINT
);
CREATE TABLE IF NOT EXISTS rejects (
    ingest_id INTEGER,
    source VARCHAR,
    line BIGINT,
    raw VARCHAR,
    reason VARCHAR
);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    workflow VARCHAR NOT NULL,
    workflow_version INTEGER,
    workflow_json JSON,
    status VARCHAR NOT NULL,
    inputs JSON,
    outputs JSON,
    error VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    duration_ms DOUBLE,
    total_cost DOUBLE
);
CREATE TABLE IF NOT EXISTS run_steps (
    run_id VARCHAR NOT NULL,
    step_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    attempts INTEGER,
    parameters JSON,
    result JSON,
    error VARCHAR,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    duration_ms DOUBLE,
    cost DOUBLE,
    PRIMARY KEY (run_id, step_id)
);
ALTER TABLE run_steps ADD COLUMN IF NOT EXISTS tool VARCHAR;
ALTER TABLE run_steps ADD COLUMN IF NOT EXISTS details JSON;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS session_source VARCHAR;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS unmasked_id BOOLEAN;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS context VARCHAR;
ALTER TABLE ingests ADD COLUMN IF NOT EXISTS rejects_digest VARCHAR;
ALTER TABLE rejects ADD COLUMN IF NOT EXISTS rejects_digest VARCHAR;
CREATE OR REPLACE VIEW calls_v AS
    SELECT c.*, t.tool FROM calls c JOIN tools t USING (tool_id);
CREATE OR REPLACE VIEW sessions AS
    SELECT session_id,
           min(ts) AS started_at, max(ts) AS ended_at,
           count(*) AS calls,
           count(*) FILTER (WHERE NOT success) AS failed_calls,
           bool_and(success) AS all_succeeded,
           max(session_outcome) AS session_outcome,
           any_value(agent) AS agent, any_value("user") AS "user"
    FROM calls GROUP BY session_id;
"""

_LOCK_RE = re.compile(r"\(PID (\d+)\)")


def resolve_db_path(path: str | os.PathLike | None = None) -> Path:
    """The database path: ``path``, else ``$CHAINMINE_DB``, else ``./chainmine.duckdb``.

    Examples
    --------
    >>> resolve_db_path("x.duckdb").name
    'x.duckdb'
    """
    return Path(path or os.environ.get("CHAINMINE_DB") or DEFAULT_DB)


def _process_name(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    parts = [p.decode(errors="replace") for p in raw.split(b"\0") if p]
    if not parts:
        return ""
    # argv can hold whole scripts (python -c ...): keep one short line
    words = [Path(parts[0]).name] + [p for p in parts[1:3] if "\n" not in p]
    return " ".join(words)[:60]


def lock_message(path: Path, exc: Exception) -> str:
    """Turn DuckDB's lock error into one line naming the process and the fix.

    Examples
    --------
    >>> lock_message(Path("x.duckdb"), Exception("Conflicting lock is held in /bin/python (PID 42)"))[:46]
    'database x.duckdb is in use by process 42 (pyt'
    """
    m = _LOCK_RE.search(str(exc))
    pid = m.group(1) if m else "?"
    name = _process_name(pid) if m else ""
    if not name:
        holder = re.search(r"held in (\S+)", str(exc))
        name = Path(holder.group(1)).name if holder else "unknown"
    return (f"database {path} is in use by process {pid} ({name}); wait for it to finish, "
            f"stop it (kill {pid}), or use another --db")


def connect(path: str | os.PathLike | None = None, *, read_only: bool = False,
            memory_limit: str | None = None, threads: int | None = None,
            lock_retry_s: float = 0.0) -> duckdb.DuckDBPyConnection:
    """Open the store, creating the schema on a writable connection.

    ``memory_limit`` (e.g. ``"3GB"``, default env ``CHAINMINE_MEMORY_LIMIT``) and a
    ``temp_directory`` beside the file let big queries spill instead of failing.
    ``lock_retry_s`` retries briefly while another process holds the lock (used
    by the dashboard's short read-only connections).

    Examples
    --------
    >>> import tempfile, os
    >>> con = connect(os.path.join(tempfile.mkdtemp(), "t.duckdb"))
    >>> con.execute("SELECT count(*) FROM calls").fetchone()[0]
    0
    """
    db = resolve_db_path(path)
    if read_only and not db.exists():
        raise StoreError(f"no database at {db}: run `chainmine ingest` first (or pass --db)")
    if not read_only:
        db.parent.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = {}
    limit = memory_limit or os.environ.get("CHAINMINE_MEMORY_LIMIT")
    if limit:
        config["memory_limit"] = limit
    if threads:
        config["threads"] = threads
    deadline = time.monotonic() + lock_retry_s
    while True:
        try:
            con = duckdb.connect(str(db), read_only=read_only, config=config)
            break
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                raise StoreLockedError(lock_message(db, exc)) from None
            raise StoreError(f"cannot open database {db}: {str(exc).splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open database {db}: {str(exc).splitlines()[0]}; "
                             "is it a chainmine DuckDB file?") from None
    tmp = os.environ.get("CHAINMINE_TEMP_DIR") or str(db.with_name(db.name + ".tmp"))
    con.execute("SET temp_directory = ?", [tmp])
    if not read_only:
        init_schema(con)
    return con


def init_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create missing tables and views, record the schema version, migrate old run origins (idempotent).

    Examples
    --------
    >>> con = duckdb.connect()
    >>> init_schema(con); init_schema(con)
    >>> con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
    '1'
    """
    con.execute(SCHEMA)
    con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
    migrate_run_origin(con)


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run a block in one transaction: commit on success, roll back on any error.

    Examples
    --------
    >>> con = duckdb.connect(); init_schema(con)
    >>> with transaction(con):
    ...     _ = con.execute("INSERT INTO tools VALUES (1, 'a')")
    >>> con.execute("SELECT count(*) FROM tools").fetchone()[0]
    1
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")


def ensure_tools(con: duckdb.DuckDBPyConnection, relation: str, column: str = "tool") -> None:
    """Add tool names found in ``relation.column`` to the ``tools`` dictionary.

    ``relation`` is a table or view name created by the caller (never user text).

    Examples
    --------
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("CREATE TEMP TABLE s AS SELECT 'a' AS tool UNION ALL SELECT 'b'")
    >>> ensure_tools(con, "s"); ensure_tools(con, "s")
    >>> con.execute("SELECT count(*) FROM tools").fetchone()[0]
    2
    """
    con.execute(f"""
        INSERT INTO tools
        SELECT coalesce((SELECT max(tool_id) FROM tools), 0) + row_number() OVER (ORDER BY n.tool), n.tool
        FROM (SELECT DISTINCT {column} AS tool FROM {relation} WHERE {column} IS NOT NULL) n
        WHERE n.tool NOT IN (SELECT tool FROM tools)
    """)


def call_count(con: duckdb.DuckDBPyConnection) -> int:
    """Number of stored tool calls.

    Examples
    --------
    >>> con = duckdb.connect(); init_schema(con); call_count(con)
    0
    """
    return con.execute("SELECT count(*) FROM calls").fetchone()[0]
