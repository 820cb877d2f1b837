"""Directly-follows transitions between tools inside sessions, as rows or as a graph.

Calls are ordered within a session by :data:`chainmine.miner.store.ORDER_BY`; a
transition ``a → b`` is a call of ``b`` right after a call of ``a``. Its
probability is ``count / (all transitions out of a)``, so the probabilities
out of each tool sum to 1 (a session's last call has no transition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import networkx as nx

from chainmine.miner.analytics.filters import CallFilter, resolve
from chainmine.miner.analytics.overview import require_calls_table
from chainmine.miner.analytics.sequences import SequenceFigures, sequence_figures


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


def transitions(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None,
                top: int | None = None) -> list[Transition]:
    """Directly-follows counts and probabilities, most frequent first.

    Time and agent filters cut the sequences; a tool filter keeps the
    transitions that start or end at one of its tools (probabilities still
    count every transition out of the source tool).

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); transitions(con)
    []

    Notes
    -----
    One window pass partitioned by session: O(n log n) for the sort by time
    within sessions, then a group-by over integer tool-id pairs.
    """
    require_calls_table(con)
    figures = sequence_figures(con, resolve(flt), ("edges",), edges_top=top)
    return [Transition(*edge) for edge in figures.edges]


def transition_graph(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None) -> nx.DiGraph:
    """The directly-follows graph: tools as nodes, transitions as edges.

    Node attributes: ``calls``, ``success_rate``, ``starts`` and ``ends``
    (sessions starting / ending with the tool). Edge attributes: ``count``
    and ``probability``. With a tool filter, the graph holds the filter's
    tools, the edges touching them and the tools at their other ends.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> transition_graph(con).number_of_nodes()
    0

    Notes
    -----
    One window pass feeds both node and edge aggregates: O(n log n) in the
    filtered calls; the graph itself is O(T + E).
    """
    require_calls_table(con)
    flt = resolve(flt)
    return graph_from_figures(sequence_figures(con, flt, ("edges", "nodes")), flt)


def graph_from_figures(figures: SequenceFigures, flt: CallFilter | None = None) -> nx.DiGraph:
    """Build the :func:`transition_graph` from figures computed with ``parts`` ``edges`` and ``nodes``.

    Lets a caller that also wants variants sort the calls once:
    ``sequence_figures(con, flt, ("edges", "nodes", "variants"))``.

    Examples
    --------
    >>> g = graph_from_figures(SequenceFigures(edges=[("a", "b", 2, 1.0)], nodes=[("a", 2, 1.0, 2, 0)]))
    >>> g.edges["a", "b"]["count"], g.nodes["a"]["starts"]
    (2, 2)
    """
    flt = resolve(flt)
    nodes = {n[0]: n[1:] for n in figures.nodes}
    edges = figures.edges
    graph = nx.DiGraph()
    if flt.tools:
        keep = (set(flt.tools) & set(nodes)) | {e[0] for e in edges} | {e[1] for e in edges}
        nodes = {k: v for k, v in nodes.items() if k in keep}
    for tool in sorted(nodes):
        calls, rate, starts, ends = nodes[tool]
        graph.add_node(tool, calls=calls, success_rate=rate, starts=starts, ends=ends)
    for a, b, n, probability in sorted(edges):
        graph.add_edge(a, b, count=n, probability=probability)
    return graph
