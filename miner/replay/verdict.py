"""Judging one replayed occurrence against its logged calls, step by step.

For every step, each logged call is matched with a replayed call with the
same (normalised) arguments; an unmatched logged call is a disagreement on the
first argument that differs from the replayed call in its place. A matched
pair must agree on success and, when both succeeded, on the result — except
for writes answered from the log, whose results are the log's own. Replayed
calls the log does not have are a disagreement too, except in a map step that
only reads: agents often looked at some of the items a workflow looks at.

The disagreement reported is the first on arguments or calls (the wiring) when
there is one, else the first on success or results, in step order.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from chainmine.library.model import WorkflowStep, WorkflowTemplate
from chainmine.library.runner.recorder import CallRecord
from chainmine.library.runner.registry import IDEMPOTENCY_PARAM
from chainmine.library.runner.results import RunResult
from chainmine.miner.replay.compare import all_differences, args_key, normalise, shown
from chainmine.miner.replay.logged import LoggedCall, Occurrence


@dataclass(frozen=True)
class Disagreement:
    """Where a replay first differed from the log: session, step, field, both values (short text).

    Examples
    --------
    >>> Disagreement("s1", "get_user", "args.user_id", '"u1"', '"u2"').to_dict()["field"]
    'args.user_id'
    """

    session: str
    step: str
    field: str
    logged: str
    replayed: str

    def to_dict(self) -> dict[str, str]:
        """The record stored as ``first_disagreement``."""
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    """What comparing one occurrence found.

    Examples
    --------
    >>> Verdict(compared=3, answered=1, extra=0, disagreement=None).passed
    True
    """

    compared: int
    answered: int
    extra: int
    disagreement: Disagreement | None
    args_agreed: bool = True
    """No call was missing, extra or sent with other arguments (results may still differ)."""

    @property
    def passed(self) -> bool:
        """Every compared call agreed (and at least one was compared)."""
        return self.disagreement is None and self.compared > 0


def _args(call: CallRecord, logged: dict[str, Any] | None = None) -> dict[str, Any]:
    args = dict(call.args or {})
    if IDEMPOTENCY_PARAM in args and IDEMPOTENCY_PARAM not in (logged or {}):
        del args[IDEMPOTENCY_PARAM]  # the runner's own key, not something the log could hold
    return args


def _without_retried(calls: list[CallRecord]) -> list[CallRecord]:
    # a failed attempt that was tried again with the same arguments counts once, as its last attempt;
    # map items that legitimately repeat arguments all stay
    keys = [args_key(_args(c)) for c in calls]
    return [c for i, c in enumerate(calls) if c.success or keys[i] not in keys[i + 1:]]


class _Judge:
    def __init__(self, occurrence: Occurrence, answered_tools: set[str], ignore: Sequence[str]):
        self.occurrence = occurrence
        self.answered_tools = answered_tools
        self.ignore = list(ignore)
        self.compared = self.answered = self.extra = 0
        self.first: Disagreement | None = None
        self.first_args: Disagreement | None = None
        self.args_agreed = True

    def disagree(self, step: str, field: str, logged: Any, replayed: Any) -> None:
        if any(fnmatch.fnmatchcase(field, pattern) for pattern in self.ignore):
            return
        found = Disagreement(self.occurrence.session_id, step, field, shown(logged), shown(replayed))
        if field.startswith(("args", "call")):
            self.args_agreed = False
            self.first_args = self.first_args or found
        self.first = self.first or found

    @property
    def disagreement(self) -> Disagreement | None:
        # a wrong argument says the wiring is wrong, which matters more than a result that moved on
        return self.first_args or self.first

    def pair(self, step: WorkflowStep, logged: LoggedCall, replayed: CallRecord) -> None:
        if replayed.tool in self.answered_tools:
            self.answered += 1
            return
        if logged.success != replayed.success:
            self.disagree(step.id, "success", logged.success,
                          f"{replayed.success} ({replayed.error})" if replayed.error else replayed.success)
        elif logged.success:
            self.differences(step, normalise(logged.result), normalise(replayed.result), "result")

    def differences(self, step: WorkflowStep, logged: Any, replayed: Any, path: str) -> None:
        # an ignored field must not hide a later difference of the same call
        for diff in all_differences(logged, replayed, path):
            self.disagree(step.id, *diff)
            if not any(fnmatch.fnmatchcase(diff[0], p) for p in self.ignore):
                return

    def step(self, step: WorkflowStep, logged: list[LoggedCall], replayed: list[CallRecord],
             outcome: Any) -> None:
        if not logged and not replayed:
            return
        self.compared += len(logged)
        if logged and not replayed:
            why = getattr(outcome, "error", None) or (getattr(outcome, "details", None) or {}).get("reason")
            status = getattr(outcome, "status", "not run")
            self.disagree(step.id, "call", f"{len(logged)} call(s) of {step.tool_name}",
                          f"not called: {status}" + (f" ({why})" if why else ""))
            return
        left = list(replayed)
        unmatched: list[LoggedCall] = []
        for call in logged:
            key = args_key(call.args)
            match = next((r for r in left if args_key(_args(r, call.args)) == key), None)
            if match is None:
                unmatched.append(call)
                continue
            left.remove(match)
            self.pair(step, call, match)
        for call in unmatched:
            if left:
                other = left.pop(0)
                self.args_agreed = False
                self.differences(step, normalise(call.args), normalise(_args(other, call.args)), "args")
            else:
                self.disagree(step.id, "call", call.args, "no call with these arguments")
        if left:
            if step.map_over and step.effect == "read":
                self.extra += len(left)
            else:
                self.disagree(step.id, "call", "no such call", _args(left[0]))


def judge_occurrence(workflow: WorkflowTemplate, occurrence: Occurrence, calls: Sequence[CallRecord],
                     result: RunResult | None, answered_tools: set[str] = frozenset(),
                     ignore: Sequence[str] = ()) -> Verdict:
    """Compare the calls a replay made (``calls``) with ``occurrence``'s logged calls.

    ``answered_tools`` are the write tools answered from the log (their
    arguments are compared, their results are not). ``ignore`` holds field
    patterns (``fnmatch``, e.g. ``result.address.*``) whose differences do not count.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep as S
    >>> wf = WorkflowTemplate(name="w", steps=[S(id="u", tool_name="get_user", effect="read")])
    >>> occ = Occurrence("s1", 0, 0, {"u": [LoggedCall(0, "get_user", {"id": "a"}, {"n": 1}, True)]})
    >>> same = [CallRecord("r", "u", "get_user", 1, 0.0, True, args={"id": "a"}, result={"n": 1.0})]
    >>> judge_occurrence(wf, occ, same, None).passed
    True
    >>> other = [CallRecord("r", "u", "get_user", 1, 0.0, True, args={"id": "b"}, result={"n": 1})]
    >>> judge_occurrence(wf, occ, other, None).disagreement.field
    'args.id'
    """
    judge = _Judge(occurrence, set(answered_tools), ignore)
    for step in workflow.steps:
        tools = {step.tool_name, step.fallback_tool}
        replayed = _without_retried([c for c in calls if c.step_id == step.id and c.tool in tools])
        outcome = result.steps.get(step.id) if result is not None else None
        judge.step(step, occurrence.calls_of(step.id), replayed, outcome)
    if judge.first is None and result is not None and result.status != "completed":
        failed = next((s for s in result.steps.values() if s.status == "failed"), None)
        judge.disagree(failed.step_id if failed else "-", "run", "completed",
                       f"{result.status}: {result.error or (failed.error if failed else '')}")
    return Verdict(judge.compared, judge.answered, judge.extra, judge.disagreement, judge.args_agreed)
