"""Compensation (the saga pattern): undo completed steps after a run fails, is cancelled or runs out of budget.

Each completed step that declares ``compensation`` gets its compensation
called, in reverse completion order, with templates resolved against the
run's values — including the step's own result (``{{step_id.path}}``). A
compensation uses its step's retry policy and timeout. A failing
compensation is recorded on its step (``details["compensation"]``) and
emitted as ``compensation.failed``; it never raises, and the remaining
compensations still run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from chainmine.library.errors import LibraryError
from chainmine.library.runner.calls import CallFailed, describe_error, idempotency_key
from chainmine.library.runner.events import COMPENSATION_COMPLETED, COMPENSATION_FAILED, COMPENSATION_STARTED
from chainmine.library.templates import resolve



class CompensableRun(Protocol):
    """What compensation needs of a stopped run (:class:`chainmine.library.runner.engine.RunEngine` is one)."""

    run_id: str
    plan: Any
    ctx: Any
    caller: Any
    states: dict[str, Any]
    policies: dict[str, Any]
    completion_order: list[str]

    def emit(self, kind: str, step_id: str | None, data: dict[str, Any]) -> None: ...

    def record_step(self, sid: str) -> None: ...

log = logging.getLogger(__name__)


async def compensate(engine: CompensableRun) -> tuple[bool, bool]:
    """Run the compensations of ``engine``'s completed steps, newest first.

    Returns ``(any_ran, all_succeeded)``. Called by the engine itself once no
    step is running any more.

    Parameters
    ----------
    engine : CompensableRun
        The stopped run (the engine itself).

    Returns
    -------
    (bool, bool)

    Examples
    --------
    >>> import asyncio
    >>> from chainmine.library.model import WorkflowTemplate, WorkflowStep
    >>> from chainmine.library.runner import WorkflowExecutor, MemoryRecorder
    >>> wf = WorkflowTemplate(name="w", status="accepted", steps=[
    ...     WorkflowStep(id="book", tool_name="book",
    ...                  compensation={"tool_name": "cancel", "parameters": {"ref": "{{book.ref}}"}}),
    ...     WorkflowStep(id="pay", tool_name="pay", depends_on=["book"])])
    >>> def pay(): raise ValueError("card declined")
    >>> tools = {"book": lambda: {"ref": "B1"}, "cancel": lambda ref: {"cancelled": ref}, "pay": pay}
    >>> result = WorkflowExecutor(tools).execute(wf, {}, confirm=True)  # `pay` is destructive
    >>> result.status, result.steps["book"].details["compensation"]["result"]
    ('compensated', {'cancelled': 'B1'})

    Notes
    -----
    O(S) for S completed steps, one sequential call per compensation.
    """
    ran = False
    all_ok = True
    for sid in reversed(engine.completion_order):
        ps = engine.plan.steps[sid]
        st = engine.states[sid]
        comp = ps.step.compensation
        if comp is None or ps.compensation is None or st.status != "completed":
            continue
        ran = True
        engine.emit(COMPENSATION_STARTED, sid, {"tool": comp.tool_name})
        record = {"tool": comp.tool_name, "status": "failed"}
        try:
            params = resolve(comp.parameters, engine.ctx.scope, where=f"compensation of step {sid!r}")
            out = await engine.caller.call(ps.compensation, params, sid, engine.policies[sid],
                                           timeout=ps.step.timeout,
                                           key=idempotency_key(engine.run_id, sid, kind="undo"))
        except (CallFailed, LibraryError) as exc:
            all_ok = False
            record["error"] = describe_error(exc)
            log.warning("compensation of step %r in run %s failed: %s", sid, engine.run_id, record["error"])
            engine.emit(COMPENSATION_FAILED, sid, {"tool": comp.tool_name, "error": record["error"]})
        except asyncio.CancelledError:
            record["error"] = "cancelled before it finished"
            st.details["compensation"] = record
            engine.record_step(sid)
            raise
        else:
            record.update(status="completed", result=out.value, attempts=out.attempts, cost=out.cost)
            engine.emit(COMPENSATION_COMPLETED, sid, {"tool": comp.tool_name, "attempts": out.attempts})
        st.details["compensation"] = record
        engine.record_step(sid)
    return ran, all_ok
