"""The public face of the runner: :class:`WorkflowExecutor` and :func:`run_workflow`.

An executor holds what runs share — the tool registry, the concurrency
bound, the recorder, the event bus, the budget and the per-tool guards — and
runs workflows with :meth:`~WorkflowExecutor.execute` (sync) or
:meth:`~WorkflowExecutor.execute_async`. Every run is planned first
(:func:`chainmine.library.runner.plan.build_plan`), so a workflow naming an unknown tool
or a bad reference fails before any tool is called. Only ``accepted``
workflows run unless ``allow_unreviewed=True``.

Planning also settles each step's side-effect class
(:func:`chainmine.library.runner.safety.resolve_effects`, with the ``effects`` override
file). A workflow with a destructive step runs only with ``confirm=True``;
without it :class:`~chainmine.library.runner.safety.ConfirmationRequiredError` is raised
and nothing is called.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import uuid
from typing import Any, Mapping

from chainmine.library.errors import RunError
from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner.calls import DEFAULT_MAX_RESULT_BYTES, ToolCaller
from chainmine.library.runner.context import WorkflowContext
from chainmine.library.runner.engine import RunEngine, StepState
from chainmine.library.runner.errors import ResumeError, UnreviewedWorkflowError
from chainmine.library.runner.events import EventBus
from chainmine.library.runner.inputs import check_inputs
from chainmine.library.runner.plan import Plan, WorkflowSource, build_plan
from chainmine.library.runner.recorder import RunRecorder, StoredRun
from chainmine.library.runner.registry import ToolRegistry
from chainmine.library.runner.loading import as_registry
from chainmine.library.runner.resilience import ToolGuards, default_guards
from chainmine.library.runner.results import RunResult
from chainmine.library.runner.safety import as_overrides, require_confirmation, resolve_effects
from chainmine.library.runner.tracing import SpanRecorder, TeeRecorder

log = logging.getLogger(__name__)


class WorkflowExecutor:
    """Runs workflows against a tool registry.

    Parameters
    ----------
    tool_registry : registry, dict of callables, module, ``--tools`` string or list, optional
        Default tools for every run (a run may pass its own).
    max_concurrency : int
        Tool calls in flight at once, across all steps and map items of a run.
    recorder : RunRecorder, optional
        Where runs, steps and calls are recorded (needed to resume).
    events : EventBus, optional
        Receives run events; one is created when left out.
    budget : float, optional
        Stop (``budget_exceeded``) before a step whose estimated cost exceeds what is left.
    library : object with ``get(name)``, optional
        Source of ``workflow:NAME`` sub-workflows.
    guards : ToolGuards, optional
        Circuit breakers and rate limits; the process-wide ones by default.
    rate_limits : dict, optional
        ``{tool: calls_per_second}`` applied to ``guards``.
    default_timeout : float or None
        Per-call timeout (s) for steps that set none, so a hung tool cannot hang the run.
    max_result_bytes : int
        Largest accepted tool result, as JSON.
    allow_unreviewed : bool
        Run workflows that are not ``accepted``.
    effects : path, dict or EffectOverrides, optional
        Side-effect overrides (``{tool_or_glob: "read"|"write"|"destructive"}``), winning
        over MCP annotations and tool names.
    tracer_provider : opentelemetry TracerProvider, optional
        Emit every run as OpenTelemetry GenAI spans there (see :mod:`chainmine.library.runner.tracing`);
        pass your own provider to get the spans in your OTel setup.
    trace_content : bool
        Put tool arguments, results and run inputs on the spans (secret inputs are always masked).

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="double", status="accepted", inputs={"n": {"type": "integer"}},
    ...     steps=[WorkflowStep(id="twice", tool_name="mul", parameters={"a": "{{n}}", "b": 2})])
    >>> result = WorkflowExecutor({"mul": lambda a, b: a * b}).execute(wf, {"n": 21})
    >>> result.status, result.outputs
    ('completed', {'twice': 42})
    """

    def __init__(self, tool_registry: Any = None, max_concurrency: int = 10, recorder: RunRecorder | None = None,
                 events: EventBus | None = None, budget: float | None = None, *,
                 library: WorkflowSource | None = None, guards: ToolGuards | None = None,
                 rate_limits: Mapping[str, float] | None = None, default_timeout: float | None = 300.0,
                 max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES, allow_unreviewed: bool = False,
                 retry_jitter: float = 0.25, max_retry_delay: float = 30.0, seed: int | None = None,
                 effects: Any = None, tracer_provider: Any = None, trace_content: bool = True):
        if max_concurrency < 1:
            raise RunError("max_concurrency must be at least 1")
        if budget is not None and budget < 0:
            raise RunError("budget must be >= 0")
        self.tool_registry = as_registry(tool_registry) if tool_registry is not None else None
        # Registries built here from specs or dicts are ours to close; a registry passed in is the caller's.
        self._owned = self.tool_registry if not isinstance(tool_registry, ToolRegistry) else None
        self.max_concurrency = int(max_concurrency)
        self.recorder = recorder
        # What the engine writes through: the recorder, plus the span emitter when tracing.
        self._sink: RunRecorder | None = recorder
        if tracer_provider is not None:
            self._sink = TeeRecorder(recorder, [SpanRecorder(tracer_provider, content=trace_content)])
        self.events = events if events is not None else EventBus()
        self.budget = budget
        self.library = library
        self.guards = guards if guards is not None else default_guards()
        for tool, rate in (rate_limits or {}).items():
            self.guards.set_rate_limit(tool, rate)
        self.default_timeout = default_timeout
        self.max_result_bytes = max_result_bytes
        self.allow_unreviewed = allow_unreviewed
        self.retry_jitter = retry_jitter
        self.max_retry_delay = max_retry_delay
        self._rng = random.Random(seed)
        self.effects = as_overrides(effects)
        self._lock = threading.Lock()
        self._active: list[tuple[asyncio.AbstractEventLoop, RunEngine]] = []

    # ----------------------------------------------------------------- planning
    def plan(self, workflow: WorkflowTemplate | Mapping[str, Any], tool_registry: Any = None) -> Plan:
        """Validate and plan ``workflow`` without calling anything (what ``--dry-run`` shows).

        Examples
        --------
        >>> from chainmine.library.model import WorkflowStep
        >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t", cost_estimate=0.1)])
        >>> WorkflowExecutor({"t": lambda: 1}).plan(wf).estimated_cost
        0.1
        """
        registry = self._registry(tool_registry)
        return build_plan(self._with_effects(_as_workflow(workflow), registry), registry, self.library)

    # ----------------------------------------------------------------- running
    def execute(self, workflow: WorkflowTemplate | Mapping[str, Any],
                context_or_inputs: WorkflowContext | Mapping[str, Any] | None = None,
                tool_registry: Any = None, *, run_id: str | None = None, confirm: bool = False) -> RunResult:
        """Run ``workflow`` to the end and return its :class:`RunResult` (blocking).

        ``confirm=True`` is needed when a step is destructive. Call
        :meth:`execute_async` instead from inside an event loop.
        """
        _no_running_loop("execute")
        return asyncio.run(self.execute_async(workflow, context_or_inputs, tool_registry, run_id=run_id,
                                              confirm=confirm))

    async def execute_async(self, workflow: WorkflowTemplate | Mapping[str, Any],
                            context_or_inputs: WorkflowContext | Mapping[str, Any] | None = None,
                            tool_registry: Any = None, *, run_id: str | None = None,
                            confirm: bool = False) -> RunResult:
        """Run ``workflow`` in the current event loop.

        Cancelling the awaiting task cancels the run cleanly: running steps are
        cancelled, compensations run and the result says ``cancelled``.
        """
        registry = self._registry(tool_registry)
        wf = self._with_effects(_as_workflow(workflow), registry)
        plan = build_plan(wf, registry, self.library)
        self._check_reviewed(plan)
        require_confirmation(wf, confirm)
        ctx = context_or_inputs if isinstance(context_or_inputs, WorkflowContext) else WorkflowContext(
            context_or_inputs)
        for name, value in check_inputs(wf.inputs, ctx.variables).items():
            ctx.set_variable(name, value)
        engine = self._engine(plan, ctx, run_id or new_run_id(), self.budget)
        return await self._drive(engine)

    def resume(self, run_id: str, tool_registry: Any = None, *, workflow_name: str | None = None,
               confirm: bool = False) -> RunResult:
        """Finish an interrupted or failed run, re-running only what did not complete (blocking)."""
        _no_running_loop("resume")
        return asyncio.run(self.resume_async(run_id, tool_registry, workflow_name=workflow_name, confirm=confirm))

    async def resume_async(self, run_id: str, tool_registry: Any = None, *,
                           workflow_name: str | None = None, confirm: bool = False) -> RunResult:
        """Resume run ``run_id`` from its record.

        Steps that completed (and were not undone by a compensation) keep their
        stored results and are not called again; skipped steps stay skipped;
        everything else runs. The workflow is the one stored with the run, so
        later library edits cannot change a run half way. ``budget`` applies
        to what this resumption spends.
        """
        if self.recorder is None:
            raise ResumeError("resuming needs a recorder holding the run (use --db)")
        stored = self.recorder.load_run(run_id)
        if stored is None:
            raise ResumeError(f"no run {run_id!r} is recorded; list runs with `chainmine runs list`")
        wf = _stored_workflow(stored)
        if workflow_name is not None and wf.name != workflow_name:
            raise ResumeError(f"run {run_id!r} ran workflow {wf.name!r}, not {workflow_name!r}")
        if stored.run.status == "completed":
            raise ResumeError(f"run {run_id!r} already completed; nothing to resume (start a new run instead)")
        registry = self._registry(tool_registry)
        wf = self._with_effects(wf, registry)
        plan = build_plan(wf, registry, self.library)
        self._check_reviewed(plan)
        require_confirmation(wf, confirm)
        try:
            inputs = dict(stored.run.inputs or {})
        except (TypeError, ValueError):
            raise ResumeError(f"run {run_id!r} record is corrupt: its inputs are not an object") from None
        engine = self._engine(plan, WorkflowContext(inputs), run_id, self.budget, resumed=True)
        _preset_from_record(engine, stored)
        return await self._drive(engine)

    def cancel(self) -> None:
        """Cancel every run this executor is running (thread-safe); they end ``cancelled``."""
        with self._lock:
            active = list(self._active)
        for loop, engine in active:
            try:
                loop.call_soon_threadsafe(engine.stop, "cancelled", "run cancelled")
            except RuntimeError:  # that loop has already finished
                pass

    def close(self) -> None:
        """Close the registry this executor built itself (MCP servers, worker threads).

        Examples
        --------
        >>> with WorkflowExecutor({"t": lambda: 1}) as ex:
        ...     ex.tool_registry.names()
        ['t']
        """
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> "WorkflowExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- internals
    def _registry(self, tool_registry: Any) -> ToolRegistry:
        reg = as_registry(tool_registry) if tool_registry is not None else self.tool_registry
        if reg is None:
            raise RunError("no tools: pass tool_registry (a dict of functions, a module or a --tools string)")
        return reg

    def _with_effects(self, wf: WorkflowTemplate, registry: ToolRegistry) -> WorkflowTemplate:
        return resolve_effects(wf, registry, self.effects, self.library)

    def _check_reviewed(self, plan: Plan) -> None:
        if self.allow_unreviewed:
            return
        for sub in plan.walk():
            if sub.workflow.status != "accepted":
                raise UnreviewedWorkflowError(
                    f"workflow {sub.workflow.name!r} is {sub.workflow.status}, not accepted; review it "
                    f"(`chainmine library accept {sub.workflow.name}`) or pass --allow-unreviewed")

    def _engine(self, plan: Plan, ctx: WorkflowContext, run_id: str, budget: float | None,
                caller: ToolCaller | None = None, resumed: bool = False) -> RunEngine:
        if caller is None:
            caller = ToolCaller(run_id, self.guards, asyncio.Semaphore(self.max_concurrency),
                                default_timeout=self.default_timeout, max_result_bytes=self.max_result_bytes,
                                record=self._sink.record_call if self._sink is not None else None,
                                rng=self._rng)
        engine = RunEngine(plan, ctx, run_id, caller, recorder=self._sink, events=self.events,
                           budget=budget, jitter=self.retry_jitter, max_retry_delay=self.max_retry_delay,
                           executor=self, resumed=resumed)
        if caller.emit is None:
            caller.emit = engine.emit
        return engine

    async def _drive(self, engine: RunEngine) -> RunResult:
        entry = (asyncio.get_running_loop(), engine)
        with self._lock:
            self._active.append(entry)
        try:
            return await engine.run()
        finally:
            with self._lock:
                self._active.remove(entry)

    async def _run_child(self, plan: Plan, inputs: dict[str, Any], run_id: str, parent: ToolCaller,
                         budget: float | None) -> RunResult:
        """Run a sub-workflow as its own recorded run, sharing the parent's concurrency slots."""
        caller = ToolCaller(run_id, parent.guards, parent.semaphore, default_timeout=parent.default_timeout,
                            max_result_bytes=parent.max_result_bytes, record=parent.record, rng=parent.rng)
        stored = self.recorder.load_run(run_id) if self.recorder is not None else None
        if stored is not None and stored.run.status == "completed":
            return _result_from_record(stored)
        engine = self._engine(plan, WorkflowContext(check_inputs(plan.workflow.inputs, inputs)), run_id,
                              budget, caller, resumed=stored is not None)
        if stored is not None:
            _preset_from_record(engine, stored)
        return await self._drive(engine)


