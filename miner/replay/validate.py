"""Validating workflows by replaying them on their logged occurrences.

:func:`validate_workflow` takes up to ``sessions`` logged occurrences of a
workflow (see :mod:`chainmine.miner.replay.logged`), runs the workflow through the real
runner for each with the inputs that occurrence had, and compares every call
and result with the log (:mod:`chainmine.miner.replay.verdict`).

Writes. Steps whose effect is ``write`` or ``destructive`` (and compensation
tools) are not called unless ``allow_writes``: the workflow's arguments for
them are still compared, and the step is answered with its logged result, so
the read steps after it are checked too; ``skipped_writes`` counts those
calls. With ``allow_writes`` they are called for real.

Tool state. With ``allow_writes`` (or ``fresh=True``) the ``--tools`` modules
are loaded again for every occurrence, so one replay's writes never leak into
the next (a tools module that loads its data at import starts over).

:func:`validate_library` validates several library workflows and stores each
report's :meth:`ReplayReport.evidence` as ``evidence.replay``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import duckdb

from chainmine.library.errors import LibraryError
from chainmine.library.evidence import REPLAY_KEY
from chainmine.library.model import WorkflowTemplate, utc_now
from chainmine.library.runner import WorkflowExecutor
from chainmine.library.runner.recorder import MemoryRecorder
from chainmine.library.runner.resilience import ToolGuards
from chainmine.library.runner.safety import as_overrides, resolve_effects, tool_effect
from chainmine.library.store import WorkflowLibrary
from chainmine.miner.errors import ChainmineError
from chainmine.miner.replay.logged import Occurrence, logged_inputs, sample_occurrences
from chainmine.miner.replay.tools import LoggedAnswers, ToolSource
from chainmine.miner.replay.verdict import Disagreement, judge_occurrence

log = logging.getLogger(__name__)

WRITES = ("write", "destructive")


class NoOccurrencesError(ChainmineError):
    """The store holds no logged occurrence of the workflow to replay.

    Examples
    --------
    >>> str(NoOccurrencesError("no logged occurrence of 'w'"))
    "no logged occurrence of 'w'"
    """


@dataclass(frozen=True)
class OccurrenceReplay:
    """One replayed occurrence: ``status`` is ``passed``, ``failed`` or ``skipped`` (with a note).

    Examples
    --------
    >>> OccurrenceReplay("s1", 0, "passed", compared=2).status
    'passed'
    """

    session: str
    start_pos: int
    status: str
    compared: int = 0
    skipped_writes: int = 0
    extra_calls: int = 0
    disagreement: Disagreement | None = None
    note: str | None = None
    args_agreed: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"session": self.session, "start_pos": self.start_pos, "status": self.status,
                "compared": self.compared, "skipped_writes": self.skipped_writes, "extra_calls": self.extra_calls,
                "args_agreed": self.args_agreed,
                "disagreement": self.disagreement.to_dict() if self.disagreement else None, "note": self.note}


@dataclass
class ReplayReport:
    """How a workflow fared when replayed on its logged occurrences.

    Examples
    --------
    >>> r = ReplayReport("w", occurrences=5, failed_in_log=1)
    >>> r.results = [OccurrenceReplay("s1", 0, "passed", 2), OccurrenceReplay("s2", 0, "failed", 2)]
    >>> r.pass_rate, r.compared
    (0.5, 4)
    """

    workflow: str
    occurrences: int
    failed_in_log: int
    allow_writes: bool = False
    tools: list[str] = field(default_factory=list)
    version: int | None = None
    ignore: list[str] = field(default_factory=list)
    at: str = field(default_factory=utc_now)
    results: list[OccurrenceReplay] = field(default_factory=list)

    @property
    def replayed(self) -> int:
        """Occurrences replayed and compared (skipped ones left out)."""
        return sum(r.status != "skipped" for r in self.results)

    @property
    def passed(self) -> int:
        """Occurrences whose every compared call and result agreed with the log."""
        return sum(r.status == "passed" for r in self.results)

    @property
    def pass_rate(self) -> float | None:
        """``passed / replayed``; ``None`` when nothing could be replayed."""
        return round(self.passed / self.replayed, 4) if self.replayed else None

    @property
    def args_pass_rate(self) -> float | None:
        """Share of replayed occurrences that made exactly the logged calls with the logged arguments.

        Results may still differ (e.g. the tools' data changed since the log was written);
        a low value here means the wiring is wrong.
        """
        agreed = sum(r.args_agreed for r in self.results if r.status != "skipped")
        return round(agreed / self.replayed, 4) if self.replayed else None

    @property
    def compared(self) -> int:
        """Logged calls compared with a replayed call."""
        return sum(r.compared for r in self.results)

    @property
    def first_disagreement(self) -> dict[str, str] | None:
        """The first disagreement in sample order, or ``None``."""
        return next((r.disagreement.to_dict() for r in self.results if r.disagreement), None)

    def evidence(self) -> dict[str, Any]:
        """The record stored as ``evidence.replay`` in the library.

        Examples
        --------
        >>> {k: v for k, v in ReplayReport("w", 0, 0).evidence().items() if k in ("pass_rate", "compared")}
        {'pass_rate': None, 'compared': 0}
        """
        return {"pass_rate": self.pass_rate, "compared": self.compared,
                "first_disagreement": self.first_disagreement, "at": self.at,
                "occurrences": self.occurrences, "failed_in_log": self.failed_in_log,
                "replayed": self.replayed, "passed": self.passed, "args_pass_rate": self.args_pass_rate,
                "skipped": sum(r.status == "skipped" for r in self.results),
                "skipped_writes": sum(r.skipped_writes for r in self.results),
                "extra_calls": sum(r.extra_calls for r in self.results),
                "allow_writes": self.allow_writes, "tools": list(self.tools), "ignored": list(self.ignore),
                "workflow_version": self.version}

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` form: the evidence plus the workflow name and every occurrence."""
        return {"workflow": self.workflow, **self.evidence(), "results": [r.to_dict() for r in self.results]}


def _write_tools(wf: WorkflowTemplate, overrides: Any, registry: Any) -> set[str]:
    tools = {t for s in wf.steps if s.effect in WRITES for t in (s.tool_name, s.fallback_tool) if t}
    for s in wf.steps:
        if s.compensation is not None and tool_effect(s.compensation.tool_name, registry, overrides)[0] in WRITES:
            tools.add(s.compensation.tool_name)
    return tools


def _replay_one(wf: WorkflowTemplate, occ: Occurrence, source: ToolSource, writes: set[str], allow_writes: bool,
                effects: Any, timeout: float, ignore: Sequence[str]) -> OccurrenceReplay:
    inputs, missing = logged_inputs(wf, occ)
    if missing:
        return OccurrenceReplay(occ.session_id, occ.start_pos, "skipped",
                                note=f"inputs not found in the logged calls: {', '.join(missing)}")
    registry = source.for_occurrence()
    answered = set() if allow_writes else writes
    if answered:
        registry = LoggedAnswers(registry, answered, [c for calls in occ.steps.values() for c in calls])
    recorder = MemoryRecorder()
    executor = WorkflowExecutor(registry, recorder=recorder, allow_unreviewed=True, guards=ToolGuards(),
                                default_timeout=timeout, effects=effects)
    try:
        result = executor.execute(wf, inputs, confirm=True)
    except LibraryError as exc:
        bad = Disagreement(occ.session_id, "-", "inputs", str(inputs)[:80], str(exc).splitlines()[0][:80])
        return OccurrenceReplay(occ.session_id, occ.start_pos, "failed", disagreement=bad)
    verdict = judge_occurrence(wf, occ, recorder.calls, result, answered, ignore)
    status = "passed" if verdict.passed else "failed" if verdict.disagreement else "skipped"
    return OccurrenceReplay(occ.session_id, occ.start_pos, status, verdict.compared, verdict.answered,
                            verdict.extra, verdict.disagreement,
                            None if status != "skipped" else "no logged call could be compared",
                            verdict.args_agreed)


def validate_workflow(con: duckdb.DuckDBPyConnection, workflow: WorkflowTemplate, tools: Any, *,
                      sessions: int = 20, allow_writes: bool = False, max_gap: int = 1, effects: Any = None,
                      fresh: bool | None = None, timeout: float = 60.0, ignore: Sequence[str] = ()) -> ReplayReport:
    """Replay ``workflow`` on up to ``sessions`` logged occurrences and compare with the log.

    Parameters
    ----------
    con : DuckDB connection to a chainmine store (read only is enough).
    workflow : WorkflowTemplate
        Any status: validation is how a suggestion earns trust.
    tools : ``--tools`` specs (list of str) or a tool registry
    sessions : int
        Occurrences replayed, spread evenly over the log.
    allow_writes : bool
        Call write/destructive steps for real; otherwise they are answered from the log.
    max_gap : int
        Unrelated calls allowed between two steps of an occurrence.
    effects : override file, dict or None
        Side-effect classes (as for ``chainmine run``).
    fresh : bool, optional
        Load the tools again per occurrence; default: when ``allow_writes``.
    timeout : float
        Per-call timeout in seconds.
    ignore : sequence of str
        Field patterns whose differences do not count (``fnmatch``: ``result.address.*``,
        ``result.*.updated_at``), for data that legitimately changed since the log.

    Raises
    ------
    NoOccurrencesError
        When the store has no logged occurrence of the workflow.

    Examples
    --------
    >>> from chainmine.library.model import InputSpec, WorkflowStep as S
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> wf = WorkflowTemplate(name="w", steps=[S(id="a", tool_name="dumps", parameters={"obj": 1})])
    >>> validate_workflow(con, wf, ["json"])
    Traceback (most recent call last):
    ...
    chainmine.miner.replay.validate.NoOccurrencesError: no logged occurrence of workflow 'w' in the store (tools dumps); ingest the logs it was mined from
    """
    specs = [tools] if isinstance(tools, str) else tools
    fresh = allow_writes if fresh is None else fresh
    overrides = as_overrides(effects)
    with ToolSource(specs, fresh=fresh) as source:
        wf = resolve_effects(workflow, source.shared, overrides)
        WorkflowExecutor(source.shared, allow_unreviewed=True, effects=overrides).plan(wf)
        logged = sample_occurrences(con, wf, sessions, max_gap)
        if logged.total == 0:
            raise NoOccurrencesError(f"no logged occurrence of workflow {wf.name!r} in the store "
                                     f"(tools {', '.join(wf.tools)}); ingest the logs it was mined from")
        writes = _write_tools(wf, overrides, source.shared)
        report = ReplayReport(wf.name, logged.total, logged.failed_in_log, allow_writes=allow_writes,
                              tools=[source.shared.source],
                              version=wf.version, ignore=list(ignore))
        for occ in logged.occurrences:
            report.results.append(_replay_one(wf, occ, source, writes, allow_writes, overrides, timeout, ignore))
    log.info("%s: %s of %s replayed occurrences passed", wf.name, report.passed, report.replayed)
    return report


@dataclass(frozen=True)
class LibraryValidation:
    """Reports per validated workflow, and the ones that could not be validated (name → reason).

    Examples
    --------
    >>> LibraryValidation([], {"w": "no logged occurrence"}).to_dict()["errors"]
    {'w': 'no logged occurrence'}
    """

    reports: list[ReplayReport]
    errors: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document of ``chainmine validate``."""
        return {"workflows": [r.to_dict() for r in self.reports], "errors": dict(self.errors)}


def validate_library(con: duckdb.DuckDBPyConnection, library: WorkflowLibrary, names: Sequence[str] | None,
                     tools: Any, *, status: str | None = None, store: bool = True,
                     on_done: Callable[[str], None] | None = None, **options: Any) -> LibraryValidation:
    """Validate the named workflows (or every one with ``status``; all when both are ``None``) and store evidence.

    One named workflow without occurrences raises :class:`NoOccurrencesError`;
    when validating many, such a workflow is reported in ``errors`` and the
    others go on. ``options`` go to :func:`validate_workflow`.

    Examples
    --------
    >>> import os, tempfile; from chainmine.library.builder import WorkflowBuilder
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
    >>> _ = lib.register(WorkflowBuilder("w").add_step("a", "dumps", obj=1).build())
    >>> validate_library(con, lib, None, ["json"]).errors["w"][:27]
    'no logged occurrence of wor'
    """
    workflows = [library.get(n) for n in names] if names else library.list_all(status=status)
    if not workflows:
        raise NoOccurrencesError(f"no workflows{f' with status {status}' if status else ''} in {library.path}")
    reports, errors = [], {}
    for wf in workflows:
        try:
            report = validate_workflow(con, wf, tools, **options)
        except NoOccurrencesError as exc:
            if names and len(workflows) == 1:
                raise
            errors[wf.name] = str(exc)
            continue
        finally:
            if on_done is not None:
                on_done(wf.name)
        reports.append(report)
    if store and reports:
        library.set_evidence(REPLAY_KEY, {r.workflow: r.evidence() for r in reports})
    return LibraryValidation(reports, errors)
