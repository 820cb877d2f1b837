"""The run engine: one :class:`RunEngine` per run (and per sub-workflow run).

Scheduling is by dependencies, not levels: every step keeps a count of
unfinished upstream steps, and the moment a step finishes each dependant whose
count reaches zero starts as its own asyncio task. Tool calls share one
semaphore (the executor's ``max_concurrency``).

Skip rule. A step whose ``condition`` is false is skipped; its result is
``SKIPPED`` (conditions can test ``{{step}} is skipped``). A step whose
parameters or ``map_over`` read a skipped step's result is skipped too —
unless its own condition reads that step, in which case the condition decided
to run it and the skipped reference resolves to ``null`` (``""`` inside text).
A condition that cannot be evaluated because a step it reads was skipped
(``{{perk.level}} > 2``) skips its step too. A step that only orders after a
skipped step (``depends_on``) still runs.

A failing step stops the run: running steps are cancelled, nothing new starts,
and the compensations of completed steps run in reverse completion order
(:mod:`chainmine.library.runner.saga`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any, Mapping

from chainmine.library.conditions import SKIPPED
from chainmine.library.errors import LibraryError
from chainmine.library.runner import saga
from chainmine.library.runner.calls import CallFailed, ToolCaller, describe_error, idempotency_key
from chainmine.library.runner.context import ItemScope, WorkflowContext
from chainmine.library.runner.events import (STEP_COMPLETED, STEP_FAILED, STEP_SKIPPED, STEP_STARTED,
                                   WORKFLOW_COMPLETED, WORKFLOW_FAILED, WORKFLOW_STARTED, Event,
                                   EventBus)
from chainmine.library.runner.plan import Plan, PlannedStep
from chainmine.library.runner.recorder import RunRecord, RunRecorder, StepRecord
from chainmine.library.runner.resilience import RetryPolicy
from chainmine.library.runner.results import RunResult, StepResult
from chainmine.library.runner.choices import choice_problem
from chainmine.library.templates import TEMPLATE_RE, resolve

log = logging.getLogger(__name__)
FINISHED = frozenset({"completed", "failed", "skipped", "cancelled", "budget_exceeded", "not_run"})


class StepState:
    """Mutable bookkeeping of one step while the run is in flight.

    Examples
    --------
    >>> StepState("get_user").status
    'pending'
    """

    __slots__ = ("status", "result", "attempts", "cost", "error", "started_at", "finished_at",
                 "duration_ms", "parameters", "details", "tool")

    def __init__(self, tool: str):
        self.status = "pending"
        self.result: Any = None
        self.attempts = 0
        self.cost: float | None = None
        self.error: str | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.duration_ms: float | None = None
        self.parameters: Any = None
        self.details: dict[str, Any] = {}
        self.tool = tool


class StepStopped(Exception):
    """A step ends without a result; ``status`` says how (``skipped``, ``failed``, ``budget_exceeded``).

    Examples
    --------
    >>> StepStopped("skipped", "condition is false").status
    'skipped'
    """

    def __init__(self, status: str, message: str, attempts: int = 0):
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class RunEngine:
    """Runs one plan to the end; built and driven by :class:`chainmine.library.runner.executor.WorkflowExecutor`.

    Examples
    --------
    >>> from chainmine.library.runner import WorkflowExecutor
    >>> ex = WorkflowExecutor({"t": lambda: 1})
    >>> plan = ex.plan({"name": "w", "steps": [{"id": "a", "tool_name": "t"}]})
    >>> engine = ex._engine(plan, WorkflowContext(), "r1", None)
    >>> asyncio.run(engine.run()).outputs
    {'a': 1}
    """

    def __init__(self, plan: Plan, ctx: WorkflowContext, run_id: str, caller: ToolCaller, *,
                 recorder: RunRecorder | None, events: EventBus | None, budget: float | None,
                 jitter: float, max_retry_delay: float, executor: Any, resumed: bool = False):
        self.plan = plan
        self.wf = plan.workflow
        self.ctx = ctx
        self.run_id = run_id
        self.caller = caller
        self.recorder = recorder
        self.events = events
        self.budget = budget
        self.executor = executor
        self.resumed = resumed
        self.states = {sid: StepState(plan.steps[sid].step.tool_name) for sid in plan.order}
        self.policies = {sid: RetryPolicy(ps.step.max_retries, ps.step.retry_delay, ps.step.backoff,
                                          jitter, max_retry_delay) for sid, ps in plan.steps.items()}
        self.completion_order: list[str] = []
        self.running: dict[str, asyncio.Task] = {}
        self.remaining: dict[str, int] = {}
        self.finished = 0
        self.spent = 0.0          # this invocation's spending, checked against the budget
        self.reserved = 0.0       # estimates of steps in flight
        self.stop_reason: str | None = None
        self.error: str | None = None
        self.record_errors = 0
        self._done: asyncio.Event | None = None
        self._workflow_json: dict[str, Any] | None = None

    # ----------------------------------------------------------------- lifecycle
    def preset(self, step_id: str, state: StepState) -> None:
        """Reuse a step finished by an earlier attempt of this run (resume)."""
        self.states[step_id] = state
        if state.status == "skipped":
            self.ctx.mark_skipped(step_id)
        else:
            self.ctx.set_result(step_id, state.result)
            self.completion_order.append(step_id)

    async def run(self) -> RunResult:
        """Run every step that is not finished yet; compensate on failure; return the result."""
        started_at, t0 = time.time(), time.perf_counter()
        self._done = asyncio.Event()
        self.emit(WORKFLOW_STARTED, None, {"steps": len(self.plan.order), "resumed": self.resumed})
        self._safe_record(lambda r: r.start_run(self._run_record("running", started_at)))
        for sid in self.plan.order:
            self.remaining[sid] = sum(1 for d in self.plan.steps[sid].deps
                                      if self.states[d].status not in ("completed", "skipped"))
        self.finished = sum(1 for st in self.states.values() if st.status in ("completed", "skipped"))
        for sid in self.plan.order:
            if self.states[sid].status == "pending" and self.remaining[sid] == 0:
                self._start(sid)
        self._check_done()
        try:
            await self._done.wait()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # handled here: the run ends as `cancelled` with a result
            self.stop("cancelled", "run cancelled")
            await self._drain()
        outputs = None
        if self.stop_reason is None:
            try:
                outputs = self._outputs()
            except LibraryError as exc:
                self.stop("failed", f"outputs: {exc}")
        status = self.stop_reason or "completed"
        if self.stop_reason is not None:
            ran, all_ok = await saga.compensate(self)
            if status == "failed" and ran and all_ok:
                status = "compensated"
        for sid, st in self.states.items():
            if st.status in ("pending", "running"):
                st.status = "not_run"
                self.record_step(sid)
        return self._finish(status, outputs, started_at, (time.perf_counter() - t0) * 1000)

    def stop(self, reason: str, error: str) -> None:
        """Stop the run: keep the first reason, cancel running steps, start nothing new."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.error = error
        for task in list(self.running.values()):
            task.cancel()
        self._check_done()

    async def _drain(self) -> None:
        while self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)
            await asyncio.sleep(0)  # let done-callbacks run

    def _check_done(self) -> None:
        if self._done is not None and not self.running and (
                self.stop_reason is not None or self.finished >= len(self.plan.order)):
            self._done.set()

    def _start(self, sid: str) -> None:
        task = asyncio.get_running_loop().create_task(self._step(sid), name=f"{self.run_id}:{sid}")
        self.running[sid] = task
        task.add_done_callback(lambda _t, sid=sid: self._after(sid))

    def _after(self, sid: str) -> None:
        self.running.pop(sid, None)
        st = self.states[sid]
        if st.status in ("pending", "running"):  # cancelled before it could say so
            st.status = "cancelled" if st.status == "running" else "not_run"
            self.record_step(sid)
        self.finished += 1
        if st.status == "failed":
            self.stop("failed", st.error or f"step {sid!r} failed")
        elif st.status == "budget_exceeded":
            self.stop("budget_exceeded", st.error or "budget exceeded")
        if self.stop_reason is None:
            for dep in self.plan.steps[sid].dependants:
                self.remaining[dep] -= 1
                if self.remaining[dep] == 0 and self.states[dep].status == "pending":
                    self._start(dep)
        self._check_done()

    # ----------------------------------------------------------------- one step
    async def _step(self, sid: str) -> None:
        ps = self.plan.steps[sid]
        st = self.states[sid]
        try:
            items, params = self._prepare(ps)
            estimate = (ps.cost_estimate or 0.0) * (len(items) if items is not None else 1)
            if self.budget is not None and self.spent + self.reserved + estimate > self.budget + 1e-9:
                left = max(0.0, self.budget - self.spent - self.reserved)
                raise StepStopped("budget_exceeded", f"step {sid!r} estimated cost {estimate:g} exceeds "
                                                     f"the {left:g} left of budget {self.budget:g}")
            self.reserved += estimate
            st.status = "running"
            st.parameters = params if items is None else {"map_over": items, "parameters": ps.step.parameters}
            st.started_at = time.time()
            t0 = time.perf_counter()
            if ps.subplan is None:  # journaled, so a resumed run can show it reuses the keys
                key = idempotency_key(self.run_id, sid)
                st.details["idempotency_key"] = key if items is None else [f"{key}:{i}" for i in range(len(items))]
            self.emit(STEP_STARTED, sid, {"tool": st.tool, "items": None if items is None else len(items)})
            self.record_step(sid)
            try:
                if ps.subplan is not None:
                    value, cost, attempts = await self._subflow(ps, params)
                elif items is not None:
                    value, cost, attempts = await self._map(ps, items)
                else:
                    out = await self.caller.call(ps.tool, params, sid, self.policies[sid], timeout=ps.step.timeout,
                                                 fallback=ps.fallback)
                    value, attempts = out.value, out.attempts
                    cost = out.cost if out.cost is not None else ps.step.cost_estimate
                    if out.notes:
                        st.details["notes"] = list(out.notes)
                    if out.fallback_used:
                        st.details["fallback_used"] = True
            finally:
                self.reserved -= estimate
                st.finished_at = time.time()
                st.duration_ms = (time.perf_counter() - t0) * 1000
            st.result, st.attempts, st.cost = value, attempts, cost
            self.spent += cost or 0.0
            st.status = "completed"
            self.ctx.set_result(sid, value)
            self.completion_order.append(sid)
            st.details["order"] = len(self.completion_order)
            self.emit(STEP_COMPLETED, sid, {"tool": st.tool, "duration_ms": st.duration_ms, "cost": cost,
                                            "attempts": attempts})
        except StepStopped as exc:
            st.status, st.error = exc.status, str(exc)
            st.attempts = max(st.attempts, exc.attempts)
            if exc.status == "skipped":
                st.details["reason"] = str(exc)
                st.error = None
                self.ctx.mark_skipped(sid)
                self.emit(STEP_SKIPPED, sid, {"reason": str(exc)})
            else:
                self.emit(STEP_FAILED, sid, {"error": str(exc), "status": exc.status})
        except CallFailed as exc:
            st.status, st.error, st.attempts = "failed", f"step {sid!r}: {exc}", exc.attempts
            self.emit(STEP_FAILED, sid, {"error": st.error, "attempts": exc.attempts})
        except LibraryError as exc:  # templates, conditions, sub-workflow inputs
            st.status, st.error = "failed", f"step {sid!r}: {exc}"
            self.emit(STEP_FAILED, sid, {"error": st.error})
        except asyncio.CancelledError:
            st.status, st.error = "cancelled", "cancelled: the run stopped while this step was running"
        self.record_step(sid)

    def _prepare(self, ps: PlannedStep) -> tuple[list | None, dict[str, Any]]:
        """Apply the skip rule and the condition, then resolve ``map_over`` and parameters."""
        scope = self.ctx.scope
        skipped = {d for d in ps.data_refs if scope.get(d) is SKIPPED}
        if ps.condition is not None:
            try:
                go = ps.condition.evaluate(scope)
            except LibraryError:
                gone = sorted(d for d in ps.condition_refs if scope.get(d) is SKIPPED)
                if not gone:
                    raise
                # e.g. `{{perk.level}} > 2` after `perk` was skipped: nothing to compare, so skip
                raise StepStopped("skipped", f"condition {ps.step.condition!r} reads skipped step(s) "
                                             f"{', '.join(gone)}") from None
            if not go:
                raise StepStopped("skipped", f"condition {ps.step.condition!r} is false")
        unhandled = skipped - ps.condition_refs
        if unhandled:
            raise StepStopped("skipped", f"needs the result of skipped step(s) {', '.join(sorted(unhandled))}")
        wrong = choice_problem(self.wf, ps.step, scope)
        if wrong:
            raise StepStopped("failed", f"step {ps.id!r}: {wrong}")
        if ps.step.map_over is None:
            if not ps.templated:  # literal parameters need no resolving
                return None, dict(ps.step.parameters)
            return None, resolve_skipping(ps.step.parameters, scope, skipped, f"parameters of step {ps.id!r}")
        items = resolve_skipping(ps.step.map_over, scope, skipped, f"map_over of step {ps.id!r}")
        if isinstance(items, str):
            items = _json_list(items)
        if items is None and skipped:
            items = []
        if not isinstance(items, (list, tuple)):
            raise StepStopped("failed", f"step {ps.id!r}: map_over {ps.step.map_over} is "
                                        f"{type(items).__name__}, not a list")
        return list(items), ps.step.parameters

    async def _map(self, ps: PlannedStep, items: list) -> tuple[list, float | None, int]:
        sid, step = ps.id, ps.step
        results: list[Any] = [None] * len(items)
        errors: dict[str, str] = {}
        tally = {"attempts": 0, "cost": 0.0, "costed": False}
        local = asyncio.Semaphore(step.max_concurrency or max(1, len(items)))
        skipped = {d for d in ps.data_refs if self.ctx.scope.get(d) is SKIPPED}
        where = f"parameters of step {sid!r}"

        async def one(i: int) -> None:
            async with local:
                try:
                    params = resolve_skipping(step.parameters, ItemScope(self.ctx.scope, items[i]), skipped,
                                              f"{where}, item {i}")
                    out = await self.caller.call(ps.tool, params, sid, self.policies[sid], timeout=step.timeout,
                                                 fallback=ps.fallback, item=i)
                except (CallFailed, LibraryError) as exc:
                    tally["attempts"] += getattr(exc, "attempts", 0)
                    if not step.allow_partial:
                        raise CallFailed(f"item {i}: {exc}", tally["attempts"], exc) from None
                    errors[str(i)] = describe_error(exc)
                    return
                tally["attempts"] += out.attempts
                cost = out.cost if out.cost is not None else step.cost_estimate
                if cost is not None:
                    tally["cost"] += cost
                    tally["costed"] = True
                results[i] = out.value

        try:
            async with asyncio.TaskGroup() as group:
                for i in range(len(items)):
                    group.create_task(one(i))
        except BaseExceptionGroup as grp:
            first = next((e for e in grp.exceptions if isinstance(e, CallFailed)), grp.exceptions[0])
            if isinstance(first, CallFailed):
                first.attempts = tally["attempts"]
            raise first from None
        if errors:
            self.states[sid].details["item_errors"] = errors
        return results, (tally["cost"] if tally["costed"] else None), tally["attempts"]

    async def _subflow(self, ps: PlannedStep, params: dict[str, Any]) -> tuple[Any, float | None, int]:
        left = None if self.budget is None else max(0.0, self.budget - self.spent - self.reserved
                                                    + (ps.cost_estimate or 0.0))
        result = await self.executor._run_child(ps.subplan, params, f"{self.run_id}.{ps.id}", self.caller, left)
        self.states[ps.id].details["sub_run"] = result.run_id
        if result.status == "completed":
            return result.outputs, result.total_cost, 1
        if result.status == "cancelled" and self.stop_reason is not None:
            raise asyncio.CancelledError()
        status = "budget_exceeded" if result.status == "budget_exceeded" else "failed"
        raise StepStopped(status, f"sub-workflow {ps.subplan.workflow.name!r} ended {result.status}: "
                                  f"{result.error}", 1)

    # ----------------------------------------------------------------- results
    def _outputs(self) -> Any:
        scope = self.ctx.scope
        skipped = {sid for sid in self.plan.order if scope.get(sid) is SKIPPED}
        if self.wf.outputs:
            return resolve_skipping(self.wf.outputs, scope, skipped, "workflow outputs")
        # Default: every step's result by step id (a map step's is a list), skipped steps as null.
        return {s.id: (None if s.id in skipped else scope.get(s.id)) for s in self.wf.steps}

    def _finish(self, status: str, outputs: Any, started_at: float, duration_ms: float) -> RunResult:
        steps = {sid: StepResult(sid, st.tool, st.status, None if st.result is SKIPPED else st.result,
                                 st.attempts, st.duration_ms, st.cost, st.error, st.started_at,
                                 st.finished_at, st.parameters, dict(st.details))
                 for sid, st in self.states.items()}
        total = sum(s.cost or 0.0 for s in steps.values()) + sum(
            (s.details.get("compensation") or {}).get("cost") or 0.0 for s in steps.values())
        result = RunResult(self.run_id, self.wf.name, status, outputs if status == "completed" else None,
                           steps, duration_ms, round(total, 10), self.error if status != "completed" else None,
                           started_at, time.time(), self.resumed)
        self._safe_record(lambda r: r.finish_run(self._run_record(status, started_at, result)))
        if self.record_errors:
            result = dataclasses.replace(result, record_errors=self.record_errors)
        self.emit(WORKFLOW_COMPLETED if status == "completed" else WORKFLOW_FAILED, None,
                   {"status": status, "error": result.error, "duration_ms": duration_ms,
                    "total_cost": result.total_cost})
        return result

    def _run_record(self, status: str, started_at: float, result: RunResult | None = None) -> RunRecord:
        if self._workflow_json is None:
            self._workflow_json = self.wf.to_dict()
        return RunRecord(
            run_id=self.run_id, workflow=self.wf.name, workflow_version=self.wf.version,
            workflow_json=self._workflow_json, status=status, inputs=dict(self.ctx.variables),
            outputs=result.outputs if result else None, error=result.error if result else None,
            started_at=started_at, finished_at=result.finished_at if result else None,
            duration_ms=result.duration_ms if result else None, total_cost=result.total_cost if result else 0.0)

    # ----------------------------------------------------------------- plumbing
    def emit(self, kind: str, step_id: str | None, data: dict[str, Any]) -> None:
        """Publish one run event to the subscribers, if any."""
        """Publish one run event to the subscribers, if any."""
        if self.events is not None and self.events.has_subscribers:
            self.events.emit(Event(kind, self.run_id, self.wf.name, step_id, data))

    def record_step(self, sid: str) -> None:
        """Write step ``sid``'s current state to the recorder, if any."""
        """Write step ``sid``'s current state to the recorder, if any."""
        if self.recorder is None:
            return
        st = self.states[sid]
        self._safe_record(lambda r: r.record_step(StepRecord(
            self.run_id, sid, st.status, st.tool, st.attempts, st.parameters,
            None if st.result is SKIPPED else st.result, st.error, st.started_at, st.finished_at,
            st.duration_ms, st.cost, dict(st.details))))

    def _safe_record(self, write) -> None:
        if self.recorder is None:
            return
        try:
            write(self.recorder)
        except Exception:  # recording must not break the run; the count is reported
            self.record_errors += 1
            log.exception("could not record run %s", self.run_id)


def resolve_skipping(value: Any, scope: Mapping[str, Any], skipped: set[str], where: str) -> Any:
    """Resolve templates, reading references to ``skipped`` steps as null (``""`` inside text).

    Examples
    --------
    >>> resolve_skipping({"a": "{{s.x}}", "b": "id {{s}}", "c": "{{n}}"}, {"n": 1}, {"s"}, "here")
    {'a': None, 'b': 'id ', 'c': 1}
    """
    if skipped:
        value = _blank_skipped(value, skipped)
    return resolve(value, scope, where=where)


def _blank_skipped(value: Any, skipped: set[str]) -> Any:
    if isinstance(value, str):
        whole = TEMPLATE_RE.fullmatch(value.strip())
        if whole and whole.group(1) in skipped:
            return None
        return TEMPLATE_RE.sub(lambda m: "" if m.group(1) in skipped else m.group(0), value)
    if isinstance(value, dict):
        return {k: _blank_skipped(v, skipped) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_skipped(v, skipped) for v in value]
    return value


def _json_list(text: str) -> Any:
    import json
    try:
        return json.loads(text)
    except ValueError:
        return text
