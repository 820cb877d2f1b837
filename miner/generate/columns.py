"""Columns of generated calls: the simulator fills rows, :func:`finish_batch` vectorises the rest.

The simulator appends one row per call (tool, arguments, result, success,
error); durations, think time, time stamps, costs, sequence numbers and ids
are then drawn for the whole batch at once with numpy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

TIMEOUT_MS = 30000.0
THINK_MEDIAN_MS, THINK_SPREAD = 1400.0, 0.7   # the agent's own time between two calls (log-normal)

encode_json = json.JSONEncoder(separators=(",", ":")).encode
"""Compact JSON text of a value (how results and arguments are written)."""


@dataclass(frozen=True)
class Batch:
    """Columns of generated calls in file order (sessions contiguous, calls in order).

    ``planted`` is filled when the generator annotates: per call ``None`` for a
    stray call, else ``{"workflow", "occurrence", "step", "item", "retry"}``.
    ``result_json`` holds each result as compact JSON text (encoded once per
    distinct memoised result).

    Examples
    --------
    >>> from chainmine.miner.generate.engine import LogGenerator
    >>> b = next(LogGenerator(sessions=3, seed=1).batches())
    >>> len(b.tool) == len(b.ts) == len(b.session_id)
    True
    """

    session_id: list[str]
    ts: list[str]
    seq: list[int]
    tool: list[str]
    args: list[dict[str, Any]]
    result: list[Any]
    success: list[bool]
    error: list[str | None]
    duration_ms: list[float]
    cost: list[float | None]
    call_id: list[str]
    agent: list[str]
    user: list[str]
    session_outcome: list[float]
    planted: list[dict[str, Any] | None] | None = None
    result_json: list[str] | None = None

    def __len__(self) -> int:
        return len(self.tool)


class CallColumns:
    """Calls of one batch as rows ``(tool index, tool, args, result, success, error, result JSON or None)``,
    plus per-session values (agent, user, outcome, length).

    Examples
    --------
    >>> cols = CallColumns(annotate=False)
    >>> cols.open_session("bot", "ann"); cols.add((0, "t", {}, "Error: x", False, "E: x", None), None)
    >>> cols.close_session(); cols.lengths, cols.outcomes
    ([1], [0.0])
    """

    __slots__ = ("rows", "planted", "lengths", "agents", "users", "outcomes", "_start", "_failed")

    @property
    def last_tool(self) -> str | None:
        """The tool of the session's latest call, if any."""
        return self.rows[-1][1] if len(self.rows) > self._start else None

    def __init__(self, annotate: bool):
        self.rows: list[tuple] = []
        self.planted: list[dict[str, Any] | None] | None = [] if annotate else None
        self.lengths: list[int] = []
        self.agents: list[str] = []
        self.users: list[str] = []
        self.outcomes: list[float] = []
        self._start = 0
        self._failed = False

    def open_session(self, agent: str, user: str) -> None:
        self.agents.append(agent)
        self.users.append(user)
        self._start = len(self.rows)
        self._failed = False

    def close_session(self) -> None:
        self.lengths.append(len(self.rows) - self._start)
        self.outcomes.append(0.0 if self._failed else 1.0)

    def fail_session(self) -> None:
        """Mark the open session as failed (outcome 0) although its calls may all have worked."""
        self._failed = True

    def add(self, row: tuple, planted: dict[str, Any] | None) -> None:
        self.rows.append(row)
        if not row[4]:
            self._failed = True
        if self.planted is not None:
            self.planted.append(planted)


def finish_batch(cols: CallColumns, starts: np.ndarray, times: np.random.Generator, ids: np.random.Generator,
                 first: int, median: np.ndarray, spread: np.ndarray, base_costs: np.ndarray) -> Batch:
    """Turn a batch's simulated calls into columns, drawing every per-call number at once.

    ``starts`` are the sessions' start times (ms since the epoch), ``first``
    the index of the batch's first session; ``median``, ``spread`` and
    ``base_costs`` are per tool index (log-normal latency, cost per call).

    Examples
    --------
    >>> cols = CallColumns(annotate=False)
    >>> cols.open_session("bot", "ann"); cols.add((0, "t", {}, 1, True, None, "1"), None); cols.close_session()
    >>> rng = np.random.default_rng(0)
    >>> b = finish_batch(cols, np.array([0.0]), rng, rng, 0, np.array([100.0]), np.array([0.1]), np.array([0.0]))
    >>> b.ts, b.seq, b.cost
    (['1970-01-01T00:00:00.000Z'], [1], [None])

    Notes
    -----
    O(n) vectorised numpy over the n calls of the batch.
    """
    n = len(cols.rows)
    tool_idx_l, tool, args, result, success, error, encoded = (list(c) for c in zip(*cols.rows))
    lens = np.asarray(cols.lengths, dtype=np.int64)
    tool_idx = np.asarray(tool_idx_l, dtype=np.int64)
    duration = median[tool_idx] * np.exp(spread[tool_idx] * times.standard_normal(n))
    timed_out = np.fromiter((e is not None and e.startswith("TimeoutError") for e in error), bool, n)
    duration = np.where(timed_out, TIMEOUT_MS + duration * 0.05, duration).round(1)
    think = THINK_MEDIAN_MS * np.exp(THINK_SPREAD * times.standard_normal(n))
    step = duration + think
    ends = np.cumsum(step)
    session_first = np.repeat(np.cumsum(lens) - lens, lens)
    offset = ends - step - (ends - step)[session_first]
    ts_ms = np.repeat(starts, lens) + offset
    ts = np.datetime_as_string(ts_ms.astype(np.int64).astype("datetime64[ms]"), unit="ms", timezone="UTC")
    base_cost = base_costs[tool_idx]
    cost = np.where(base_cost > 0, (base_cost * (0.8 + 0.4 * times.random(n))).round(6), np.nan)
    seq = (np.arange(n) - session_first + 1).tolist()
    sess_rand = ids.integers(0, 1 << 32, len(lens))
    sids = [f"sess_{int(x):08x}_{first + i:06d}" for i, x in enumerate(sess_rand)]
    call_ids = [f"call_{int(x):016x}" for x in ids.integers(0, 1 << 63, n)]
    return Batch(
        session_id=[s for s, k in zip(sids, cols.lengths) for _ in range(k)],
        ts=ts.tolist(), seq=seq, tool=tool, args=args, result=result, success=success,
        error=error, duration_ms=duration.tolist(),
        cost=[None if c != c else c for c in cost.tolist()], call_id=call_ids,
        agent=_per_call(cols.agents, cols.lengths), user=_per_call(cols.users, cols.lengths),
        session_outcome=_per_call(cols.outcomes, cols.lengths), planted=cols.planted,
        result_json=[e if e is not None else encode_json(r) for e, r in zip(encoded, result)])


def _per_call(values: list[Any], lengths: list[int]) -> list[Any]:
    return [v for v, k in zip(values, lengths) for _ in range(k)]
