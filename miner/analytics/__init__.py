"""Analytics over stored calls: overview, per-tool figures, transitions, variants, errors, time series.

Every function takes a DuckDB connection and an optional :class:`CallFilter`
(time range, agents, tools) and runs set-wise SQL over ``calls``, grouped by
the integer ``tool_id`` with names joined at the end. An empty store gives
zeros and empty lists.

>>> import duckdb
>>> from chainmine.miner.store import init_schema
>>> con = duckdb.connect(); init_schema(con)
>>> stats_report(con)["calls"]
0
"""

from chainmine.miner.analytics.filters import AnalyticsError, CallFilter, iso, parse_time
from chainmine.miner.analytics.overview import BUCKETS, Overview, calls_over_time, filter_options, overview, reject_count
from chainmine.miner.analytics.report import DEFAULT_TOP, stats_report
from chainmine.miner.analytics.tools import ErrorCount, ToolStats, tool_stats, top_errors
from chainmine.miner.analytics.sequences import SequenceFigures, sequence_figures
from chainmine.miner.analytics.transitions import Transition, graph_from_figures, transition_graph, transitions
from chainmine.miner.analytics.variants import Variant, session_variants

__all__ = ["AnalyticsError", "BUCKETS", "CallFilter", "DEFAULT_TOP", "ErrorCount", "Overview", "SequenceFigures",
           "ToolStats", "Transition", "Variant", "calls_over_time", "filter_options", "graph_from_figures", "iso",
           "overview", "parse_time", "reject_count", "sequence_figures", "session_variants", "stats_report",
           "tool_stats", "top_errors", "transition_graph", "transitions"]
