"""OpenTelemetry GenAI spans of runs: a recorder that turns runs and tool calls into spans.

:class:`SpanRecorder` watches a run the way the durable recorder does (it gets
the same ``start_run`` / ``record_call`` / ``finish_run`` calls, through
:class:`TeeRecorder`), so the engine knows nothing of tracing. Spans follow the
current GenAI semantic conventions:

- one root span per run, ``invoke_workflow {workflow}``, with
  ``gen_ai.operation.name = "invoke_workflow"``, ``gen_ai.workflow.name`` and
  ``gen_ai.conversation.id`` = the run id;
- one child span per tool call, ``execute_tool {tool}``, with
  ``gen_ai.operation.name = "execute_tool"``, ``gen_ai.tool.name``,
  ``gen_ai.tool.call.id`` and, unless content is left out,
  ``gen_ai.tool.call.arguments`` / ``gen_ai.tool.call.result`` (JSON strings).
  Every attempt is its own span (retries, a fallback, a compensation, each map
  item), in call order ``chainmine.call.seq``, because each one is a real call
  with its own arguments, result and time.
- a failure sets ``error.type`` (the error's class) and the span status ERROR
  with the one-line message;
- each step's final state is a ``chainmine.step`` event on the run's span (id,
  status, tool, attempts, duration, cost, error; parameters and result with the
  content), so a trace read back lists the run's steps as ``chainmine runs show`` does.

``chainmine.run_id`` (on every span) and the instrumentation scope ``chainmine``
are what ``chainmine ingest`` recognises a run's trace by. Sub-workflow runs are
``invoke_workflow`` spans nested under their parent run's span.

Inputs the workflow marks ``secret`` never leave the process: their values are
replaced by ``***`` wherever they appear in arguments, results and errors.
Spans are made after the fact, with the recorded start and end times, so
tracing adds no work while a tool call is in flight.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable

from chainmine.library.runner.recorder import CallRecord, RunRecord, RunRecorder, StepRecord, StoredRun

log = logging.getLogger(__name__)

SCOPE = "chainmine"
"""Instrumentation scope name of every span chainmine makes."""
OPERATION = "gen_ai.operation.name"
INVOKE_WORKFLOW = "invoke_workflow"
EXECUTE_TOOL = "execute_tool"
RUN_ID = "chainmine.run_id"
STEP_EVENT = "chainmine.step"
MASK = "***"
_MIN_SECRET_SUBSTRING = 4  # shorter secrets are masked only where they are a whole value


def secret_values(workflow_json: Any, inputs: Any) -> frozenset:
    """The values of the inputs ``workflow_json`` marks ``secret: true``.

    Examples
    --------
    >>> wf = {"inputs": {"token": {"type": "string", "secret": True}, "user": {"type": "string"}}}
    >>> sorted(secret_values(wf, {"token": "sk-123", "user": "mia"}))
    ['sk-123']
    """
    specs = (workflow_json or {}).get("inputs") if isinstance(workflow_json, dict) else None
    if not isinstance(specs, dict) or not isinstance(inputs, dict):
        return frozenset()
    found = set()
    for name, spec in specs.items():
        value = inputs.get(name)
        if isinstance(spec, dict) and spec.get("secret") and value is not None and not isinstance(value, bool):
            if isinstance(value, (str, int, float)):
                found.add(value)
            else:  # a structured secret: mask its text wherever it shows
                found.add(json.dumps(value, default=str))
    return frozenset(found)


def mask(value: Any, secrets: Iterable[Any]) -> Any:
    """``value`` with every secret replaced by ``***`` (whole values, and inside longer text).

    Examples
    --------
    >>> mask({"auth": "Bearer sk-123", "n": 7, "ids": ["sk-123", "x"]}, {"sk-123"})
    {'auth': 'Bearer ***', 'n': 7, 'ids': ['***', 'x']}
    """
    secrets = [s for s in secrets]
    if not secrets:
        return value
    texts = sorted((str(s) for s in secrets if len(str(s)) >= _MIN_SECRET_SUBSTRING), key=len, reverse=True)

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if not isinstance(v, bool) and any(v == s and type(v) is type(s) for s in secrets):
            return MASK
        if isinstance(v, str):
            for s in texts:
                v = v.replace(s, MASK)
        return v

    return walk(value)


def _ns(epoch_s: float | None) -> int | None:
    return None if epoch_s is None else int(epoch_s * 1_000_000_000)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


@dataclass
class _OpenRun:
    span: Any
    secrets: frozenset
    steps: dict[str, StepRecord] = field(default_factory=dict)  # each step's latest record


class SpanRecorder:
    """A :class:`~chainmine.library.runner.RunRecorder` that emits each run as OpenTelemetry GenAI spans.

    Parameters
    ----------
    tracer_provider : opentelemetry.trace.TracerProvider
        Where the spans go (an SDK provider with exporters, or the caller's own).
    content : bool
        Include tool arguments, results and run inputs (the conventions' opt-in content attributes).

    Examples
    --------
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    >>> spans = InMemorySpanExporter(); provider = TracerProvider()
    >>> provider.add_span_processor(SimpleSpanProcessor(spans))
    >>> rec = SpanRecorder(provider)
    >>> rec.start_run(RunRecord("r1", "lookup", started_at=1.0))
    >>> rec.record_call(CallRecord("r1", "get", "get_user", 1, 1.1, True, duration_ms=5, args={"id": 1}))
    >>> rec.finish_run(RunRecord("r1", "lookup", status="completed", finished_at=1.2))
    >>> [(s.name, s.attributes["gen_ai.operation.name"]) for s in spans.get_finished_spans()]
    [('execute_tool get_user', 'execute_tool'), ('invoke_workflow lookup', 'invoke_workflow')]
    """

    def __init__(self, tracer_provider: Any, content: bool = True):
        from chainmine.library.runner.trace_export import chainmine_version
        self.tracer = tracer_provider.get_tracer(SCOPE, chainmine_version())
        self.content = content
        self._lock = threading.Lock()
        self._runs: dict[str, _OpenRun] = {}

    def start_run(self, run: RunRecord) -> None:
        """Open the run's ``invoke_workflow`` span (under its parent run's, for a sub-workflow)."""
        from opentelemetry import trace
        secrets = secret_values(run.workflow_json, run.inputs)
        with self._lock:
            parent = self._runs.get(run.run_id.rpartition(".")[0]) if "." in run.run_id else None
        attrs: dict[str, Any] = {OPERATION: INVOKE_WORKFLOW, "gen_ai.workflow.name": run.workflow,
                                 "gen_ai.conversation.id": run.run_id, RUN_ID: run.run_id}
        if run.workflow_version is not None:
            attrs["chainmine.workflow.version"] = run.workflow_version
        if self.content and run.inputs:
            attrs["chainmine.run.inputs"] = _json(mask(run.inputs, secrets))
        context = trace.set_span_in_context(parent.span) if parent is not None else None
        span = self.tracer.start_span(f"{INVOKE_WORKFLOW} {run.workflow}", context=context,
                                      kind=trace.SpanKind.INTERNAL, attributes=attrs,
                                      start_time=_ns(run.started_at))
        with self._lock:
            self._runs[run.run_id] = _OpenRun(span, secrets)

    def record_step(self, step: StepRecord) -> None:
        """Keep the step's latest state; it becomes an event of the run's span when the run ends.

        Steps are not spans of their own: their calls are.
        """
        with self._lock:
            run = self._runs.get(step.run_id)
            if run is not None:
                run.steps[step.step_id] = step

    def record_call(self, call: CallRecord) -> None:
        """Emit one finished ``execute_tool`` span for ``call``."""
        from opentelemetry import trace
        from opentelemetry.trace import Status, StatusCode
        with self._lock:
            run = self._runs.get(call.run_id)
        secrets = run.secrets if run is not None else frozenset()
        attrs: dict[str, Any] = {OPERATION: EXECUTE_TOOL, "gen_ai.tool.name": call.tool,
                                 "gen_ai.tool.call.id": f"{call.run_id}:{call.seq}",
                                 "gen_ai.conversation.id": call.run_id, RUN_ID: call.run_id,
                                 "chainmine.step.id": call.step_id, "chainmine.call.seq": call.seq}
        if call.cost is not None:
            attrs["chainmine.cost"] = float(call.cost)
        if self.content:
            if call.args is not None:
                attrs["gen_ai.tool.call.arguments"] = _json(mask(call.args, secrets))
            if call.result is not None:
                attrs["gen_ai.tool.call.result"] = _json(mask(call.result, secrets))
        if not call.success:
            attrs["error.type"] = call.error_type or "error"
        context = trace.set_span_in_context(run.span) if run is not None else None
        start = _ns(call.ts)
        span = self.tracer.start_span(f"{EXECUTE_TOOL} {call.tool}", context=context, kind=trace.SpanKind.INTERNAL,
                                      attributes=attrs, start_time=start)
        if not call.success:
            span.set_status(Status(StatusCode.ERROR, mask(call.error or "error", secrets)))
        span.end(end_time=None if start is None else start + int((call.duration_ms or 0.0) * 1_000_000))

    def finish_run(self, run: RunRecord) -> None:
        """Close the run's span with its steps, status, cost, outputs and, when it did not complete, its error."""
        from opentelemetry.trace import Status, StatusCode
        with self._lock:
            open_run = self._runs.pop(run.run_id, None)
        if open_run is None:
            return
        span = open_run.span
        for step in open_run.steps.values():
            span.add_event(STEP_EVENT, self._step_attributes(step, open_run.secrets),
                           timestamp=_ns(step.started_at if step.started_at is not None else run.finished_at))
        span.set_attribute("chainmine.run.status", run.status)
        span.set_attribute("chainmine.run.cost", float(run.total_cost or 0.0))
        if self.content and run.outputs is not None:
            span.set_attribute("chainmine.run.outputs", _json(mask(run.outputs, open_run.secrets)))
        if run.status != "completed":
            span.set_attribute("error.type", run.status)
            span.set_status(Status(StatusCode.ERROR, mask(run.error or run.status, open_run.secrets)))
        span.end(end_time=_ns(run.finished_at))

    def _step_attributes(self, step: StepRecord, secrets: frozenset) -> dict[str, Any]:
        attrs: dict[str, Any] = {"chainmine.step.id": step.step_id, "chainmine.step.status": step.status,
                                 "chainmine.step.attempts": int(step.attempts or 0)}
        if step.tool is not None:
            attrs["gen_ai.tool.name"] = step.tool
        if step.duration_ms is not None:
            attrs["chainmine.step.duration_ms"] = float(step.duration_ms)
        if step.cost is not None:
            attrs["chainmine.step.cost"] = float(step.cost)
        if step.error:
            attrs["chainmine.step.error"] = mask(step.error, secrets)
        if self.content:
            if step.parameters is not None:
                attrs["chainmine.step.parameters"] = _json(mask(step.parameters, secrets))
            if step.result is not None:
                attrs["chainmine.step.result"] = _json(mask(step.result, secrets))
        return attrs

    def load_run(self, run_id: str) -> StoredRun | None:
        """Spans cannot be read back here; resuming uses the durable recorder."""
        return None


class TeeRecorder:
    """Send every record to a primary recorder and to observers; runs are loaded from the primary only.

    An observer that fails is logged and never disturbs the primary or the run.

    Examples
    --------
    >>> from chainmine.library.runner.recorder import MemoryRecorder
    >>> primary, seen = MemoryRecorder(), MemoryRecorder()
    >>> tee = TeeRecorder(primary, [seen])
    >>> tee.start_run(RunRecord("r1", "w"))
    >>> tee.load_run("r1").run.run_id, "r1" in seen.runs
    ('r1', True)
    """

    def __init__(self, primary: RunRecorder | None, observers: Iterable[RunRecorder]):
        self.primary = primary
        self.observers = tuple(observers)

    def _each(self, method: str, record: Any) -> None:
        try:
            if self.primary is not None:
                getattr(self.primary, method)(record)
        finally:
            for observer in self.observers:
                try:
                    getattr(observer, method)(record)
                except Exception:  # a broken exporter must not break the run or its record
                    log.exception("run observer %s failed in %s", type(observer).__name__, method)

    def start_run(self, run: RunRecord) -> None:
        """Pass ``run`` on."""
        self._each("start_run", run)

    def record_step(self, step: StepRecord) -> None:
        """Pass ``step`` on."""
        self._each("record_step", step)

    def record_call(self, call: CallRecord) -> None:
        """Pass ``call`` on."""
        self._each("record_call", call)

    def finish_run(self, run: RunRecord) -> None:
        """Pass ``run`` on."""
        self._each("finish_run", run)

    def load_run(self, run_id: str) -> StoredRun | None:
        """The primary's stored run, or None without a primary."""
        return self.primary.load_run(run_id) if self.primary is not None else None
