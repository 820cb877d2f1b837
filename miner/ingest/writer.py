"""Write normalised tool calls into ``calls``: content-hash ids, dedupe, tool dictionary.

:func:`store_records` is the one way rows enter ``calls``; the ingest uses it for log
files and the runner for the calls it executes (``origin='run'``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import duckdb

from chainmine.miner.chains.events import refresh_after_commit
from chainmine.miner.errors import StoreError
from chainmine.miner.origins import RUN
from chainmine.miner.ingest.ids import call_id_sql, content_equal_sql, ensure_id_scheme, identity_columns
from chainmine.miner.store import ensure_tools

log = logging.getLogger(__name__)

RECORD_COLUMNS: dict[str, str] = {
    "session_id": "VARCHAR", "ts": "TIMESTAMP", "seq": "BIGINT", "tool": "VARCHAR",
    "success": "BOOLEAN", "error": "VARCHAR", "duration_ms": "DOUBLE", "cost": "DOUBLE",
    "args": "JSON", "result": "JSON", "call_id": "VARCHAR", "agent": "VARCHAR", "user": "VARCHAR",
    "session_outcome": "DOUBLE", "line": "BIGINT", "session_source": "VARCHAR", "unmasked_id": "BOOLEAN",
    "context": "VARCHAR", "origin": "VARCHAR",
}
"""Columns :func:`store_records` reads (missing optional ones count as NULL; ``session_source``
and ``unmasked_id`` are the ingest's, see :mod:`~chainmine.miner.ingest.ids`; a row's own ``origin``
wins over the batch's)."""

_ROWS = "_ing_store_rows"
_CHECK = "_ing_store_check"
_SUSPECT = "_ing_store_suspect"
_CANDIDATES = "_ing_store_candidates"
_TARGET = ("id, session_id, ts, seq, tool_id, success, error, duration_ms, cost, args, result, call_id, agent, "
           '"user", session_outcome, origin, ingest_id, line, session_source, unmasked_id, context')


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def next_ingest_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next free ``ingests.ingest_id``.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); next_ingest_id(con)
    1
    """
    return con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchone()[0]


def record_ingest(con: duckdb.DuckDBPyConnection, ingest_id: int, *, source: str, format: str,
                  accepted: int, rejected: int, duplicates: int, sessions: int,
                  options: dict | None = None, started_at: dt.datetime | None = None,
                  rejects_digest: str | None = None) -> None:
    """Insert the ``ingests`` row of one source with its counts (times in UTC).

    ``rejects_digest`` names the stored bad rows of the source (see
    :func:`~chainmine.miner.ingest.report.store_rejects`).

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> record_ingest(con, 1, source="a.jsonl", format="canonical", accepted=3, rejected=1,
    ...               duplicates=0, sessions=1)
    >>> con.execute("SELECT source, accepted, rejected FROM ingests").fetchall()
    [('a.jsonl', 3, 1)]
    """
    con.execute("""INSERT INTO ingests (ingest_id, source, format, started_at, finished_at, accepted,
                                        rejected, duplicates, sessions, options, rejects_digest)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [ingest_id, source, format, started_at or _utcnow(), _utcnow(), accepted, rejected, duplicates,
                 sessions, json.dumps(options or {}), rejects_digest])


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def store_records(con: duckdb.DuckDBPyConnection, relation_name: str, *, source: str, format: str,
                  ingest_id: int | None = None, origin: str = "log",
                  id_column: str | None = None) -> tuple[int, int]:
    """Store already-normalised tool calls from a table or view; returns ``(accepted, duplicates)``.

    ``relation_name`` is a table/view the caller created (never user text) with the
    columns of :data:`RECORD_COLUMNS`; ``session_id`` and ``tool`` are required, the
    rest may be missing (NULL; ``success`` then defaults to ``error IS NULL``). Each
    row's id is the hash of its content, so a row equal to a stored one, or to an
    earlier row of the same batch, is a duplicate and is not stored again. Tool names
    go through the ``tools`` dictionary. With ``ingest_id=None`` an ``ingests`` row is
    written for ``source``/``format`` with the counts; otherwise the caller owns it.
    ``id_column`` names a column already holding each row's
    :func:`~chainmine.miner.ingest.ids.call_id_sql` (the ingest hashes while normalising), so
    the rows need not be hashed again. Runs in the caller's transaction (wrap it in
    :func:`chainmine.miner.store.transaction`); once that has committed, :func:`refresh_ingest_events`
    brings the miner's stored events up to date.

    Ids only nominate duplicates: rows sharing an id with another row of the batch or
    with a stored call are compared column by column, so a hash collision never drops
    a distinct call (see :mod:`~chainmine.miner.ingest.ids`).

    Notes
    -----
    One pass to hash and check the ids (against ``calls`` by a hash join on ids only)
    and one to insert: O(n + m) for n rows and m stored calls. Only rows whose id
    repeats or is stored are compared by content (a window and an anti-join over them).

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("CREATE TEMP TABLE ran AS SELECT 'run-1' AS session_id, 1 AS seq, 'get_user' AS tool, "
    ...                 "'{\\"id\\": 7}'::JSON AS args, '{\\"name\\": \\"Mia\\"}'::JSON AS result")
    >>> store_records(con, "ran", source="run run-1", format="runner", origin="run")
    (1, 0)
    >>> store_records(con, "ran", source="run run-1", format="runner", origin="run")
    (0, 1)
    >>> con.execute("SELECT tool, origin FROM calls_v").fetchall()
    [('get_user', 'run')]
    """
    have = _columns(con, relation_name)
    missing = {"session_id", "tool"} - have
    if missing:
        raise StoreError(f"cannot store calls from {relation_name}: missing column(s) {sorted(missing)}")
    select = []
    for col, typ in RECORD_COLUMNS.items():
        name = f'"{col}"'
        if col == "success" and col not in have:
            select.append(f"error IS NULL AS success" if "error" in have else "true AS success")
        elif col == "success":
            select.append(f"coalesce(success, {'error IS NULL' if 'error' in have else 'true'}) AS success")
        else:
            select.append(f"CAST({name} AS {typ}) AS {name}" if col in have else f"NULL::{typ} AS {name}")
    own_ingest = ingest_id is None
    if own_ingest:
        ingest_id = next_ingest_id(con)
    ensure_id_scheme(con)
    if id_column is not None:
        select.append(f'"{id_column}" AS id')
    ident = "" if id_column is not None else f", {call_id_sql()} AS id"
    con.execute(f"""CREATE OR REPLACE TEMP VIEW {_ROWS} AS
                    SELECT *{ident} FROM (SELECT {', '.join(select)} FROM {relation_name})""")
    try:
        # One pass over the rows answers whether any id repeats in the batch or is
        # already stored; new data (the usual case) then goes in without a dedupe join.
        total, distinct, seen, runs = con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {_CHECK} AS
            SELECT count(*) AS total, count(DISTINCT id) AS ids, list(DISTINCT tool) AS tools,
                   -- the batch's ids are the hash side, so a big store is only scanned
                   (SELECT count(*) FROM calls WHERE id IN (SELECT id FROM {_ROWS})) AS seen,
                   coalesce(bool_or(origin = '{RUN}'), false) AS runs
            FROM {_ROWS};
            SELECT total, ids, seen, runs FROM {_CHECK}""").fetchone()
        ensure_tools(con, f"(SELECT unnest(tools) AS tool FROM {_CHECK})")
        if distinct == total and not seen:
            accepted = _insert(con, _ROWS, "", origin, ingest_id, runs)
        else:
            accepted = _insert_checked(con, origin, ingest_id, runs)
    except duckdb.ConstraintException as exc:
        raise StoreError(f"cannot store calls from {relation_name}: {str(exc).splitlines()[0]}") from None
    finally:
        con.execute(f"DROP VIEW IF EXISTS {_ROWS}; DROP TABLE IF EXISTS {_CHECK}; "
                    f"DROP TABLE IF EXISTS {_SUSPECT}; DROP TABLE IF EXISTS {_CANDIDATES}")
    duplicates = total - accepted
    if own_ingest:
        sessions = session_count(con, [ingest_id])
        record_ingest(con, ingest_id, source=source, format=format, accepted=accepted, rejected=0,
                      duplicates=duplicates, sessions=sessions)
    log.debug("stored %d calls (%d duplicates) from %s", accepted, duplicates, source)
    return accepted, duplicates


def refresh_ingest_events(con: duckdb.DuckDBPyConnection, ingest_ids: list[int]) -> bool:
    """Bring the miner's stored event table (:mod:`chainmine.miner.chains.events`) in step with what ``ingest_ids`` stored.

    Call it after the ingest's transaction has committed. Rebuilds the events of the
    sessions those ingests stored calls in; a failure is logged and only means the
    next ``mine`` builds the events itself. Returns whether the table was refreshed.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> refresh_ingest_events(con, [1])
    True
    """
    ids = ", ".join(str(int(i)) for i in ingest_ids) or "NULL"
    return refresh_after_commit(con, f"(SELECT session_id FROM calls WHERE ingest_id IN ({ids}))")


def _insert(con: duckdb.DuckDBPyConnection, source: str, where: str, origin: str, ingest_id: int,
            runs: bool = False) -> int:
    if runs:  # a run the runner recorded live is the authority on its calls: its trace adds none again
        recorded = (f"(s.origin IS DISTINCT FROM '{RUN}' OR s.session_id NOT IN "
                    f"(SELECT session_id FROM calls WHERE origin = '{RUN}' AND ingest_id IS NULL))")
        where = f"{where} AND {recorded}" if where else f"WHERE {recorded}"
    return con.execute(f"""
        INSERT INTO calls ({_TARGET})
        SELECT s.id, s.session_id, s.ts, s.seq, t.tool_id, s.success, s.error, s.duration_ms, s.cost, s.args,
               s.result, s.call_id, s.agent, s."user", s.session_outcome, coalesce(s.origin, ?), ?, s.line,
               s.session_source, s.unmasked_id, s.context
        FROM {source} s JOIN tools t ON t.tool = s.tool {where}
    """, [origin, ingest_id]).fetchone()[0]


def _insert_checked(con: duckdb.DuckDBPyConnection, origin: str, ingest_id: int, runs: bool) -> int:
    """Insert the rows of :data:`_ROWS` that are new by content, the first (by line) of equal rows."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {_SUSPECT} AS
                    WITH g AS (SELECT id, count(*) AS n FROM {_ROWS} GROUP BY id)
                    SELECT id FROM g WHERE n > 1 OR id IN (SELECT id FROM calls)""")
    accepted = _insert(con, _ROWS, f"WHERE s.id NOT IN (SELECT id FROM {_SUSPECT})", origin, ingest_id, runs)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {_CANDIDATES} AS
                    SELECT * FROM {_ROWS} WHERE id IN (SELECT id FROM {_SUSPECT})
                    QUALIFY row_number() OVER (PARTITION BY {identity_columns()} ORDER BY coalesce(line, 0)) = 1""")
    stored = f"""(SELECT c.*, ct.tool FROM calls c JOIN tools ct ON ct.tool_id = c.tool_id
                 WHERE c.id IN (SELECT id FROM {_SUSPECT}))"""
    return accepted + _insert(con, _CANDIDATES, f"""WHERE NOT EXISTS (SELECT 1 FROM {stored} c
                                                    WHERE c.id = s.id AND {content_equal_sql('s', 'c')})""",
                              origin, ingest_id, runs)


def session_count(con: duckdb.DuckDBPyConnection, ingest_ids: list[int]) -> int:
    """Distinct sessions among the calls stored by the given ingests.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); session_count(con, [1])
    0
    """
    if not ingest_ids:
        return 0
    return con.execute("SELECT count(DISTINCT session_id) FROM calls WHERE list_contains(?, ingest_id)",
                       [ingest_ids]).fetchone()[0]
