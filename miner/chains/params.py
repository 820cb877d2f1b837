"""Mining parameters: one frozen record, its defaults and the allowed ranges.

The CLI builds its option ranges from :data:`RANGES`, and
:meth:`MiningParams.check` raises :class:`~chainmine.miner.errors.MiningError` naming
the range, so the Python API and the command line reject the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from chainmine.miner.errors import MiningError

DEFAULT_MAX_GAP = 1
"""Default ``max_gap``: one unrelated call may sit between two steps.

Agents interleave the odd unrelated call (a note, a clarifying lookup) inside a
workflow, and commuting steps shift each other by one position. With no gap
such occurrences split the chain and leave fragments behind as separate
closed chains. Measured on 1M generated calls: with ``max_gap=0`` a planted
workflow with two commuting steps was found with half its 17k occurrences
plus a fragment chain (11 suggestions for 10 workflows); with ``max_gap=1``
exactly the 10 planted workflows. Each unit of gap adds one equi-join per
level and lets more chains grow: the level-wise search took 2.2 s instead of
0.8 s and the whole run 9.1 s instead of 6.9 s. Larger gaps mostly add
coincidental chains, so 1 is the default and ``--max-gap`` raises it for
noisier logs.
"""

RANGES: dict[str, tuple[float | None, float | None]] = {
    "min_frequency": (1, None),
    "min_sessions": (1, None),
    "min_success_rate": (0.0, 1.0),
    "min_success_low": (0.0, 1.0),
    "min_confidence": (0.0, 1.0),
    "min_length": (2, 10),
    "max_length": (2, 10),
    "max_gap": (0, 5),
    "closure": (0.0, 1.0),
    "sample_size": (1, 10_000),
    "top": (1, None),
    "min_one_call": (0.0, 1.0),
    "min_outcome": (0.0, 1.0),
}
"""Inclusive ``(low, high)`` bounds of each numeric parameter (``None``: unbounded)."""


def describe_range(name: str) -> str:
    """Human text for the allowed range of parameter ``name``.

    Examples
    --------
    >>> describe_range("min_confidence")
    'between 0.0 and 1.0'
    >>> describe_range("min_frequency")
    'at least 1'
    """
    low, high = RANGES[name]
    if high is None:
        return f"at least {low}"
    return f"between {low} and {high}"


@dataclass(frozen=True)
class MiningParams:
    """Thresholds and limits of one mining run.

    Examples
    --------
    >>> MiningParams(min_frequency=5).check().min_frequency
    5
    >>> MiningParams(min_confidence=2).check()
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.MiningError: min_confidence must be between 0.0 and 1.0, got 2
    """

    min_frequency: int = 3
    min_sessions: int = 2
    min_success_rate: float = 0.8
    min_success_low: float = 0.0
    min_confidence: float = 0.5
    min_length: int = 2
    max_length: int = 6
    max_gap: int = DEFAULT_MAX_GAP
    closure: float = 0.9
    keep_all: bool = False
    sample_size: int = 200
    top: int | None = None
    min_one_call: float = 0.5
    """Least share of occurrences an agent could have made as one call (see :mod:`chainmine.miner.synthesis.onecall`)."""
    min_outcome: float = 0.0
    """Least share of occurrences in successful sessions, where sessions carry an outcome."""
    include_runs: bool = False
    """Also mine the calls of recorded runs (``--include-runs``); see :mod:`chainmine.miner.origins`."""

    def check(self) -> "MiningParams":
        """Return ``self`` or raise :class:`MiningError` naming the allowed range."""
        for f in fields(self):
            if f.name not in RANGES:
                continue
            value = getattr(self, f.name)
            if value is None and f.name == "top":
                continue
            integral = f.type in ("int", "int | None")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    integral and not float(value).is_integer()):
                kind = "an integer" if integral else "a number"
                raise MiningError(f"{f.name} must be {kind} {describe_range(f.name)}, got {value!r}")
            low, high = RANGES[f.name]
            if (low is not None and value < low) or (high is not None and value > high):
                raise MiningError(f"{f.name} must be {describe_range(f.name)}, got {value!r}")
        if self.min_length > self.max_length:
            raise MiningError(f"min_length ({self.min_length}) must not exceed max_length "
                              f"({self.max_length}); raise --max-length or lower --min-length")
        return self
