"""Inputs whose value must come from a list an earlier step returns (``InputSpec.choices``).

A mined workflow that writes (cancel one of the user's reservations) cannot
know which element the agent will pick, so the pick is an input; its
``choices`` template names the list it must belong to. The check runs just
before the first step that uses the input, when that list is known, so a
wrong id fails the step instead of cancelling something else.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from chainmine.library.errors import TemplateError
from chainmine.library.model import WorkflowStep, WorkflowTemplate
from chainmine.library.templates import iter_references, resolve


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def choice_problem(wf: WorkflowTemplate, step: WorkflowStep, scope: Mapping[str, Any]) -> str | None:
    """Why an input ``step`` passes is not among its allowed values, or ``None`` when all are.

    Inputs whose ``choices`` list cannot be resolved yet (the step that returns
    it has not run, or was skipped) are not checked here.

    Examples
    --------
    >>> from chainmine.library.model import InputSpec
    >>> wf = WorkflowTemplate(name="w", inputs={"rid": InputSpec(choices="{{get_user.reservations}}")}, steps=[
    ...     WorkflowStep(id="get_user", tool_name="get_user"),
    ...     WorkflowStep(id="cancel", tool_name="cancel", parameters={"id": "{{rid}}"}, depends_on=["get_user"])])
    >>> scope = {"rid": "X9", "get_user": {"reservations": ["A1", "B2"]}}
    >>> choice_problem(wf, wf.steps[1], scope)
    "input 'rid' is 'X9', which is not one of {{get_user.reservations}} (['A1', 'B2'])"
    >>> choice_problem(wf, wf.steps[1], {**scope, "rid": "B2"}) is None
    True
    """
    for ref in iter_references(step.parameters):
        spec = wf.inputs.get(ref.root)
        if spec is None or not spec.choices or ref.root not in scope:
            continue
        try:
            allowed = resolve(spec.choices, scope)
        except TemplateError:
            continue
        if isinstance(allowed, str):
            try:
                allowed = json.loads(allowed)
            except ValueError:
                continue
        if not isinstance(allowed, list):
            continue
        value = scope[ref.root]
        if not any(_same(value, a) for a in allowed):
            shown = json.dumps(allowed, default=str)
            shown = shown if len(shown) <= 200 else shown[:197] + "..."
            return (f"input {ref.root!r} is {value!r}, which is not one of {spec.choices} "
                    f"({shown.replace(chr(34), chr(39))})")
    return None
