"""One ordered pass over the sessions, shared by transitions, the graph and variants.

Ordering calls inside sessions is the expensive step (a sort of every call);
everything that needs the order (directly-follows edges, start/end counts,
session variants) is computed from one materialised window pass in a single
statement, so ``chainmine stats`` sorts the calls once.

Variants are grouped without building a list per session: a session's
sequence is identified by ``(sum of hash(tool_id, position), length)`` (an
order-sensitive fingerprint; a 64-bit collision between two different
sequences is about as likely as a cosmic-ray bit flip), and only the top
variants' sequences are read back, from one example session each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from chainmine.miner.analytics.filters import CallFilter, limit_value
from chainmine.miner.store import ORDER_BY

PARTS = ("edges", "nodes", "variants")


@dataclass(frozen=True)
class SequenceFigures:
    """Raw rows of one ordered pass (names already joined).

    ``edges``: ``(from, to, count, probability)``; ``nodes``: ``(tool, calls,
    success_rate, starts, ends)``; ``variants``: ``(tools, sessions, share)``.

    Examples
    --------
    >>> SequenceFigures().edges
    []
    """

    edges: list[tuple[str, str, int, float]] = field(default_factory=list)
    nodes: list[tuple[str, int, float, int, int]] = field(default_factory=list)
    variants: list[tuple[tuple[str, ...], int, float]] = field(default_factory=list)


def sequence_figures(con: duckdb.DuckDBPyConnection, flt: CallFilter, parts: tuple[str, ...] = PARTS, *,
                     edges_top: int | None = None, variants_top: int | None = 10,
                     collapse_repeats: bool = False) -> SequenceFigures:
    """Compute the requested ``parts`` from one ordered pass over the filtered calls.

    Time and agent filters cut the sequences. A tool filter keeps edges that
    touch its tools (probabilities still count every edge out of the source)
    and variants of sessions that call one of them; nodes are returned for
    every tool (the graph trims them).

    Parameters
    ----------
    parts : tuple of ``"edges"``, ``"nodes"``, ``"variants"``
    edges_top, variants_top : int or None
        Keep the most frequent edges / variants (``None``: all).
    collapse_repeats : bool
        Variants treat a run of one tool as one step.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> sequence_figures(con, CallFilter()).variants
    []

    Notes
    -----
    One window sort of the filtered calls, O(n log n); the rest are hash
    aggregations over integer ids, plus one filtered scan for the example
    sessions of the top variants.
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    where, params = flt.where(tools=False)
    ctes = [f"""s AS MATERIALIZED (
        SELECT session_id, tool_id, success, row_number() OVER w AS rn, lead(tool_id) OVER w AS nxt,
               {'lag(tool_id) OVER w' if collapse_repeats else 'NULL::INTEGER'} AS prev
        FROM calls WHERE {where}
        WINDOW w AS (PARTITION BY session_id ORDER BY {ORDER_BY}))"""]
    selects: list[str] = []
    select_params: list[Any] = []  # placeholders in the SELECTs come after those in the CTEs
    tools = [list(flt.tools)] if flt.tools else []
    if "edges" in parts:
        keep = f"({flt.tool_condition('a')} OR {flt.tool_condition('b')})" if flt.tools else "TRUE"
        ctes.append("""e AS (SELECT a, b, n, n / sum(n) OVER (PARTITION BY a) AS p FROM (
                           SELECT tool_id AS a, nxt AS b, count(*) AS n FROM s WHERE nxt IS NOT NULL GROUP BY ALL))""")
        selects.append(f"""SELECT * FROM (
            SELECT 'edge' AS kind, ta.tool AS c1, tb.tool AS c2, e.n AS c3, e.p AS c4,
                   NULL::BIGINT AS c5, NULL::BIGINT AS c6
            FROM e JOIN tools ta ON ta.tool_id = e.a JOIN tools tb ON tb.tool_id = e.b
            WHERE {keep} ORDER BY e.n DESC, ta.tool, tb.tool LIMIT ?)""")
        select_params += tools * 2 + [limit_value(edges_top)]
    if "nodes" in parts:
        selects.append("""SELECT 'node', t.tool, NULL, count(*), avg(success::DOUBLE), count(*) FILTER (WHERE rn = 1),
                                 count(*) FILTER (WHERE nxt IS NULL)
                          FROM s JOIN tools t USING (tool_id) GROUP BY t.tool""")
    if "variants" in parts:
        step = "(prev IS NULL OR prev <> tool_id)" if collapse_repeats else "TRUE"
        # a collapsed sequence numbers its steps by the count of tool changes so far
        position = f"sum(CASE WHEN {step} THEN 1 ELSE 0 END) OVER w2" if collapse_repeats else "rn"
        has_tool = f"bool_or({flt.tool_condition('tool_id')})" if flt.tools else "TRUE"
        ctes.append(f"""h AS (
            SELECT session_id, sum(hash(tool_id, pos)) FILTER (WHERE {step}) AS fp,
                   count(*) FILTER (WHERE {step}) AS len, {has_tool} AS keep
            FROM (SELECT *, {position} AS pos FROM s
                  {'WINDOW w2 AS (PARTITION BY session_id ORDER BY rn)' if collapse_repeats else ''})
            GROUP BY session_id)""")
        params += tools
        selects.append("""SELECT * FROM (
            SELECT 'variant', min(session_id), NULL, count(*), count(*) / sum(count(*)) OVER (), any_value(len), NULL
            FROM h WHERE keep GROUP BY fp, len ORDER BY count(*) DESC, any_value(len), fp LIMIT ?)""")
        select_params.append(limit_value(variants_top))
    if not selects:
        return SequenceFigures()
    sql = "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL\n".join(selects)
    rows = con.execute(sql, params + select_params).fetchall()
    edges = sorted(((r[1], r[2], r[3], r[4]) for r in rows if r[0] == "edge"), key=lambda e: (-e[2], e[0], e[1]))
    nodes = sorted((r[1], r[3], r[4], r[5], r[6]) for r in rows if r[0] == "node")
    found = [(r[1], r[3], r[4], r[5]) for r in rows if r[0] == "variant"]
    return SequenceFigures(edges=edges, nodes=nodes,
                           variants=_variant_tools(con, flt, found, collapse_repeats))


def _variant_tools(con: duckdb.DuckDBPyConnection, flt: CallFilter, found: list[tuple[Any, ...]],
                   collapse: bool) -> list[tuple[tuple[str, ...], int, float]]:
    """Read the tool sequence of each variant's example session."""
    if not found:
        return []
    where, params = flt.where(tools=False)
    seqs = dict(con.execute(f"""
        SELECT session_id, list(tool_id ORDER BY {ORDER_BY}) FROM calls
        WHERE session_id IN (SELECT unnest(?::VARCHAR[])) AND {where}
        GROUP BY session_id""", [[f[0] for f in found]] + params).fetchall())
    names = dict(con.execute("SELECT tool_id, tool FROM tools WHERE tool_id IN (SELECT unnest(?::INTEGER[]))",
                             [sorted({i for ids in seqs.values() for i in ids})]).fetchall())
    out = []
    for example, sessions, share, _ in found:
        tools = [names[i] for i in seqs[example]]
        if collapse:
            tools = [t for i, t in enumerate(tools) if i == 0 or tools[i - 1] != t]
        out.append((tuple(tools), sessions, share))
    return sorted(out, key=lambda v: (-v[1], len(v[0]), v[0]))
