"""Write normalised tool calls into ``calls``: content-hash ids, dedupe, tool dictionary.

:func:`store_records` is the one way rows enter ``calls``; the ingest uses it for log
files and the runner for the calls it executes (``origin='runner'``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import duckdb

from miner.errors import StoreError
from miner.store import ensure_tools

log = logging.getLogger(__name__)

RECORD_COLUMNS: dict[str, str] = {
    "session_id": "VARCHAR", "ts": "TIMESTAMP", "seq": "BIGINT", "tool": "VARCHAR",
    "success": "BOOLEAN", "error": "VARCHAR", "duration_ms": "DOUBLE", "cost": "DOUBLE",
    "args": "JSON", "result": "JSON", "call_id": "VARCHAR", "agent": "VARCHAR", "user": "VARCHAR",
    "session_outcome": "DOUBLE", "line": "BIGINT",
}
"""Columns :func:`store_records` reads (missing optional ones count as NULL)."""

_STAGE = "_ing_store_stage"

HASHED = ("session_id", "ts", "seq", "tool", "success", "error", "duration_ms", "cost",
          "args", "result", "call_id", "agent", "user", "session_outcome")
"""The content a call's id is the hash of: equal content, equal id."""



def call_id_sql() -> str:
    """SQL expression of the content-hash id (``UHUGEINT``) over :data:`HASHED` columns.

    Examples
    --------
    >>> con = duckdb.connect()
    >>> q = f"SELECT {call_id_sql()} FROM (SELECT 's' AS session_id, NULL::TIMESTAMP AS ts, 1 AS seq, 't' AS tool, " \\
    ...     "true AS success, NULL AS error, NULL AS duration_ms, NULL AS cost, '{}'::JSON AS args, " \\
    ...     "NULL::JSON AS result, NULL AS call_id, NULL AS agent, NULL AS \\"user\\", NULL AS session_outcome)"
    >>> con.execute(q).fetchone()[0] == con.execute(q).fetchone()[0]
    True
    """
    # Unit separator between fields and NUL for NULL: JSON text never holds raw control
    # characters, and ids/names with them do not occur in logs, so the encoding is
    # unambiguous in practice and much cheaper than rendering a JSON object per row.
    fields = ", ".join(f"""coalesce("{c}"::VARCHAR, chr(0))""" for c in HASHED)
    return f"md5_number(concat_ws(chr(31), {fields}))"


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def next_ingest_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next free ``ingests.ingest_id``.

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); next_ingest_id(con)
    1
    """
    return con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingests").fetchone()[0]


def record_ingest(con: duckdb.DuckDBPyConnection, ingest_id: int, *, source: str, format: str,
                  accepted: int, rejected: int, duplicates: int, sessions: int,
                  options: dict | None = None, started_at: dt.datetime | None = None) -> None:
    """Insert the ``ingests`` row of one source with its counts (times in UTC).

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> record_ingest(con, 1, source="a.jsonl", format="canonical", accepted=3, rejected=1,
    ...               duplicates=0, sessions=1)
    >>> con.execute("SELECT source, accepted, rejected FROM ingests").fetchall()
    [('a.jsonl', 3, 1)]
    """
    con.execute("""INSERT INTO ingests (ingest_id, source, format, started_at, finished_at, accepted,
                                        rejected, duplicates, sessions, options)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [ingest_id, source, format, started_at or _utcnow(), _utcnow(), accepted, rejected, duplicates,
                 sessions, json.dumps(options or {})])


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def store_records(con: duckdb.DuckDBPyConnection, relation_name: str, *, source: str, format: str,
                  ingest_id: int | None = None, origin: str = "log") -> tuple[int, int]:
    """Store already-normalised tool calls from a table or view; returns ``(accepted, duplicates)``.

    ``relation_name`` is a table/view the caller created (never user text) with the
    columns of :data:`RECORD_COLUMNS`; ``session_id`` and ``tool`` are required, the
    rest may be missing (NULL; ``success`` then defaults to ``error IS NULL``). Each
    row's id is the hash of its content, so a row equal to a stored one, or to an
    earlier row of the same batch, is a duplicate and is not stored again. Tool names
    go through the ``tools`` dictionary. With ``ingest_id=None`` an ``ingests`` row is
    written for ``source``/``format`` with the counts; otherwise the caller owns it.
    Runs in the caller's transaction (wrap it in :func:`miner.store.transaction`).

    Notes
    -----
    One hash pass, one window for in-batch duplicates and one hash anti-join against
    ``calls``: O(n) in the rows given, independent of per-row lookups.

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("CREATE TEMP TABLE ran AS SELECT 'run-1' AS session_id, 1 AS seq, 'get_user' AS tool, "
    ...                 "'{\\"id\\": 7}'::JSON AS args, '{\\"name\\": \\"Mia\\"}'::JSON AS result")
    >>> store_records(con, "ran", source="run run-1", format="runner", origin="runner")
    (1, 0)
    >>> store_records(con, "ran", source="run run-1", format="runner", origin="runner")
    (0, 1)
    >>> con.execute("SELECT tool, origin FROM calls_v").fetchall()
    [('get_user', 'runner')]
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
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {_STAGE} AS
                    SELECT *, {call_id_sql()} AS id FROM (SELECT {', '.join(select)} FROM {relation_name})""")
    try:
        total = con.execute(f"SELECT count(*) FROM {_STAGE}").fetchone()[0]
        ensure_tools(con, _STAGE)
        # The first row (by line) of each id wins inside the batch; ids already stored
        # are skipped by a hash anti-join.
        accepted = con.execute(f"""
            INSERT INTO calls (id, session_id, ts, seq, tool_id, success, error, duration_ms, cost, args,
                               result, call_id, agent, "user", session_outcome, origin, ingest_id, line)
            SELECT s.id, s.session_id, s.ts, s.seq, t.tool_id, s.success, s.error, s.duration_ms, s.cost,
                   s.args, s.result, s.call_id, s.agent, s."user", s.session_outcome, ?, ?, s.line
            FROM {_STAGE} s
            SEMI JOIN (SELECT arg_min(rowid, coalesce(line, 0)) AS rid FROM {_STAGE} GROUP BY id) f
                 ON f.rid = s.rowid
            JOIN tools t ON t.tool = s.tool
            WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.id = s.id)
        """, [origin, ingest_id]).fetchone()[0]
    except duckdb.ConstraintException as exc:
        raise StoreError(f"cannot store calls from {relation_name}: {str(exc).splitlines()[0]}") from None
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_STAGE}")
    duplicates = total - accepted
    if own_ingest:
        sessions = session_count(con, [ingest_id])
        record_ingest(con, ingest_id, source=source, format=format, accepted=accepted, rejected=0,
                      duplicates=duplicates, sessions=sessions)
    log.debug("stored %d calls (%d duplicates) from %s", accepted, duplicates, source)
    return accepted, duplicates


def session_count(con: duckdb.DuckDBPyConnection, ingest_ids: list[int]) -> int:
    """Distinct sessions among the calls stored by the given ingests.

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); session_count(con, [1])
    0
    """
    if not ingest_ids:
        return 0
    return con.execute("SELECT count(DISTINCT session_id) FROM calls WHERE list_contains(?, ingest_id)",
                       [ingest_ids]).fetchone()[0]
