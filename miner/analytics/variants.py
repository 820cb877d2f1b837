"""Session variants: the most common whole-session tool sequences.

In real agent logs nearly every session is its own variant; variants are a
quick look at the data (and at single-call or scripted sessions), not the
unit of mining.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from miner.analytics.filters import CallFilter, limit_value, resolve
from miner.analytics.overview import require_calls_table
from miner.store import ORDER_BY


@dataclass(frozen=True)
class Variant:
    """A whole-session tool sequence and how many sessions followed it.

    Examples
    --------
    >>> Variant(("a", "b"), 3, 0.5).to_dict()
    {'tools': ['a', 'b'], 'sessions': 3, 'share': 0.5, 'length': 2}
    """

    tools: tuple[str, ...]
    sessions: int
    share: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``share`` is the part of the filtered sessions."""
        return {"tools": list(self.tools), "sessions": self.sessions, "share": self.share, "length": len(self.tools)}


def session_variants(con: duckdb.DuckDBPyConnection, flt: CallFilter | None = None, top: int | None = 10,
                     *, collapse_repeats: bool = False) -> list[Variant]:
    """The ``top`` most common session sequences, most common first.

    Time and agent filters cut the sessions; a tool filter keeps the sessions
    that call at least one of its tools (their whole sequences are shown).
    ``collapse_repeats`` turns a run of one tool (``a, b, b, b``) into one
    step (``a, b``).

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); session_variants(con)
    []

    Notes
    -----
    One ordered list aggregate per session, then a group-by over the integer
    lists: O(n log n) in the filtered calls.
    """
    require_calls_table(con)
    flt = resolve(flt)
    where, params = flt.where(tools=False)
    having, having_params = "TRUE", []
    if flt.tools:
        having = f"list_has_any(seq, (SELECT list(tool_id) FROM tools WHERE tool IN (SELECT unnest(?::VARCHAR[]))))"
        having_params = [list(flt.tools)]
    collapse = "list_filter(seq, lambda x, i: i = 1 OR x <> seq[i - 1])" if collapse_repeats else "seq"
    rows = con.execute(f"""
        WITH s AS (SELECT list(tool_id ORDER BY {ORDER_BY}) AS seq FROM calls WHERE {where} GROUP BY session_id),
        kept AS (SELECT {collapse} AS seq FROM s WHERE {having}),
        v AS (SELECT seq, count(*) AS n FROM kept GROUP BY seq),
        total AS (SELECT count(*) AS sessions FROM kept)
        SELECT v.seq, v.n, v.n / total.sessions FROM v, total
        ORDER BY v.n DESC, len(v.seq), v.seq
        LIMIT ?""", params + having_params + [limit_value(top)]).fetchall()
    if not rows:
        return []
    ids = sorted({i for seq, _, _ in rows for i in seq})
    names = dict(con.execute("SELECT tool_id, tool FROM tools WHERE tool_id IN (SELECT unnest(?::INTEGER[]))",
                             [ids]).fetchall())
    return [Variant(tuple(names[i] for i in seq), n, share) for seq, n, share in rows]
