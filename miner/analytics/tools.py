"""Per-tool figures (calls, success, latency percentiles, cost, errors) and the top errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from chainmine.miner.analytics.filters import CallFilter, iso, limit_value, resolve
from chainmine.miner.analytics.overview import require_calls_table

NO_MESSAGE = "(no message)"
"""How a failed call without an error message is counted."""


@dataclass(frozen=True)
class ToolStats:
    """Figures for one tool; ``top_errors`` holds up to three ``(message, count)`` pairs.

    ``avg_cost`` counts calls without a cost as free; percentiles are
    interpolated (``quantile_cont``) over calls with a duration, ``None`` when
    none has one.

    Examples
    --------
    >>> ToolStats("t", 2, 1, 0.5, 10.0, 19.0, 0.0, 0.0, 1, (("boom", 1),)).to_dict()["top_errors"]
    [{'error': 'boom', 'count': 1}]
    """

    tool: str
    calls: int
    sessions: int
    success_rate: float
    p50_ms: float | None
    p95_ms: float | None
    avg_cost: float
    total_cost: float
    failures: int
    top_errors: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The DESIGN ``stats`` tool entry plus ``sessions``, ``total_cost``, ``failures`` and ``top_errors``."""
        return {"tool": self.tool, "calls": self.calls, "success_rate": self.success_rate, "p50_ms": self.p50_ms,
                "p95_ms": self.p95_ms, "avg_cost": self.avg_cost, "sessions": self.sessions,
                "total_cost": self.total_cost, "failures": self.failures,
                "top_errors": [{"error": e, "count": n} for e, n in self.top_errors]}


def tool_stats(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None) -> list[ToolStats]:
    """Figures per tool, busiest first (ties by name).

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); tool_stats(con)
    []

    Notes
    -----
    One scan grouped by the integer ``tool_id``; percentiles sort within each
    tool, O(n log n) in the filtered calls. Names are joined at the end.
    """
    require_calls_table(con)
    where, params = resolve(flt).where()
    rows = con.execute(f"""
        WITH f AS (SELECT tool_id, session_id, success, duration_ms, cost, error FROM calls WHERE {where}),
        a AS (
            SELECT tool_id, count(*) AS calls, count(DISTINCT session_id) AS sessions,
                   avg(success::DOUBLE) AS success_rate,
                   quantile_cont(duration_ms, 0.5) AS p50, quantile_cont(duration_ms, 0.95) AS p95,
                   avg(coalesce(cost, 0)) AS avg_cost, coalesce(sum(cost), 0) AS total_cost,
                   count(*) FILTER (WHERE NOT success) AS failures
            FROM f GROUP BY tool_id),
        e AS (SELECT tool_id, coalesce(error, '{NO_MESSAGE}') AS error, count(*) AS n
              FROM f WHERE NOT success GROUP BY ALL),
        r AS (SELECT tool_id, list([error, n::VARCHAR] ORDER BY n DESC, error)[1:3] AS errors FROM e GROUP BY tool_id)
        SELECT t.tool, a.calls, a.sessions, a.success_rate, a.p50, a.p95, a.avg_cost, a.total_cost, a.failures,
               r.errors
        FROM a JOIN tools t USING (tool_id) LEFT JOIN r USING (tool_id)
        ORDER BY a.calls DESC, t.tool""", params).fetchall()
    return [ToolStats(*row[:9], top_errors=tuple((e, int(n)) for e, n in (row[9] or ()))) for row in rows]


@dataclass(frozen=True)
class ErrorCount:
    """How often one tool failed with one message, and when it last did.

    Examples
    --------
    >>> ErrorCount("t", "boom", 3, 0.5, None).to_dict()["count"]
    3
    """

    tool: str
    error: str
    count: int
    share: float
    last_seen: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``share`` is the part of the tool's calls that failed this way."""
        return {"tool": self.tool, "error": self.error, "count": self.count, "share": self.share,
                "last_seen": iso(self.last_seen)}


def top_errors(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None, top: int | None = 10) -> list[ErrorCount]:
    """The most frequent (tool, error message) pairs among failed calls.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); top_errors(con)
    []

    Notes
    -----
    One scan grouped by ``(tool_id, error)``: O(n) plus a sort of the groups.
    """
    require_calls_table(con)
    where, params = resolve(flt).where()
    rows = con.execute(f"""
        WITH f AS (SELECT tool_id, success, error, ts FROM calls WHERE {where}),
        per_tool AS (SELECT tool_id, count(*) AS calls FROM f GROUP BY tool_id),
        e AS (SELECT tool_id, coalesce(error, '{NO_MESSAGE}') AS error, count(*) AS n, max(ts) AS last_seen
              FROM f WHERE NOT success GROUP BY ALL)
        SELECT t.tool, e.error, e.n, e.n / p.calls, e.last_seen
        FROM e JOIN per_tool p USING (tool_id) JOIN tools t USING (tool_id)
        ORDER BY e.n DESC, t.tool, e.error
        LIMIT ?""", params + [limit_value(top)]).fetchall()
    return [ErrorCount(*row) for row in rows]
