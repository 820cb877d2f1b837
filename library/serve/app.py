"""Put the pieces together: library catalog + runner + tool registries + transport.

:func:`build_server` makes a :class:`~chainmine.library.serve.mcp_server.WorkflowServer`
whose calls run through a :class:`~chainmine.library.runner.WorkflowExecutor`, and
:func:`serve_workflows` is what ``chainmine mcp serve`` calls: it starts the
tool registries (Python modules, other MCP servers), serves until stopped and
closes them again.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, AsyncIterator, Callable, Iterable

import anyio

from chainmine.library.effects import overrides_beside
from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import (CallRecord, RunRecord, RunRecorder, StepRecord, StoredRun, ToolRegistry,
                            WorkflowExecutor, load_registries)
from chainmine.library.runner.safety import resolve_effects
from chainmine.library.runner.trace_export import shutdown, tracer_provider_for
from chainmine.library.serve.errors import ServeError, one_line
from chainmine.library.serve.mcp_server import RunWorkflow, WorkflowServer
from chainmine.library.serve.transport import HttpAddress, run_server
from chainmine.library.serve.watch import WorkflowCatalog
from chainmine.library.store import WorkflowLibrary

log = logging.getLogger(__name__)


RecorderFactory = Callable[[], contextlib.AbstractContextManager[RunRecorder]]
"""Opens a recorder (e.g. on the DuckDB store) and closes it on exit."""


class ScopedRecorder:
    """A :class:`~chainmine.library.runner.RunRecorder` that holds the real recorder only while runs are in flight.

    A DuckDB file admits one writing process, and an MCP server lives as
    long as the agent that started it; keeping the store open all that time
    would lock every other ``chainmine`` command out. Each run enters
    :meth:`session`; the first one in opens the recorder, the last one out
    closes it, so the store is free between runs.

    Examples
    --------
    >>> import anyio, contextlib
    >>> from chainmine.library.runner import MemoryRecorder, RunRecord
    >>> memory, opened = MemoryRecorder(), []
    >>> @contextlib.contextmanager
    ... def open_memory():
    ...     opened.append(True)
    ...     yield memory
    >>> scoped = ScopedRecorder(open_memory)
    >>> async def one_run():
    ...     async with scoped.session():
    ...         scoped.start_run(RunRecord("r1", "w"))
    >>> anyio.run(one_run)
    >>> list(memory.runs), len(opened), scoped.is_open
    (['r1'], 1, False)
    """

    def __init__(self, open_recorder: RecorderFactory):
        self._open = open_recorder
        self._lock = anyio.Lock()
        self._users = 0
        self._stack: contextlib.ExitStack | None = None
        self._recorder: RunRecorder | None = None

    @property
    def is_open(self) -> bool:
        """True while at least one run holds the recorder."""
        return self._recorder is not None

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Hold the recorder open for one run; raises :class:`ServeError` when it cannot be opened."""
        async with self._lock:
            if self._users == 0:
                stack = contextlib.ExitStack()
                try:
                    # opening may wait for another process's lock: keep the event loop free meanwhile
                    self._recorder = await anyio.to_thread.run_sync(stack.enter_context, self._open())
                except Exception as exc:
                    raise ServeError(f"cannot record the run: {one_line(exc)}") from exc
                self._stack = stack
            self._users += 1
        try:
            yield
        finally:
            async with self._lock:
                self._users -= 1
                if self._users == 0 and self._stack is not None:
                    stack, self._stack, self._recorder = self._stack, None, None
                    stack.close()

    def _current(self) -> RunRecorder:
        if self._recorder is None:
            raise ServeError("no run is in progress; record runs inside ScopedRecorder.session()")
        return self._recorder

    def start_run(self, run: RunRecord) -> None:
        """Store a new run."""
        self._current().start_run(run)

    def record_step(self, step: StepRecord) -> None:
        """Insert or replace a step record."""
        self._current().record_step(step)

    def record_call(self, call: CallRecord) -> None:
        """Store one tool call."""
        self._current().record_call(call)

    def finish_run(self, run: RunRecord) -> None:
        """Store the final state of a run."""
        self._current().finish_run(run)

    def load_run(self, run_id: str) -> StoredRun | None:
        """The stored run, opening the recorder just for this when no run holds it."""
        if self._recorder is not None:
            return self._recorder.load_run(run_id)
        with self._open() as recorder:
            return recorder.load_run(run_id)



