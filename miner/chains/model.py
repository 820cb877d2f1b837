"""The mined chain record and the figures used to rank it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def wilson_lower(successes: int, n: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval (95% by default) for a success rate.

    Parameters
    ----------
    successes, n : successful and total occurrences.
    z : normal quantile (1.96 for 95%).

    Examples
    --------
    >>> round(wilson_lower(97, 100), 3)
    0.915
    >>> wilson_lower(0, 0)
    0.0

    Notes
    -----
    O(1).
    """
    if n <= 0:
        return 0.0
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z2 / n))


def round_trips_saved(frequency: int, avg_calls: float) -> float:
    """Model round-trips a workflow would have replaced: ``frequency * (avg_calls - 1)``.

    Running a chain of ``c`` calls as one workflow call takes one round-trip
    instead of ``c``, so each occurrence saves ``c - 1`` (map steps count every call).

    Examples
    --------
    >>> round_trips_saved(100, 3.5)
    250.0
    """
    return float(frequency) * max(float(avg_calls) - 1.0, 0.0)


def chain_score(frequency: int, avg_calls: float, success_rate: float) -> float:
    """Ranking score: ``frequency * (avg_calls - 1) * success_rate``.

    The round-trips the workflow would have saved over the logs, discounted by
    how often the chain actually succeeded.

    Examples
    --------
    >>> chain_score(100, 3.0, 0.9)
    180.0
    """
    return round_trips_saved(frequency, avg_calls) * float(success_rate)


def slot_positions(chain: "Chain") -> list[int]:
    """The slot index of each step of ``chain`` (steps of one slot commute).

    Examples
    --------
    >>> slot_positions(Chain(("a", "b", "c", "d"), 3, 2, 1.0, 0.4, None, None, 4.0, 1.0,
    ...                      parallel_groups=((1, 2),)))
    [0, 1, 1, 2]
    """
    out = [0] * len(chain.tools)
    for s, slot in enumerate(chain.slot_indices):
        for i in slot:
            out[i] = s
    return out


@dataclass(frozen=True)
class Chain:
    """A frequent, reliable, cohesive tool chain found in the logs.

    ``tools`` is the observed order of the most frequent variant;
    ``parallel_groups`` lists index groups of ``tools`` whose steps were seen
    in more than one order (they commute); ``variants`` are the merged orders.
    ``dataflow_junctions`` are the junctions (index of the step after it) kept
    only because data flows across them.

    Examples
    --------
    >>> c = Chain(("a", "b", "c"), frequency=10, sessions=9, success_rate=1.0,
    ...           success_rate_low=0.72, avg_duration_ms=None, avg_cost=None,
    ...           avg_calls=3.0, confidence=1.0, parallel_groups=((1, 2),))
    >>> c.slots
    (('a',), ('b', 'c'))
    >>> c.score, c.round_trips_saved
    (20.0, 20.0)
    """

    tools: tuple[str, ...]
    frequency: int
    sessions: int
    success_rate: float
    success_rate_low: float
    avg_duration_ms: float | None
    avg_cost: float | None
    avg_calls: float
    confidence: float
    parallel_groups: tuple[tuple[int, ...], ...] = ()
    example_sessions: tuple[str, ...] = ()
    variants: tuple[tuple[str, ...], ...] = ()
    dataflow_junctions: tuple[int, ...] = ()
    keys: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    @property
    def slots(self) -> tuple[tuple[str, ...], ...]:
        """Tools grouped into consecutive slots; a slot of several tools is a parallel group."""
        return tuple(tuple(self.tools[i] for i in group) for group in self.slot_indices)

    @property
    def slot_indices(self) -> tuple[tuple[int, ...], ...]:
        """Like :attr:`slots`, with indices into :attr:`tools`."""
        grouped = {i: g for g in self.parallel_groups for i in g}
        out: list[tuple[int, ...]] = []
        for i in range(len(self.tools)):
            group = grouped.get(i, (i,))
            if group[0] == i:
                out.append(tuple(group))
        return tuple(out)

    @property
    def round_trips_saved(self) -> float:
        """See :func:`round_trips_saved`."""
        return round_trips_saved(self.frequency, self.avg_calls)

    @property
    def score(self) -> float:
        """See :func:`chain_score`."""
        return chain_score(self.frequency, self.avg_calls, self.success_rate)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (without internal keys).

        Examples
        --------
        >>> Chain(("a", "b"), 3, 2, 1.0, 0.4, None, None, 2.0, 1.0).to_dict()["tools"]
        ['a', 'b']
        """
        return {"tools": list(self.tools), "frequency": self.frequency, "sessions": self.sessions,
                "success_rate": self.success_rate, "success_rate_low": self.success_rate_low,
                "avg_duration_ms": self.avg_duration_ms, "avg_cost": self.avg_cost,
                "avg_calls": self.avg_calls, "confidence": self.confidence,
                "parallel_groups": [list(g) for g in self.parallel_groups],
                "example_sessions": list(self.example_sessions),
                "variants": [list(v) for v in self.variants],
                "dataflow_junctions": list(self.dataflow_junctions),
                "score": self.score, "round_trips_saved": self.round_trips_saved}
