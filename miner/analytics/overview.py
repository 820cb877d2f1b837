"""Headline figures of the store: calls, sessions, tools, success, cost, time range, calls over time."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from chainmine.miner.analytics.filters import AnalyticsError, CallFilter, iso, resolve
from chainmine.miner.errors import StoreError
from chainmine.miner.origins import calls_where


def require_calls_table(con: duckdb.DuckDBPyConnection) -> None:
    """Raise :class:`StoreError` when the database has no chainmine ``calls`` table.

    Examples
    --------
    >>> require_calls_table(duckdb.connect())
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.StoreError: this database has no chainmine tables: run `chainmine ingest` to create them
    """
    found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('calls', 'tools')").fetchone()[0]
    if found < 2:
        raise StoreError("this database has no chainmine tables: run `chainmine ingest` to create them")


@dataclass(frozen=True)
class Overview:
    """Headline figures of the filtered calls.

    Examples
    --------
    >>> Overview(0, 0, 0, 0, 0.0, 0.0, None, None, 0, 0).to_dict()["first_ts"] is None
    True
    """

    calls: int
    sessions: int
    tools: int
    failed_calls: int
    success_rate: float
    total_cost: float
    first_ts: datetime | None
    last_ts: datetime | None
    agents: int
    users: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (times as ISO text)."""
        data = asdict(self)
        data["first_ts"], data["last_ts"] = iso(self.first_ts), iso(self.last_ts)
        return data


def overview(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None) -> Overview:
    """Calls, sessions, distinct tools, success rate, total cost, time range and agents.

    An empty store (or a filter that keeps nothing) gives zeros and ``None`` times.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> overview(con).calls
    0

    Notes
    -----
    One scan of ``calls``: O(n) in the filtered calls.
    """
    require_calls_table(con)
    where, params = resolve(flt).where()
    row = con.execute(f"""
        SELECT count(*), count(DISTINCT session_id), count(DISTINCT tool_id),
               count(*) FILTER (WHERE NOT success), coalesce(avg(success::DOUBLE), 0),
               coalesce(sum(cost), 0), min(ts), max(ts), count(DISTINCT agent), count(DISTINCT "user")
        FROM calls WHERE {where}""", params).fetchone()
    return Overview(*row)


def filter_options(con: duckdb.DuckDBPyConnection, include_runs: bool = False) -> dict[str, Any]:
    """What a filter can choose from: agents, tools (busiest first) and the stored time range.

    Calls of recorded workflow runs count only with ``include_runs``.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> filter_options(con)
    {'agents': [], 'tools': [], 'first_ts': None, 'last_ts': None}
    """
    require_calls_table(con)
    kept = calls_where(include_runs)
    agents = [r[0] for r in con.execute(
        f"SELECT agent FROM calls WHERE agent IS NOT NULL AND {kept} GROUP BY agent ORDER BY count(*) DESC, agent"
    ).fetchall()]
    tools = [r[0] for r in con.execute(f"""
        SELECT t.tool FROM (SELECT tool_id, count(*) AS n FROM calls WHERE {kept} GROUP BY tool_id) c
        JOIN tools t USING (tool_id) ORDER BY c.n DESC, t.tool""").fetchall()]
    first, last = con.execute(f"SELECT min(ts), max(ts) FROM calls WHERE {kept}").fetchone()
    return {"agents": agents, "tools": tools, "first_ts": first, "last_ts": last}


def reject_count(con: duckdb.DuckDBPyConnection) -> int:
    """Rows rejected by ingests so far (every ingest, unfiltered).

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); reject_count(con)
    0
    """
    return con.execute("SELECT count(*) FROM rejects").fetchone()[0]


BUCKETS = ("minute", "hour", "day", "week", "month")


def calls_over_time(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None,
                    bucket: str = "hour") -> pd.DataFrame:
    """Calls per time bucket: columns ``bucket`` (start, UTC), ``calls``, ``errors``, ``error_rate``,
    ``sessions`` and ``cost``; only buckets with calls, oldest first. Calls without a time are left out.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> list(calls_over_time(con, bucket="day").columns)
    ['bucket', 'calls', 'errors', 'error_rate', 'sessions', 'cost']

    Notes
    -----
    One scan grouped by the truncated time: O(n).
    """
    if bucket not in BUCKETS:
        raise AnalyticsError(f"unknown time bucket {bucket!r}: use one of {', '.join(BUCKETS)}")
    require_calls_table(con)
    where, params = resolve(flt).where()
    return con.execute(f"""
        SELECT date_trunc(?, ts) AS bucket, count(*) AS calls, count(*) FILTER (WHERE NOT success) AS errors,
               count(*) FILTER (WHERE NOT success) / count(*) AS error_rate,
               count(DISTINCT session_id) AS sessions, coalesce(sum(cost), 0) AS cost
        FROM calls WHERE ts IS NOT NULL AND {where}
        GROUP BY 1 ORDER BY 1""", [bucket] + params).fetchdf()
