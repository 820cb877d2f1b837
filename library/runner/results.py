"""What a run returns: :class:`RunResult` with one :class:`StepResult` per step.

``RunResult.to_dict()`` is the ``chainmine run --json`` document:
``{"run_id", "status", "outputs", "steps": [{"id", "status", "attempts",
"duration_ms", "cost", "error", ...}], "total_cost", "duration_ms"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class StepResult:
    """The outcome of one step.

    ``status`` is ``completed``, ``failed``, ``skipped``, ``cancelled``
    (running when the run stopped), ``not_run`` (never started) or
    ``budget_exceeded`` (refused by the budget). Times are epoch seconds.

    Examples
    --------
    >>> StepResult("a", "t", "completed", result={"x": 1}, attempts=1).ok
    True
    """

    step_id: str
    tool: str
    status: str
    result: Any = None
    attempts: int = 0
    duration_ms: float | None = None
    cost: float | None = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    parameters: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the step completed."""
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        """The step as listed in the run's JSON.

        Examples
        --------
        >>> list(StepResult("a", "t", "skipped").to_dict())[:6]
        ['id', 'status', 'attempts', 'duration_ms', 'cost', 'error']
        """
        out = {"id": self.step_id, "status": self.status, "attempts": self.attempts,
               "duration_ms": _round(self.duration_ms), "cost": self.cost, "error": self.error,
               "tool": self.tool, "started_at": self.started_at, "finished_at": self.finished_at,
               "result": self.result}
        for key in ("reason", "item_errors", "notes", "compensation", "fallback_used", "reused"):
            if key in self.details:
                out[key] = self.details[key]
        return out


@dataclass(frozen=True)
class RunResult:
    """The outcome of a run.

    ``status``: ``completed``, ``failed``, ``compensated`` (failed, and every
    compensation succeeded), ``cancelled`` or ``budget_exceeded``.
    ``record_errors`` counts writes the recorder refused (they are logged;
    the run itself carries on).

    Examples
    --------
    >>> r = RunResult("r1", "w", "completed", steps={
    ...     "a": StepResult("a", "t", "completed", duration_ms=40.0),
    ...     "b": StepResult("b", "t", "completed", duration_ms=40.0)}, duration_ms=50.0)
    >>> r.completed_steps, r.parallel_speedup
    (['a', 'b'], 1.6)
    """

    run_id: str
    workflow: str
    status: str
    outputs: Any = None
    steps: dict[str, StepResult] = field(default_factory=dict)
    duration_ms: float = 0.0
    total_cost: float = 0.0
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    resumed: bool = False
    record_errors: int = 0

    def __repr__(self) -> str:
        # Short on purpose: asyncio formats the finished task's result when it restores
        # the SIGINT handler, and a full repr of thousands of steps is slow and unreadable.
        return (f"RunResult(run_id={self.run_id!r}, workflow={self.workflow!r}, status={self.status!r}, "
                f"steps={len(self.steps)}, total_cost={self.total_cost!r}, duration_ms={self.duration_ms!r})")

    @property
    def ok(self) -> bool:
        """True when the run completed."""
        return self.status == "completed"

    @property
    def completed_steps(self) -> list[str]:
        """Ids of completed steps, in workflow order."""
        return [sid for sid, s in self.steps.items() if s.status == "completed"]

    @property
    def failed_steps(self) -> list[str]:
        """Ids of failed steps (including one refused by the budget)."""
        return [sid for sid, s in self.steps.items() if s.status in ("failed", "budget_exceeded")]

    @property
    def skipped_steps(self) -> list[str]:
        """Ids of steps skipped by their condition (or a skipped input)."""
        return [sid for sid, s in self.steps.items() if s.status == "skipped"]

    @property
    def parallel_speedup(self) -> float:
        """Sum of step durations over wall time: above 1 means steps overlapped."""
        busy = sum(s.duration_ms or 0.0 for s in self.steps.values() if not s.details.get("reused"))
        return round(busy / self.duration_ms, 3) if self.duration_ms > 0 else 0.0

    def step(self, step_id: str) -> StepResult:
        """The result of ``step_id``."""
        return self.steps[step_id]

    def to_dict(self) -> dict[str, Any]:
        """The ``chainmine run --json`` document.

        Examples
        --------
        >>> doc = RunResult("r1", "w", "failed", error="boom").to_dict()
        >>> [doc[k] for k in ("run_id", "status", "outputs", "steps", "total_cost", "duration_ms")]
        ['r1', 'failed', None, [], 0.0, 0.0]
        """
        return {"run_id": self.run_id, "workflow": self.workflow, "status": self.status,
                "outputs": self.outputs, "steps": [s.to_dict() for s in self.steps.values()],
                "total_cost": self.total_cost, "duration_ms": _round(self.duration_ms),
                "error": self.error, "completed_steps": self.completed_steps,
                "failed_steps": self.failed_steps, "parallel_speedup": self.parallel_speedup,
                "started_at": self.started_at, "finished_at": self.finished_at, "resumed": self.resumed,
                "record_errors": self.record_errors}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