def executor_runner(executor: WorkflowExecutor, recorder: ScopedRecorder | None = None) -> RunWorkflow:
    """Adapt ``executor`` to the server's ``run_workflow(workflow, arguments)`` callable.

    With ``recorder`` (the executor's own), each run holds it open for its duration.
    The server confirms destructive workflows before it calls this, so runs go ahead.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", status="accepted",
    ...                       steps=[WorkflowStep(id="s", tool_name="t", parameters={"x": 2})])
    >>> run = executor_runner(WorkflowExecutor({"t": lambda x: x * 21}))
    >>> anyio.run(run, wf, {})["outputs"]
    {'s': 42}
    """
    async def run_workflow(workflow: WorkflowTemplate, arguments: dict[str, Any]) -> dict[str, Any]:
        async with recorder.session() if recorder is not None else contextlib.nullcontext():
            result = await executor.execute_async(workflow, arguments, confirm=True)
        log.info("run %s of %s: %s", result.run_id, workflow.name, result.status)
        return result.to_dict()

    return run_workflow


def build_server(library_path: str | os.PathLike[str], registry: ToolRegistry, *,
                 open_recorder: RecorderFactory | None = None, poll_interval: float | None = 1.0,
                 max_concurrency: int = 10, effects: Any = None, tracer_provider: Any = None,
                 trace_content: bool = True) -> WorkflowServer:
    """A server for the accepted workflows at ``library_path``, running them against ``registry``.

    Runs are recorded through ``open_recorder``, opened for each run (see
    :class:`ScopedRecorder`); without it runs are not recorded. Only workflows that plan against ``registry`` are listed: one needing a
    tool no registry offers is left out with a warning. ``workflow:NAME``
    steps find their sub-workflows in the same library. Step effects come from
    ``effects`` (an override file or dict; default: the one beside the
    library), the backing MCP tools' annotations and the tool names. With
    ``tracer_provider`` every run is also emitted as OpenTelemetry GenAI spans, as
    ``chainmine run`` does (see :mod:`chainmine.library.runner.tracing`).

    Examples
    --------
    >>> import json, tempfile, anyio
    >>> from pathlib import Path
    >>> from chainmine.library.runner import PythonRegistry
    >>> path = Path(tempfile.mkdtemp()) / "w.json"
    >>> _ = path.write_text(json.dumps({"schema_version": 1, "workflows": [
    ...     {"name": "w", "status": "accepted", "steps": [{"id": "s", "tool_name": "t"}]},
    ...     {"name": "v", "status": "accepted", "steps": [{"id": "s", "tool_name": "missing"}]}]}))
    >>> server = build_server(path, PythonRegistry.from_mapping({"t": lambda: "ok"}))
    >>> [tool.name for tool in anyio.run(server.list_tools)]
    ['w']
    """
    library = WorkflowLibrary(library_path)
    recorder = ScopedRecorder(open_recorder) if open_recorder is not None else None
    executor = WorkflowExecutor(registry, max_concurrency=max_concurrency, recorder=recorder, library=library,
                                effects=effects if effects is not None else overrides_beside(library_path),
                                tracer_provider=tracer_provider, trace_content=trace_content)
    catalog = WorkflowCatalog(library_path, check=executor.plan)
    catalog.check_exists()
    return WorkflowServer(catalog, executor_runner(executor, recorder), poll_interval=poll_interval,
                          resolve=lambda wf: resolve_effects(wf, registry, executor.effects, library))


def serve_workflows(library_path: str | os.PathLike[str], tool_specs: Iterable[str], *,
                    open_recorder: RecorderFactory | None = None, http: HttpAddress | None = None,
                    poll_interval: float | None = 1.0, max_concurrency: int = 10, effects: Any = None,
                    on_start: Callable[[WorkflowServer], None] | None = None, trace_file: str | None = None,
                    otlp_endpoint: str | None = None, trace_content: bool = True) -> None:
    """Serve the accepted workflows over stdio (or streamable HTTP at ``http``) until stopped.

    ``tool_specs`` are ``--tools`` values: Python modules or files and
    ``mcp:COMMAND ARGS`` servers, all started before serving and closed after.
    ``on_start`` sees the server just before it starts answering (the CLI
    announces what it serves there). Runs are traced when ``trace_file``,
    ``otlp_endpoint`` or the ``OTEL_EXPORTER_OTLP_*ENDPOINT`` variables say where
    to (see :func:`chainmine.library.runner.trace_export.tracer_provider_for`).

    Examples
    --------
    >>> serve_workflows("workflows.json", ["mcp:python airline_server.py"])  # doctest: +SKIP
    """
    WorkflowCatalog(library_path).check_exists()  # before starting any tool server
    provider = tracer_provider_for(trace_file, otlp_endpoint)
    with contextlib.ExitStack() as stack:
        stack.callback(shutdown, provider)
        registry = stack.enter_context(load_registries(tool_specs))
        server = build_server(library_path, registry, open_recorder=open_recorder, poll_interval=poll_interval,
                              max_concurrency=max_concurrency, effects=effects, tracer_provider=provider,
                              trace_content=trace_content)
        server.catalog.refresh()
        if on_start is not None:
            on_start(server)
        run_server(server, http)
