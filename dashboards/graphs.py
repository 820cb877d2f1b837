"""Graphviz DOT text for the dashboard's graphs (no Streamlit, no extra dependency).

``st.graphviz_chart`` draws DOT text in the browser, so the dashboard needs
no graphviz binary: these functions only turn a networkx transition graph or
a workflow's step DAG into that text.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from chainmine.library.model import WorkflowTemplate
from chainmine.library.templates import format_path, iter_references, parse_reference

FAIL_COLOUR = "#d62728"
WARN_COLOUR = "#ff7f0e"
OK_COLOUR = "#2ca02c"
EDGE_COLOUR = "#4c78a8"


def quote(text: Any) -> str:
    """A DOT double-quoted string.

    Examples
    --------
    >>> quote('say "hi"')
    '"say \\\\"hi\\\\""'
    """
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def health_colour(success_rate: float | None) -> str:
    """Fill colour for a tool by its success rate: red below 80 %, orange below 95 %.

    Examples
    --------
    >>> health_colour(0.5) == FAIL_COLOUR, health_colour(None) == OK_COLOUR
    (True, True)
    """
    if success_rate is None or math.isnan(success_rate):
        return OK_COLOUR
    if success_rate < 0.8:
        return FAIL_COLOUR
    if success_rate < 0.95:
        return WARN_COLOUR
    return OK_COLOUR


def _node_rate(data: dict) -> float | None:
    if data.get("success_rate") is not None:
        return float(data["success_rate"])
    calls, failed = data.get("calls"), data.get("failed_calls", data.get("failures", data.get("errors")))
    if calls and failed is not None:
        return 1.0 - float(failed) / float(calls)
    return None


def transition_dot(graph: nx.DiGraph, max_edges: int = 60) -> str:
    """DOT for a tool transition graph: node size by calls, edge width by count.

    Nodes carry ``calls`` and ``success_rate`` (or ``failed_calls``); edges carry
    ``count``. Tools that fail often are filled red or orange; only the
    ``max_edges`` heaviest transitions, and the tools they join, are drawn so
    large logs stay readable (every tool when nothing is cut).

    Examples
    --------
    >>> g = nx.DiGraph()
    >>> g.add_node("a", calls=10, success_rate=1.0); g.add_node("b", calls=2, success_rate=0.5)
    >>> g.add_edge("a", "b", count=7)
    >>> dot = transition_dot(g)
    >>> '"a" -> "b"' in dot and FAIL_COLOUR in dot
    True

    Notes
    -----
    O(N + E log E) for N tools and E transitions (edges are sorted by count).
    """
    calls = {n: float(d.get("calls") or 0) for n, d in graph.nodes(data=True)}
    top = max(calls.values(), default=0) or 1.0
    edges = sorted(graph.edges(data=True), key=lambda e: -float(e[2].get("count") or 0))[:max_edges]
    heaviest = max((float(d.get("count") or 0) for _, _, d in edges), default=0) or 1.0
    # tight spacing keeps the labels legible once the browser scales the drawing to the page width
    lines = ["digraph transitions {", "  rankdir=LR;", '  bgcolor="transparent";', "  nodesep=0.12;",
             "  ranksep=0.35;", '  node [shape=box, style="rounded,filled", fontname="Helvetica", '
             'fontcolor="white", margin="0.08,0.03"];',
             f'  edge [color="{EDGE_COLOUR}", fontname="Helvetica", fontsize=12, arrowsize=0.7];']
    shown = set(graph) if len(edges) == graph.number_of_edges() else {n for u, v, _ in edges for n in (u, v)}
    for node, data in graph.nodes(data=True):
        if node not in shown:
            continue
        rate = _node_rate(data)
        size = 12 + 14 * math.sqrt(calls[node] / top)
        label = f"{node}\n{int(calls[node])} calls" + ("" if rate is None else f" · {rate:.0%} ok")
        lines.append(f"  {quote(node)} [label={quote(label)}, fillcolor=\"{health_colour(rate)}\", "
                     f"fontsize={size:.1f}];")
    for u, v, data in edges:
        count = float(data.get("count") or 0)
        width = 0.5 + 5.5 * count / heaviest
        prob = data.get("probability")
        label = f"{int(count)}" + ("" if prob is None else f" ({float(prob):.0%})")
        lines.append(f"  {quote(u)} -> {quote(v)} [penwidth={width:.2f}, label={quote(label)}];")
    lines.append("}")
    return "\n".join(lines)


def workflow_dot(wf: WorkflowTemplate) -> str:
    """DOT for a workflow's step DAG, with its inputs as notes feeding the steps.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep, InputSpec
    >>> wf = WorkflowTemplate(name="w", inputs={"uid": InputSpec()}, steps=[
    ...     WorkflowStep(id="a", tool_name="get_user", parameters={"id": "{{uid}}"}),
    ...     WorkflowStep(id="b", tool_name="get_order", parameters={"o": "{{a.orders}}"},
    ...                  depends_on=["a"])])
    >>> dot = workflow_dot(wf)
    >>> '"a" -> "b"' in dot and '"input:uid" -> "a"' in dot
    True

    Notes
    -----
    O(S + E + P) for S steps, E dependencies and P parameter references.
    """
    lines = ["digraph workflow {", "  rankdir=LR;", '  bgcolor="transparent";',
             '  node [fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=10];']
    for name, spec in wf.inputs.items():
        lines.append(f"  {quote('input:' + name)} [label={quote(f'{name} ({spec.type})')}, shape=note, "
                     'style=filled, fillcolor="#eeeeee"];')
    step_ids = {s.id for s in wf.steps}
    for step in wf.steps:
        extra = "\nfor each item" if step.map_over else ""
        extra += f"\nif {step.condition}" if step.condition else ""
        label = quote(f"{step.id}\n({step.tool_name}){extra}")
        lines.append(f'  {quote(step.id)} [label={label}, shape=box, style="rounded,filled", fillcolor="#dbe9f6"];')
    for step in wf.steps:
        edges: dict[str, set[str]] = {dep: set() for dep in step.depends_on}
        for param, value in step.parameters.items():
            for ref in iter_references(value):
                if ref.root in step_ids and ref.root != step.id:
                    edges.setdefault(ref.root, set()).add(param)
                elif ref.root in wf.inputs:
                    lines.append(f"  {quote('input:' + ref.root)} -> {quote(step.id)} "
                                 f"[label={quote(param)}, style=dashed];")
        if step.map_over:
            ref = parse_reference(step.map_over)
            if ref.root in step_ids:
                edges.setdefault(ref.root, set()).add(f"each of {format_path(ref.path).lstrip('.') or 'result'}")
        for dep, params in edges.items():
            lines.append(f"  {quote(dep)} -> {quote(step.id)} [label={quote(', '.join(sorted(params)))}];")
    lines.append("}")
    return "\n".join(lines)
