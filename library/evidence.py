"""Reading a workflow's replay evidence (``evidence.replay``) for people and agents.

``chainmine validate`` replays a workflow on the sessions where the logs show
it and stores ``{"pass_rate", "compared", "first_disagreement", "at", ...}``
under ``evidence.replay``. The helpers here turn that record into the words
shown by ``library show``, the MCP tool description and the dashboard, and into
the warning ``library accept`` gives, so all of them say the same thing.
"""

from __future__ import annotations

from typing import Any

from chainmine.library.model import WorkflowTemplate

REPLAY_KEY = "replay"
DEFAULT_MIN_PASS_RATE = 0.8
"""Below this replay pass rate ``library accept`` warns."""


def replay_evidence(wf: WorkflowTemplate) -> dict[str, Any] | None:
    """The stored replay record of ``wf``, or ``None`` when it was never validated.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> replay_evidence(wf) is None
    True
    >>> replay_evidence(wf.model_copy(update={"evidence": {"replay": {"pass_rate": 0.5}}}))
    {'pass_rate': 0.5}
    """
    record = (wf.evidence or {}).get(REPLAY_KEY)
    return record if isinstance(record, dict) else None


def disagreement_text(first: dict[str, Any] | None) -> str:
    """One line for a ``first_disagreement`` record: where, which field, logged vs replayed.

    Examples
    --------
    >>> disagreement_text({"session": "s1", "step": "get_user", "field": "args.user_id",
    ...                    "logged": "'u1'", "replayed": "'u2'"})
    "session s1, step get_user, args.user_id: logged 'u1', replayed 'u2'"
    >>> disagreement_text(None)
    ''
    """
    if not first:
        return ""
    text = f"session {first.get('session')}, step {first.get('step')}, {first.get('field')}"
    if "logged" in first or "replayed" in first:
        text += f": logged {first.get('logged')}, replayed {first.get('replayed')}"
    return text


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def replay_text(wf: WorkflowTemplate, with_disagreement: bool = True) -> str:
    """One sentence about the replay evidence, or ``""`` when there is none.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")], evidence={"replay": {
    ...     "pass_rate": 0.9, "replayed": 10, "passed": 9, "compared": 31, "at": "2026-12-07T04:00:00+00:00",
    ...     "first_disagreement": None}})
    >>> replay_text(wf)
    'Replay: 9 of 10 logged occurrences replayed identically (90%), 31 calls compared, on 2026-12-07T04:00:00+00:00.'
    >>> replay_text(wf.model_copy(update={"version": 2, "evidence": {"replay": {"pass_rate": 1.0, "workflow_version": 1}}}))
    'Replay: pass rate 100%, 0 calls compared (of version 1; this is version 2, validate it again).'
    """
    record = replay_evidence(wf)
    if record is None:
        return ""
    rate = record.get("pass_rate")
    if rate is None:
        text = "Replay: no logged occurrence could be replayed"
    elif record.get("replayed") is not None and record.get("passed") is not None:
        text = (f"Replay: {record['passed']} of {record['replayed']} logged occurrences replayed identically "
                f"({_percent(rate)})")
    else:
        text = f"Replay: pass rate {_percent(rate)}"
    text += f", {record.get('compared', 0)} calls compared"
    if record.get("skipped_writes"):
        text += f", {record['skipped_writes']} write calls answered from the log"
    if record.get("ignored"):
        text += f", differences in {', '.join(record['ignored'])} ignored"
    if record.get("at"):
        text += f", on {record['at']}"
    version = record.get("workflow_version")
    if version is not None and version != wf.version:
        text += f" (of version {version}; this is version {wf.version}, validate it again)"
    text += "."
    first = record.get("first_disagreement")
    if with_disagreement and first:
        text += f" First disagreement: {disagreement_text(first)}."
    return text


def replay_warning(wf: WorkflowTemplate, min_pass_rate: float = DEFAULT_MIN_PASS_RATE) -> str | None:
    """Why accepting ``wf`` deserves a second look: no replay evidence, or a pass rate below ``min_pass_rate``.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> replay_warning(wf)
    'w has no replay evidence; check it with `chainmine validate w --tools ...`'
    >>> replay_warning(wf.model_copy(update={"evidence": {"replay": {"pass_rate": 0.95}}})) is None
    True
    >>> replay_warning(wf.model_copy(update={"version": 2, "evidence": {"replay": {"pass_rate": 1.0,
    ...                                                                       "workflow_version": 1}}}))
    "w's replay evidence is for version 1, not this version 2; validate it again"
    """
    record = replay_evidence(wf)
    if record is None:
        return f"{wf.name} has no replay evidence; check it with `chainmine validate {wf.name} --tools ...`"
    rate = record.get("pass_rate")
    if rate is None:
        return f"{wf.name} has replay evidence but no occurrence could be replayed"
    version = record.get("workflow_version")
    if version is not None and version != wf.version:
        return (f"{wf.name}'s replay evidence is for version {version}, not this version {wf.version}; "
                f"validate it again")
    if rate < min_pass_rate:
        first = disagreement_text(record.get("first_disagreement"))
        return (f"{wf.name} replays identically in only {_percent(rate)} of its logged occurrences "
                f"(threshold {_percent(min_pass_rate)})" + (f"; first disagreement: {first}" if first else ""))
    return None
