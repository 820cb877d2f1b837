"""Session variants: the most common whole-session tool sequences.

In real agent logs nearly every session is its own variant; variants are a
quick look at the data (and at single-call or scripted sessions), not the
unit of mining.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from chainmine.miner.analytics.filters import CallFilter, resolve
from chainmine.miner.analytics.overview import require_calls_table
from chainmine.miner.analytics.sequences import sequence_figures


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
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con); session_variants(con)
    []

    Notes
    -----
    One window sort of the filtered calls, O(n log n), then a group-by over
    an order-sensitive fingerprint per session (see :mod:`chainmine.miner.analytics.sequences`).
    """
    require_calls_table(con)
    figures = sequence_figures(con, resolve(flt), ("variants",), variants_top=top,
                               collapse_repeats=collapse_repeats)
    return [Variant(*v) for v in figures.variants]
