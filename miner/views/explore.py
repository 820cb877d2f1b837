"""The Overview page's data: every analytics view for one filter, read in one short connection."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Sequence

import networkx as nx
import pandas as pd

from chainmine.miner.analytics import (CallFilter, ErrorCount, Overview, ToolStats, Variant, calls_over_time, filter_options,
                             overview, session_variants, tool_stats, top_errors, transition_graph)
from chainmine.miner.views.connections import read_connection


@dataclass(frozen=True)
class Exploration:
    """What the Overview page shows for one :class:`~chainmine.miner.analytics.CallFilter`.

    Examples
    --------
    >>> Exploration.__dataclass_fields__.keys() >= {"overview", "tools", "graph", "timeline"}
    True
    """

    overview: Overview
    tools: list[ToolStats]
    graph: nx.DiGraph
    timeline: pd.DataFrame
    bucket: str
    errors: list[ErrorCount]
    variants: list[Variant]


def pick_bucket(first: datetime | None, last: datetime | None, target: int = 20) -> str:
    """The coarsest time bucket giving at least ``target`` points over ``first``…``last``.

    Examples
    --------
    >>> pick_bucket(datetime(2024, 1, 1), datetime(2024, 1, 2))
    'hour'
    >>> pick_bucket(datetime(2024, 1, 1), datetime(2024, 6, 1))
    'week'
    >>> pick_bucket(datetime(2024, 1, 1, 9), datetime(2024, 1, 1, 10))
    'minute'
    """
    if first is None or last is None:
        return "day"
    span = (last - first).total_seconds()
    for bucket, seconds in (("month", 30 * 86400), ("week", 7 * 86400), ("day", 86400), ("hour", 3600)):
        if span / seconds >= target:
            return bucket
    return "minute"


def time_filter(options: dict[str, Any], days: Sequence[date] | None, agents: Sequence[str] = (),
                tools: Sequence[str] = (), include_runs: bool = False) -> CallFilter:
    """A :class:`CallFilter` from the sidebar's date range (whole days) and selections.

    The full stored range (or no range) means no time bound, so calls without
    a time are kept. ``include_runs`` also keeps the calls of recorded workflow runs.

    Examples
    --------
    >>> opts = {"first_ts": datetime(2024, 1, 1, 9), "last_ts": datetime(2024, 1, 9, 17)}
    >>> time_filter(opts, [date(2024, 1, 2), date(2024, 1, 3)]).end
    datetime.datetime(2024, 1, 4, 0, 0)
    >>> time_filter(opts, [date(2024, 1, 1), date(2024, 1, 9)]).start is None
    True
    """
    start = end = None
    if days and len(days) == 2 and options.get("first_ts") is not None:
        lo, hi = days
        if lo > options["first_ts"].date():
            start = datetime.combine(lo, time())
        if hi < options["last_ts"].date():
            end = datetime.combine(hi, time()) + timedelta(days=1)
    return CallFilter(start=start, end=end, agents=tuple(agents), tools=tuple(tools), include_runs=include_runs)


def choices(db: str | os.PathLike, include_runs: bool = False) -> dict[str, Any]:
    """Agents, tools and the time range the sidebar filter can choose from (runs' calls with ``include_runs``).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from chainmine.miner.store import connect
    >>> db = Path(tempfile.mkdtemp()) / "t.duckdb"; connect(db).close()
    >>> choices(db)["tools"]
    []
    """
    with read_connection(db) as con:
        return filter_options(con, include_runs)


def explore(db: str | os.PathLike, flt: CallFilter | None = None, bucket: str | None = None,
            top: int = 10) -> Exploration:
    """Overview figures, tool table, transition graph, time series, top errors and variants.

    ``bucket`` defaults to :func:`pick_bucket` over the filtered time range.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from chainmine.miner.store import connect
    >>> db = Path(tempfile.mkdtemp()) / "t.duckdb"; connect(db).close()
    >>> explore(db).overview.calls
    0
    """
    with read_connection(db) as con:
        ov = overview(con, flt)
        bucket = bucket or pick_bucket(ov.first_ts, ov.last_ts)
        return Exploration(overview=ov, tools=tool_stats(con, flt), graph=transition_graph(con, flt),
                           timeline=calls_over_time(con, flt, bucket=bucket), bucket=bucket,
                           errors=top_errors(con, flt, top=top), variants=session_variants(con, flt, top=top))
