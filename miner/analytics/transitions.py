"""Directly-follows transitions between tools inside sessions, as rows or as a graph.

Calls are ordered within a session by :data:`miner.store.ORDER_BY`; a
transition ``a → b`` is a call of ``b`` right after a call of ``a``. Its
probability is ``count / (all transitions out of a)``, so the probabilities
out of each tool sum to 1 (a session's last call has no transition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import networkx as nx

from miner.analytics.filters import CallFilter, limit_value, resolve
from miner.analytics.overview import require_calls_table
from miner.store import ORDER_BY


@dataclass(frozen=True)
class Transition:
    """``count`` calls of ``to_tool`` directly after ``from_tool``; ``probability`` = P(to | from).

    Examples
    --------
    >>> Transition("a", "b", 3, 0.75).to_dict()
    {'from': 'a', 'to': 'b', 'count': 3, 'probability': 0.75}
    """

    from_tool: str
    to_tool: str
    count: int
    probability: float

    def to_dict(self) -> dict[str, Any]:
        """The DESIGN ``{"from", "to", "count", "probability"}`` row."""
        return {"from": self.from_tool, "to": self.to_tool, "count": self.count, "probability": self.probability}


def _neighbours_sql(where: str) -> str:
    """Each filtered call with the tool ids before and after it in its session."""
    return f"""
        SELECT tool_id, success,
               lag(tool_id) OVER w AS prev, lead(tool_id) OVER w AS nxt
        FROM calls WHERE {where}
        WINDOW w AS (PARTITION BY session_id ORDER BY {ORDER_BY})"""


def transitions(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None,
                top: int | None = None) -> list[Transition]:
    """Directly-follows counts and probabilities, most frequent first.

    Time and agent filters cut the sequences; a tool filter keeps the
    transitions that start or end at one of its tools (probabilities still
    count every transition out of the source tool).

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); transitions(con)
    []

    Notes
    -----
    One window pass partitioned by session: O(n log n) for the sort by time
    within sessions, then a group-by over integer tool-id pairs.
    """
    require_calls_table(con)
    flt = resolve(flt)
    where, params = flt.where(tools=False)
    keep, keep_params = "TRUE", []
    if flt.tools:
        keep = f"({flt.tool_condition('a')} OR {flt.tool_condition('b')})"
        keep_params = [list(flt.tools), list(flt.tools)]
    rows = con.execute(f"""
        WITH s AS ({_neighbours_sql(where)}),
        c AS (SELECT tool_id AS a, nxt AS b, count(*) AS n FROM s WHERE nxt IS NOT NULL GROUP BY ALL),
        p AS (SELECT a, b, n, n / sum(n) OVER (PARTITION BY a) AS probability FROM c)
        SELECT ta.tool, tb.tool, p.n, p.probability
        FROM p JOIN tools ta ON ta.tool_id = p.a JOIN tools tb ON tb.tool_id = p.b
        WHERE {keep}
        ORDER BY p.n DESC, ta.tool, tb.tool
        LIMIT ?""", params + keep_params + [limit_value(top)]).fetchall()
    return [Transition(*row) for row in rows]


def transition_graph(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None) -> nx.DiGraph:
    """The directly-follows graph: tools as nodes, transitions as edges.

    Node attributes: ``calls``, ``success_rate``, ``starts`` and ``ends``
    (sessions starting / ending with the tool). Edge attributes: ``count``
    and ``probability``. With a tool filter, the graph holds the filter's
    tools, the edges touching them and the tools at their other ends.

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> transition_graph(con).number_of_nodes()
    0

    Notes
    -----
    One window pass (materialised once) feeds both node and edge aggregates:
    O(n log n) in the filtered calls; the graph itself is O(T + E).
    """
    require_calls_table(con)
    flt = resolve(flt)
    where, params = flt.where(tools=False)
    rows = con.execute(f"""
        WITH s AS MATERIALIZED ({_neighbours_sql(where)}),
        nodes AS (SELECT tool_id, count(*) AS calls, avg(success::DOUBLE) AS success_rate,
                         count(*) FILTER (WHERE prev IS NULL) AS starts, count(*) FILTER (WHERE nxt IS NULL) AS ends
                  FROM s GROUP BY tool_id),
        edges AS (SELECT tool_id AS a, nxt AS b, count(*) AS n FROM s WHERE nxt IS NOT NULL GROUP BY ALL)
        SELECT 'node', t.tool, NULL, calls, success_rate, starts, ends FROM nodes JOIN tools t USING (tool_id)
        UNION ALL
        SELECT 'edge', ta.tool, tb.tool, n, n / sum(n) OVER (PARTITION BY a), NULL, NULL
        FROM edges JOIN tools ta ON ta.tool_id = a JOIN tools tb ON tb.tool_id = b""", params).fetchall()
    graph = nx.DiGraph()
    nodes = {r[1]: r for r in rows if r[0] == "node"}
    edges = [r for r in rows if r[0] == "edge"]
    if flt.tools:
        wanted = set(flt.tools)
        edges = [e for e in edges if e[1] in wanted or e[2] in wanted]
        keep = (wanted & set(nodes)) | {e[1] for e in edges} | {e[2] for e in edges}
        nodes = {k: v for k, v in nodes.items() if k in keep}
    for tool in sorted(nodes):
        _, _, _, calls, rate, starts, ends = nodes[tool]
        graph.add_node(tool, calls=calls, success_rate=rate, starts=starts, ends=ends)
    for _, a, b, n, probability, _, _ in sorted(edges, key=lambda e: (e[1], e[2])):
        graph.add_edge(a, b, count=n, probability=probability)
    return graph
