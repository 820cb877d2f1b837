"""The ``chainmine stats`` document: every analytics figure in one JSON-able dict."""

from __future__ import annotations

from typing import Any

import duckdb

from chainmine.miner.analytics.filters import CallFilter, iso, resolve
from chainmine.miner.analytics.overview import overview, reject_count
from chainmine.miner.analytics.tools import tool_stats, top_errors
from chainmine.miner.analytics.sequences import sequence_figures
from chainmine.miner.analytics.transitions import Transition
from chainmine.miner.analytics.variants import Variant

DEFAULT_TOP = 10


def stats_report(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None, top: int | None = DEFAULT_TOP,
                 *, transitions_top: int | None = None) -> dict[str, Any]:
    """Everything ``chainmine stats --json`` prints.

    The DESIGN contract ``{"calls", "sessions", "tools": [{"tool", "calls",
    "success_rate", "p50_ms", "p95_ms", "avg_cost"}], "transitions": [{"from",
    "to", "count", "probability"}]}`` plus ``time_range``, ``variants`` and
    ``top_errors`` (the ``top`` most common), ``rejects`` (rows rejected by
    ingests), ``failed_calls``, ``success_rate``, ``total_cost``, ``agents``,
    ``users`` and the ``filter`` used. ``tools`` lists every tool;
    ``transitions`` every transition unless ``transitions_top`` is given.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> r = stats_report(con)
    >>> r["calls"], r["tools"], r["transitions"], r["time_range"]
    (0, [], [], {'first': None, 'last': None})

    Notes
    -----
    A handful of scans and one window pass over the filtered calls:
    O(n log n), grouped by integer tool ids throughout.
    """
    flt = resolve(flt)
    head = overview(con, flt)
    # one ordered pass serves transitions and variants: the sort is the expensive part
    ordered = sequence_figures(con, flt, ("edges", "variants"), edges_top=transitions_top, variants_top=top)
    return {
        "calls": head.calls,
        "sessions": head.sessions,
        "tools": [t.to_dict() for t in tool_stats(con, flt)],
        "transitions": [Transition(*e).to_dict() for e in ordered.edges],
        "time_range": {"first": iso(head.first_ts), "last": iso(head.last_ts)},
        "variants": [Variant(*v).to_dict() for v in ordered.variants],
        "top_errors": [e.to_dict() for e in top_errors(con, flt, top=top)],
        "rejects": reject_count(con),
        "failed_calls": head.failed_calls,
        "success_rate": head.success_rate,
        "total_cost": head.total_cost,
        "agents": head.agents,
        "users": head.users,
        "filter": flt.to_dict(),
    }
