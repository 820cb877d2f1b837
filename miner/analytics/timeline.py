"""Calls, errors and cost per time bucket."""

from __future__ import annotations

import duckdb
import pandas as pd

from miner.analytics.filters import AnalyticsError, CallFilter, resolve
from miner.analytics.overview import require_calls_table

BUCKETS = ("minute", "hour", "day", "week", "month")


def calls_over_time(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None,
                    bucket: str = "hour") -> pd.DataFrame:
    """Calls per time bucket: columns ``bucket`` (start, UTC), ``calls``, ``errors``, ``error_rate``,
    ``sessions`` and ``cost``; only buckets with calls, oldest first. Calls without a time are left out.

    Examples
    --------
    >>> from miner.store import init_schema
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