def run_workflow(workflow: WorkflowTemplate | Mapping[str, Any], inputs: Mapping[str, Any] | None = None,
                 tools: Any = None, **options: Any) -> RunResult:
    """Run one workflow in one call: ``run_workflow(wf, {"n": 2}, tools={"f": f}, budget=1.0)``.

    ``options`` are :class:`WorkflowExecutor` parameters, plus ``confirm``:
    a workflow with a destructive step raises
    :class:`~chainmine.library.runner.safety.ConfirmationRequiredError` (and calls
    nothing) unless ``confirm=True``. ``outputs`` holds the workflow's declared
    outputs, or else every step's result by step id.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", status="accepted",
    ...                       steps=[WorkflowStep(id="hello", tool_name="hello")])
    >>> run_workflow(wf, tools={"hello": lambda: "hi"}).outputs
    {'hello': 'hi'}
    """
    confirm = bool(options.pop("confirm", False))
    with WorkflowExecutor(tools, **options) as executor:
        return executor.execute(workflow, inputs, confirm=confirm)


def new_run_id() -> str:
    """A fresh run id (16 hex digits).

    Examples
    --------
    >>> len(new_run_id())
    16
    """
    return uuid.uuid4().hex[:16]


def _as_workflow(workflow: WorkflowTemplate | Mapping[str, Any]) -> WorkflowTemplate:
    if isinstance(workflow, WorkflowTemplate):
        return workflow
    if isinstance(workflow, Mapping):
        try:
            return WorkflowTemplate.from_dict(dict(workflow))
        except ValueError as exc:
            raise RunError(f"not a valid workflow: {str(exc).splitlines()[0]}") from None
    raise RunError(f"expected a WorkflowTemplate or a workflow dict, got {type(workflow).__name__}")


