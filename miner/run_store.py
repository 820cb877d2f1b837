"""Workflow runs in DuckDB: the recorder the runner writes through, run queries, and running by name.

:class:`DuckDBRecorder` implements :class:`chainmine.library.runner.RunRecorder` on the
``runs`` and ``run_steps`` tables (one upsert per run or step change, so an
interrupted run can be resumed) and stores every executed tool call in
``calls`` with ``origin = 'run'`` and the run id as ``session_id``. Analytics and
mining leave those calls out unless asked (``--include-runs``, see
:mod:`chainmine.miner.origins`), so testing a workflow does not raise its own evidence;
they never enter the miner's stored events, which a run therefore leaves fresh.
Calls are buffered and inserted in bulk (register a frame, ``INSERT ... SELECT``)
at the end of the run or every ``flush_every`` calls.

:func:`run_named_workflow` and :func:`plan_named_workflow` are what
``chainmine run`` calls; :func:`list_runs` and :func:`get_run` back ``chainmine runs``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

import duckdb
import pandas as pd

from chainmine.library.effects import overrides_beside
from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import RunResult, WorkflowExecutor, load_registries
from chainmine.library.runner.errors import ResumeError
from chainmine.library.runner.events import EventBus
from chainmine.library.runner.inputs import load_inputs_file, parse_input_pairs
from chainmine.library.runner.plan import Plan
from chainmine.library.runner.recorder import (RUN_STATUSES, STEP_STATUSES, CallRecord, RunRecord, StepRecord,
                                     StoredRun)
from chainmine.library.runner.safety import change_summary, destructive_steps, require_confirmation
from chainmine.library.runner.trace_export import shutdown, tracer_provider_for
from chainmine.library.store import WorkflowLibrary
from chainmine.miner.errors import ChainmineError
from chainmine.miner.origins import RUN, run_calls_where
from chainmine.miner.store import connect, ensure_tools, transaction

log = logging.getLogger(__name__)

RUNNER_AGENT = "chainmine-runner"


class RunNotFoundError(ChainmineError):
    """No run with that id is recorded.

    Examples
    --------
    >>> str(RunNotFoundError("no run 'x' is recorded"))
    "no run 'x' is recorded"
    """


def _ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.replace(tzinfo=timezone.utc).timestamp()


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


class DuckDBRecorder:
    """A :class:`chainmine.library.runner.RunRecorder` writing to a chainmine DuckDB store.

    Examples
    --------
    >>> import duckdb
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> rec = DuckDBRecorder(con)
    >>> rec.start_run(RunRecord("r1", "w", started_at=0.0))
    >>> rec.record_step(StepRecord("r1", "a", "completed", tool="t", result={"x": 1}))
    >>> rec.load_run("r1").steps["a"].result
    {'x': 1}
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, flush_every: int = 500):
        self.con = con
        self.flush_every = flush_every
        self._lock = threading.Lock()
        self._calls: list[CallRecord] = []

    def start_run(self, run: RunRecord) -> None:
        """Insert the run, or mark a resumed one running again (keeping its first start time)."""
        with self._lock:
            self.con.execute("""
                INSERT INTO runs (run_id, workflow, workflow_version, workflow_json, status, inputs,
                                  started_at, total_cost)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, error = NULL,
                    finished_at = NULL, outputs = NULL
            """, [run.run_id, run.workflow, run.workflow_version, _dump(run.workflow_json), run.status,
                  _dump(run.inputs), _ts(run.started_at), run.total_cost])

    def record_step(self, step: StepRecord) -> None:
        """Insert or replace one step's record."""
        with self._lock:
            self.con.execute("""
                INSERT OR REPLACE INTO run_steps (run_id, step_id, status, attempts, parameters, result, error,
                                                  started_at, finished_at, duration_ms, cost, tool, details)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, [step.run_id, step.step_id, step.status, step.attempts, _dump(step.parameters),
                  _dump(step.result), step.error, _ts(step.started_at), _ts(step.finished_at),
                  step.duration_ms, step.cost, step.tool, _dump(step.details or {})])

    def record_call(self, call: CallRecord) -> None:
        """Buffer one call; the buffer is written in bulk."""
        with self._lock:
            self._calls.append(call)
            full = len(self._calls) >= self.flush_every
        if full:
            self.flush()

    def flush(self) -> int:
        """Write buffered calls into ``calls`` in one statement; returns how many.

        Examples
        --------
        >>> import duckdb
        >>> from chainmine.miner.store import init_schema
        >>> con = duckdb.connect(); init_schema(con); rec = DuckDBRecorder(con)
        >>> rec.record_call(CallRecord("r1", "a", "get_user", 1, 0.0, True, args={"id": 1}))
        >>> rec.flush(), con.execute("SELECT origin, session_id FROM calls").fetchall()
        (1, [('run', 'r1')])
        """
        with self._lock:
            calls, self._calls = self._calls, []
            if not calls:
                return 0
            frame = pd.DataFrame({
                "run_id": [c.run_id for c in calls], "step_id": [c.step_id for c in calls],
                "tool": [c.tool for c in calls], "seq": [c.seq for c in calls],
                "ts": pd.to_datetime([c.ts for c in calls], unit="s"),
                "success": [c.success for c in calls], "error": [c.error for c in calls],
                "duration_ms": [c.duration_ms for c in calls], "cost": [c.cost for c in calls],
                "args": [_dump(c.args) for c in calls], "result": [_dump(c.result) for c in calls],
            })
            self.con.register("_runner_calls", frame)
            try:
                with transaction(self.con):
                    ensure_tools(self.con, "_runner_calls")
                    self.con.execute("""
                        INSERT INTO calls (id, session_id, ts, seq, tool_id, success, error, duration_ms, cost,
                                           args, result, call_id, agent, origin)
                        SELECT md5_number(c.run_id || ':' || c.step_id || ':' || c.seq || ':' || epoch_us(c.ts)),
                               c.run_id, c.ts, c.seq, t.tool_id, c.success, c.error, c.duration_ms, c.cost,
                               c.args::JSON, c.result::JSON, c.step_id, ?, ?
                        FROM _runner_calls c JOIN tools t ON t.tool = c.tool
                    """, [RUNNER_AGENT, RUN])
            finally:
                self.con.unregister("_runner_calls")
            return len(calls)

    def finish_run(self, run: RunRecord) -> None:
        """Store the final state of the run and write its buffered calls."""
        self.flush()
        with self._lock:
            self.con.execute("""
                UPDATE runs SET status = ?, outputs = ?, error = ?, finished_at = ?, duration_ms = ?,
                                total_cost = ?, workflow_json = coalesce(workflow_json, ?)
                WHERE run_id = ?
            """, [run.status, _dump(run.outputs), run.error, _ts(run.finished_at), run.duration_ms,
                  run.total_cost, _dump(run.workflow_json), run.run_id])

    def load_run(self, run_id: str) -> StoredRun | None:
        """The run and its steps, or None; raises :class:`ResumeError` when the record is corrupt."""
        with self._lock:
            row = self.con.execute("""
                SELECT run_id, workflow, workflow_version, workflow_json, status, inputs, outputs, error,
                       started_at, finished_at, duration_ms, total_cost
                FROM runs WHERE run_id = ?""", [run_id]).fetchone()
            if row is None:
                return None
            steps = self.con.execute("""
                SELECT run_id, step_id, status, tool, attempts, parameters, result, error, started_at,
                       finished_at, duration_ms, cost, details
                FROM run_steps WHERE run_id = ? ORDER BY finished_at NULLS LAST, step_id""", [run_id]).fetchall()
        try:
            run = RunRecord(row[0], row[1], row[2], _load(row[3]), row[4], _load(row[5]) or {}, _load(row[6]),
                            row[7], _epoch(row[8]), _epoch(row[9]), row[10], row[11] or 0.0)
            if run.status not in RUN_STATUSES or not isinstance(run.inputs, dict):
                raise ValueError(f"status {run.status!r}, inputs {type(run.inputs).__name__}")
            records = {}
            for s in steps:
                rec = StepRecord(s[0], s[1], s[2], s[3], s[4] or 0, _load(s[5]), _load(s[6]), s[7],
                                 _epoch(s[8]), _epoch(s[9]), s[10], s[11], _load(s[12]) or {})
                if rec.status not in STEP_STATUSES or not isinstance(rec.details, dict):
                    raise ValueError(f"step {rec.step_id!r} has status {rec.status!r}")
                records[rec.step_id] = rec
        except (ValueError, TypeError) as exc:
            raise ResumeError(f"run {run_id!r} record is corrupt ({exc}); start a new run instead") from None
        return StoredRun(run, records)

    def close(self) -> None:
        """Write any buffered calls."""
        self.flush()


def _load(text: Any) -> Any:
    if text is None or not isinstance(text, str):
        return text
    return json.loads(text)


def list_runs(con: duckdb.DuckDBPyConnection, workflow: str | None = None, status: str | None = None,
              limit: int = 50) -> list[dict[str, Any]]:
    """Recent runs, newest first, with step counts.

    Examples
    --------
    >>> import duckdb
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> DuckDBRecorder(con).start_run(RunRecord("r1", "w", started_at=0.0))
    >>> [(r["run_id"], r["status"]) for r in list_runs(con)]
    [('r1', 'running')]
    """
    rows = con.execute("""
        SELECT r.run_id, r.workflow, r.status, r.started_at, r.finished_at, r.duration_ms, r.total_cost, r.error,
               count(s.step_id) AS steps,
               count(s.step_id) FILTER (WHERE s.status = 'completed') AS completed,
               count(s.step_id) FILTER (WHERE s.status IN ('failed', 'budget_exceeded')) AS failed
        FROM runs r LEFT JOIN run_steps s USING (run_id)
        WHERE (? IS NULL OR r.workflow = ?) AND (? IS NULL OR r.status = ?)
        GROUP BY ALL ORDER BY r.started_at DESC NULLS LAST, r.run_id LIMIT ?
    """, [workflow, workflow, status, status, limit]).fetchall()
    cols = ["run_id", "workflow", "status", "started_at", "finished_at", "duration_ms", "total_cost", "error",
            "steps", "completed", "failed"]
    return [_iso(dict(zip(cols, r))) for r in rows]


def get_run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    """One run with its steps (in start order) and the number of recorded tool calls.

    Examples
    --------
    >>> import duckdb
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> get_run(con, "nope")
    Traceback (most recent call last):
    ...
    chainmine.miner.run_store.RunNotFoundError: no run 'nope' is recorded; see `chainmine runs list`
    """
    stored = DuckDBRecorder(con).load_run(run_id)
    if stored is None:
        raise RunNotFoundError(f"no run {run_id!r} is recorded; see `chainmine runs list`")
    calls = con.execute(f"SELECT count(*) FROM calls WHERE {run_calls_where()} AND session_id = ?",
                        [run_id]).fetchone()[0]
    run = stored.run
    steps = sorted(stored.steps.values(), key=lambda s: (s.started_at is None, s.started_at or 0, s.step_id))
    return _iso({
        "run_id": run.run_id, "workflow": run.workflow, "workflow_version": run.workflow_version,
        "status": run.status, "inputs": run.inputs, "outputs": run.outputs, "error": run.error,
        "started_at": _ts(run.started_at), "finished_at": _ts(run.finished_at), "duration_ms": run.duration_ms,
        "total_cost": run.total_cost, "calls": calls,
        "steps": [_iso({"id": s.step_id, "tool": s.tool, "status": s.status, "attempts": s.attempts,
                        "duration_ms": s.duration_ms, "cost": s.cost, "error": s.error,
                        "started_at": _ts(s.started_at), "finished_at": _ts(s.finished_at),
                        "parameters": s.parameters, "result": s.result, "details": s.details})
                  for s in steps],
    })


def _confirmed(workflow: WorkflowTemplate, confirm: bool | Callable[[str], bool]) -> bool:
    """Whether a run may go on; asks ``confirm`` (a prompt) only when a step is destructive."""
    if not destructive_steps(workflow) or confirm is True:
        return True
    if callable(confirm) and confirm(f"{workflow.name} will change things: {change_summary(workflow)}. Run it?"):
        return True
    require_confirmation(workflow, False, "rerun with --yes (or answer yes at a terminal)")
    return False


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def _effects(effects: Any, library_path: str) -> Any:
    """The ``--effects`` file, else the one beside the library, else none."""
    return effects if effects is not None else overrides_beside(library_path)


def plan_named_workflow(name: str, tools: Iterable[str], library_path: str, effects: Any = None) -> Plan:
    """Plan library workflow ``name`` against ``tools`` without calling anything (``--dry-run``).

    Examples
    --------
    >>> import tempfile, os
    >>> plan_named_workflow("nope", ["json"], os.path.join(tempfile.mkdtemp(), "lib.json"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.library.errors.NotFoundError: no workflow named 'nope' in ...; run `chainmine library list` to see the names
    """
    lib = WorkflowLibrary(library_path)
    workflow = lib.get(name)
    with load_registries(tools) as registry:
        return WorkflowExecutor(registry, library=lib, allow_unreviewed=True,
                                effects=_effects(effects, library_path)).plan(workflow)


def run_named_workflow(name: str, tools: Iterable[str], *, library_path: str, db: str | None = None,
                       input_pairs: Iterable[str] = (), inputs_file: str | None = None,
                       budget: float | None = None, resume: str | None = None, max_concurrency: int = 10,
                       allow_unreviewed: bool = False, events: EventBus | None = None,
                       default_timeout: float | None = 300.0,
                       rate_limits: Mapping[str, float] | None = None, effects: Any = None,
                       confirm: bool | Callable[[str], bool] = False, trace_file: str | None = None,
                       otlp_endpoint: str | None = None, trace_content: bool = True) -> RunResult:
    """Run (or resume) library workflow ``name`` and record it in the DuckDB store.

    Inputs come from ``inputs_file`` (a JSON object) overlaid with
    ``input_pairs`` (``k=v``, JSON when it parses). A resumed run reuses its
    stored inputs. Every run is recorded in ``db``; see :class:`DuckDBRecorder`.

    Side effects come from ``effects`` (an override file), else ``effects.toml`` /
    ``effects.json`` beside the library. A workflow with a destructive step
    needs ``confirm``: ``True``, or a function asked with a one-line summary
    of what would change that returns whether to go on; otherwise
    :class:`~chainmine.library.runner.safety.ConfirmationRequiredError` is raised and
    nothing runs.

    Tracing: with ``trace_file`` (appended OTLP/JSON lines), ``otlp_endpoint`` (an
    OTLP/HTTP base URL) or the ``OTEL_EXPORTER_OTLP_*ENDPOINT`` variables the run is
    also emitted as OpenTelemetry GenAI spans (:mod:`chainmine.library.runner.tracing`), with
    tool arguments and results unless ``trace_content`` is False. A trace file that
    cannot be written fails before anything runs.

    Examples
    --------
    >>> import tempfile, os
    >>> run_named_workflow("nope", ["json"], library_path=os.path.join(tempfile.mkdtemp(), "l.json"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.library.errors.NotFoundError: no workflow named 'nope' in ...; run `chainmine library list` to see the names
    """
    lib = WorkflowLibrary(library_path)
    workflow = lib.get(name)
    pairs = list(input_pairs)
    if resume and (pairs or inputs_file):
        raise ResumeError("--resume reuses the run's stored inputs; drop --input/--inputs")
    inputs: dict[str, Any] = load_inputs_file(inputs_file) if inputs_file else {}
    inputs.update(parse_input_pairs(pairs, workflow.inputs))
    provider = tracer_provider_for(trace_file, otlp_endpoint)
    with contextlib.ExitStack() as stack:
        stack.callback(shutdown, provider)  # after the tools close: every span is finished by then
        registry = stack.enter_context(load_registries(tools))
        con = connect(db)
        recorder = DuckDBRecorder(con)
        try:
            executor = WorkflowExecutor(registry, max_concurrency, recorder, events, budget, library=lib,
                                        allow_unreviewed=allow_unreviewed, default_timeout=default_timeout,
                                        rate_limits=rate_limits, effects=_effects(effects, library_path),
                                        tracer_provider=provider, trace_content=trace_content)
            confirmed = _confirmed(executor.plan(workflow).workflow, confirm)
            if resume:
                return executor.resume(resume, workflow_name=name, confirm=confirmed)
            return executor.execute(workflow, inputs, confirm=confirmed)
        finally:
            try:
                recorder.close()
            finally:
                con.close()
