"""Durable run records: the :class:`RunRecorder` protocol and an in-memory recorder.

The runner reports every run, every step (as it starts and as it ends) and
every tool call through a recorder. :class:`MemoryRecorder` keeps them in
dictionaries (tests, notebooks); ``chainmine.miner.run_store.DuckDBRecorder`` writes them to
the ``runs``, ``run_steps`` and ``calls`` tables so an interrupted run can be
resumed and runs feed later mining.

Timestamps are epoch seconds (floats, UTC).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

RUN_STATUSES = ("running", "completed", "failed", "compensated", "cancelled", "budget_exceeded")
STEP_STATUSES = ("pending", "running", "completed", "failed", "skipped", "cancelled",
                 "not_run", "budget_exceeded")


@dataclass(frozen=True)
class RunRecord:
    """One workflow run as stored.

    Examples
    --------
    >>> RunRecord("r1", "lookup", status="running").status
    'running'
    """

    run_id: str
    workflow: str
    workflow_version: int | None = None
    workflow_json: dict[str, Any] | None = None
    status: str = "running"
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: Any = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: float | None = None
    total_cost: float = 0.0


@dataclass(frozen=True)
class StepRecord:
    """One step of a run as stored; written when it starts and again when it ends.

    ``details`` holds what does not fit a column: ``order`` (completion order,
    used to compensate a resumed run), ``item_errors`` of a partial map step,
    ``reason`` for a skip, ``notes`` about converted results and
    ``compensation`` (its status, error and result).

    Examples
    --------
    >>> StepRecord("r1", "get_user", "completed", tool="get_user_details", attempts=1).attempts
    1
    """

    run_id: str
    step_id: str
    status: str
    tool: str | None = None
    attempts: int = 0
    parameters: Any = None
    result: Any = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    duration_ms: float | None = None
    cost: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallRecord:
    """One tool call (one attempt, one map item, a fallback or a compensation).

    ``error_type`` is the class of the failure (``ValueError``, ``ToolTimeoutError``),
    where ``error`` is its one-line message.

    Examples
    --------
    >>> CallRecord("r1", "get_user", "get_user_details", seq=0, ts=0.0, success=True).success
    True
    """

    run_id: str
    step_id: str
    tool: str
    seq: int
    ts: float
    success: bool
    error: str | None = None
    duration_ms: float | None = None
    cost: float | None = None
    args: Any = None
    result: Any = None
    error_type: str | None = None


@dataclass(frozen=True)
class StoredRun:
    """A run record with its step records, as loaded for resuming.

    Examples
    --------
    >>> StoredRun(RunRecord("r1", "w"), {}).run.run_id
    'r1'
    """

    run: RunRecord
    steps: dict[str, StepRecord]


@runtime_checkable
class RunRecorder(Protocol):
    """Where the runner writes runs, steps and calls as they happen.

    Implementations must accept repeated :meth:`record_step` calls for one
    step (the last one wins) and may buffer :meth:`record_call` until
    :meth:`finish_run`.

    Examples
    --------
    >>> isinstance(MemoryRecorder(), RunRecorder)
    True
    """

    def start_run(self, run: RunRecord) -> None:
        """Store a new run (or restart a resumed one) with status ``running``."""

    def record_step(self, step: StepRecord) -> None:
        """Insert or replace the record of ``step.step_id`` in ``step.run_id``."""

    def record_call(self, call: CallRecord) -> None:
        """Store one tool call."""

    def finish_run(self, run: RunRecord) -> None:
        """Store the final state of a run."""

    def load_run(self, run_id: str) -> StoredRun | None:
        """The stored run and its steps, or None when ``run_id`` is unknown."""


class MemoryRecorder:
    """A :class:`RunRecorder` keeping everything in memory (thread-safe).

    Examples
    --------
    >>> rec = MemoryRecorder()
    >>> rec.start_run(RunRecord("r1", "w"))
    >>> rec.record_step(StepRecord("r1", "a", "completed", result=1))
    >>> rec.load_run("r1").steps["a"].result
    1
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs: dict[str, RunRecord] = {}
        self.steps: dict[str, dict[str, StepRecord]] = {}
        self.calls: list[CallRecord] = []

    def start_run(self, run: RunRecord) -> None:
        """Store ``run``; keeps the step records of a resumed run."""
        with self._lock:
            self.runs[run.run_id] = run
            self.steps.setdefault(run.run_id, {})

    def record_step(self, step: StepRecord) -> None:
        """Insert or replace one step record."""
        with self._lock:
            self.steps.setdefault(step.run_id, {})[step.step_id] = step

    def record_call(self, call: CallRecord) -> None:
        """Append one call record."""
        with self._lock:
            self.calls.append(call)

    def finish_run(self, run: RunRecord) -> None:
        """Replace the run record with its final state."""
        with self._lock:
            self.runs[run.run_id] = run

    def load_run(self, run_id: str) -> StoredRun | None:
        """The run and its steps, or None."""
        with self._lock:
            run = self.runs.get(run_id)
            if run is None:
                return None
            return StoredRun(run, dict(self.steps.get(run_id, {})))