def _no_running_loop(what: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RunError(f"{what}() cannot block inside a running event loop; await {what}_async() instead")


def _stored_workflow(stored: StoredRun) -> WorkflowTemplate:
    data = stored.run.workflow_json
    if not isinstance(data, dict):
        raise ResumeError(f"run {stored.run.run_id!r} record is corrupt: no stored workflow; start a new run")
    try:
        return WorkflowTemplate.from_dict(data)
    except ValueError as exc:
        raise ResumeError(f"run {stored.run.run_id!r} record is corrupt: stored workflow is invalid "
                          f"({str(exc).splitlines()[0]}); start a new run") from None


def _preset_from_record(engine: RunEngine, stored: StoredRun) -> None:
    """Mark the steps a previous attempt finished, so they are reused instead of called again."""
    rows = sorted(stored.steps.values(), key=lambda r: ((r.details or {}).get("order") or 0, r.finished_at or 0))
    for rec in rows:
        if rec.step_id not in engine.plan.steps:
            raise ResumeError(f"run {stored.run.run_id!r} record is corrupt: step {rec.step_id!r} is not in "
                              f"workflow {engine.wf.name!r}; start a new run")
        if not isinstance(rec.details or {}, dict):
            raise ResumeError(f"run {stored.run.run_id!r} record is corrupt: details of step {rec.step_id!r}")
        undone = ((rec.details or {}).get("compensation") or {}).get("status") == "completed"
        if rec.status == "skipped" or (rec.status == "completed" and not undone):
            state = StepState(rec.tool or engine.plan.steps[rec.step_id].step.tool_name)
            state.status, state.result, state.attempts = rec.status, rec.result, rec.attempts
            state.cost, state.started_at, state.finished_at = rec.cost, rec.started_at, rec.finished_at
            state.duration_ms, state.parameters = rec.duration_ms, rec.parameters
            state.details = {**(rec.details or {}), "reused": True}
            engine.preset(rec.step_id, state)


def _result_from_record(stored: StoredRun) -> RunResult:
    from chainmine.library.runner.results import StepResult
    run = stored.run
    steps = {sid: StepResult(sid, r.tool or "", r.status, r.result, r.attempts, r.duration_ms, r.cost, r.error,
                             r.started_at, r.finished_at, r.parameters, dict(r.details or {}))
             for sid, r in stored.steps.items()}
    return RunResult(run.run_id, run.workflow, run.status, run.outputs, steps, run.duration_ms or 0.0,
                     run.total_cost or 0.0, run.error, run.started_at, run.finished_at, True)
