"""Review decisions and edits of single workflows, as pure functions.

Review flow: ``suggested → accepted | rejected``. Going back out of a
decision (accepting a rejected workflow, rejecting an accepted one) needs
``force=True`` (CLI ``--force``); :func:`set_status` with ``"suggested"``
(CLI ``reopen``) explicitly puts a decided workflow back up for review.
Status changes do not touch ``version``; every edit that changes the
workflow raises ``version`` by one. Both refresh ``updated_at``.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Mapping

from chainmine.library.errors import ReviewError, ValidationError
from chainmine.library.model import STATUSES, WorkflowStep, WorkflowTemplate, utc_now
from chainmine.library.validate import workflow_from_data

log = logging.getLogger(__name__)

STEP_OPTIONS = tuple(f for f in WorkflowStep.model_fields if f not in ("id", "tool_name", "parameters", "sources"))
"""Step fields an edit may set through ``options`` (``None`` resets one to its default)."""

EDIT_KEYS = ("name", "description", "category", "tags", "inputs", "outputs", "parameters", "options", "unset")
"""Keyword arguments :func:`apply_edit` understands."""


def set_status(wf: WorkflowTemplate, status: str, *, force: bool = False, reason: str | None = None,
               now: str | None = None) -> WorkflowTemplate:
    """Return ``wf`` moved to ``status`` (``wf`` itself when nothing changes).

    ``reason`` is kept as ``review_note``. Accepting a rejected or rejecting
    an accepted workflow raises :class:`ReviewError` unless ``force``.

    Examples
    --------
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> set_status(wf, "rejected", reason="noise").review_note
    'noise'
    """
    if status not in STATUSES:
        raise ValidationError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    opposite = {"accepted": "rejected", "rejected": "accepted"}.get(status)
    if wf.status == opposite and not force:
        verb = "accept" if status == "accepted" else "reject"
        raise ReviewError(f"workflow {wf.name!r} is {wf.status}; to {verb} it anyway pass --force "
                          f"(force=True), or reopen it first")
    note = reason if status != "suggested" else None
    if wf.status == status and (reason is None or reason == wf.review_note):
        return wf
    return wf.model_copy(update={"status": status, "review_note": note, "updated_at": now or utc_now()})


def apply_edit(wf: WorkflowTemplate, changes: Mapping[str, Any], *, now: str | None = None) -> WorkflowTemplate:
    """Return ``wf`` with ``changes`` applied and ``version`` raised, checked like a new workflow.

    ``changes`` may hold ``name``, ``description``, ``category``, ``tags``,
    ``inputs``, ``outputs`` (replacing the field), ``parameters`` (``{step_id:
    {param: value}}``, merged into the step's parameters), ``options``
    (``{step_id: {option: value}}`` for :data:`STEP_OPTIONS`) and ``unset``
    (``{step_id: [param, ...]}`` to drop parameters). Every problem is raised
    at once as :class:`ValidationError`; ``wf`` itself comes back when the
    edit changes nothing.

    Examples
    --------
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> new = apply_edit(wf, {"description": "d", "options": {"a": {"max_retries": 3}}})
    >>> new.version, new.step("a").max_retries
    (2, 3)
    """
    problems = [f"{key}: cannot edit {key!r}; editable: {', '.join(EDIT_KEYS)}" for key in changes
                if key not in EDIT_KEYS]
    data = wf.to_dict()
    for key in ("name", "description", "category", "tags", "inputs", "outputs"):
        if key in changes:
            data[key] = changes[key]
    steps = {s["id"]: s for s in data["steps"]}
    for kind in ("parameters", "options", "unset"):
        for step_id, value in (changes.get(kind) or {}).items():
            step = steps.get(step_id)
            if step is None:
                problems.append(f"{kind}.{step_id}: no step {step_id!r} (steps: {', '.join(steps)})")
            else:
                problems += _edit_step(step, kind, value)
    if problems:
        raise ValidationError(f"cannot edit workflow {wf.name!r}: " + "; ".join(problems), problems)
    new, problems = workflow_from_data(data)
    if problems or new is None:
        raise ValidationError(f"the edit would make workflow {wf.name!r} invalid: " + "; ".join(problems), problems)
    if new.to_dict() == wf.to_dict():
        return wf
    return new.model_copy(update={"version": wf.version + 1, "updated_at": now or utc_now()})


def _edit_step(step: dict[str, Any], kind: str, value: Any) -> list[str]:
    where = f"{kind}.{step['id']}"
    if kind == "unset":
        names = [value] if isinstance(value, str) else list(value)
        missing = [n for n in names if n not in step["parameters"]]
        for n in names:
            step["parameters"].pop(n, None)
        return [f"{where}: step has no parameter {n!r}" for n in missing]
    if not isinstance(value, Mapping):
        return [f"{where}: give a mapping of names to values"]
    if kind == "parameters":
        step["parameters"].update(value)
        return []
    problems = []
    for option, v in value.items():
        if option not in STEP_OPTIONS:
            problems.append(f"{where}.{option}: not a step option; options: {', '.join(STEP_OPTIONS)}")
        elif v is None:
            step.pop(option, None)
        else:
            step[option] = v
    return problems


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (``3``, ``true``, ``null``, ``[1]``), else the text.

    Examples
    --------
    >>> parse_value("3"), parse_value("{{user_id}}"), parse_value('"5"')
    (3, '{{user_id}}', '5')
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignments(items: Iterable[str], flag: str = "--set") -> dict[str, dict[str, Any]]:
    """Turn ``["step.name=value", ...]`` into ``{step: {name: value}}`` (values via :func:`parse_value`).

    Examples
    --------
    >>> parse_assignments(["get_user.user_id={{uid}}", "get_user.limit=5"])
    {'get_user': {'user_id': '{{uid}}', 'limit': 5}}
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        step, dot, name = key.strip().partition(".")
        if not eq or not dot or not step or not name:
            raise ValidationError(f"{flag} {item!r}: write it as STEP.NAME=VALUE, e.g. get_user.max_retries=3")
        out.setdefault(step, {})[name.strip()] = parse_value(value)
    return out


def parse_unsets(items: Iterable[str]) -> dict[str, list[str]]:
    """Turn ``["step.param", ...]`` into ``{step: [param, ...]}``.

    Examples
    --------
    >>> parse_unsets(["a.x", "a.y"])
    {'a': ['x', 'y']}
    """
    out: dict[str, list[str]] = {}
    for item in items:
        step, dot, name = item.strip().partition(".")
        if not dot or not step or not name:
            raise ValidationError(f"--unset {item!r}: write it as STEP.PARAM, e.g. get_user.limit")
        out.setdefault(step, []).append(name)
    return out
