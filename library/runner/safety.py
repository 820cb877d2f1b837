"""Side effects of a workflow at run time: each step's class, and confirmation of destructive runs.

Mined steps carry their tool's class (``effect``); older files and manual
workflows may not. :func:`resolve_effects` fills every step in, in this
order of trust:

1. the override file (``--effects FILE``, or ``effects.toml``/``effects.json``
   beside the library);
2. a class a reviewer wrote into the step (``effect_source: "override"``);
3. the MCP tool annotations the tool's server declares now;
4. the class already stored with the step;
5. the verbs in the tool's name (see :mod:`chainmine.library.effects`).

A step with a ``fallback_tool`` is as strong as the stronger of the two tools,
and a ``workflow:NAME`` step as its strongest sub-step. A workflow with a
destructive step only runs when the caller confirms
(:func:`require_confirmation`): ``confirm=True`` in the Python API, ``--yes``
or a terminal prompt in ``chainmine run``, elicitation or ``confirm: true`` over MCP.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from chainmine.library.effects import EffectOverrides, classify_tool, effect_from_annotations, load_overrides, strongest
from chainmine.library.errors import LibraryError, RunError
from chainmine.library.model import WorkflowStep, WorkflowTemplate

log = logging.getLogger(__name__)


class ConfirmationRequiredError(RunError):
    """A workflow with destructive steps was asked to run without confirmation; nothing ran.

    ``steps`` lists the destructive steps as ``(step_id, tool_name)``.

    Examples
    --------
    >>> ConfirmationRequiredError("needs confirmation", [("cancel", "cancel_reservation")]).steps
    [('cancel', 'cancel_reservation')]
    """

    def __init__(self, message: str, steps: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.steps = list(steps or [])


def as_overrides(effects: Any) -> EffectOverrides:
    """Overrides from ``None``, a path to an effects file, a ``{tool_or_glob: class}`` dict or overrides.

    Examples
    --------
    >>> as_overrides({"think": "read"}).get("think"), as_overrides(None).rules
    ('read', {})
    """
    if effects is None:
        return EffectOverrides({})
    if isinstance(effects, EffectOverrides):
        return effects
    if isinstance(effects, (str, Path)):
        return load_overrides(effects)
    if isinstance(effects, Mapping):
        return EffectOverrides(dict(effects))
    raise RunError(f"effects must be a path to an effects file or a dict of tool -> class, "
                   f"not {type(effects).__name__}")


def _annotations(registry: Any, tool: str) -> Mapping[str, Any] | None:
    if registry is None or tool not in registry:
        return None
    return getattr(registry.get(tool), "annotations", None)


def tool_effect(tool: str, registry: Any = None, overrides: EffectOverrides | None = None,
                stored: WorkflowStep | None = None) -> tuple[str, str]:
    """The class of one tool as a step uses it, and its source (see the module docstring for the order).

    Examples
    --------
    >>> tool_effect("get_user")
    ('read', 'name')
    >>> tool_effect("get_user", stored=WorkflowStep(id="s", tool_name="get_user", effect="write",
    ...                                             effect_source="override"))
    ('write', 'override')
    """
    forced = overrides.get(tool) if overrides is not None else None
    if forced is not None:
        return forced, "override"
    if stored is not None and stored.effect is not None and stored.effect_source == "override":
        return stored.effect, "override"
    declared = effect_from_annotations(_annotations(registry, tool))
    if declared is not None:
        return declared, "mcp"
    if stored is not None and stored.effect is not None:
        return stored.effect, stored.effect_source or "name"
    return classify_tool(tool)


def resolve_effects(workflow: WorkflowTemplate, registry: Any = None, overrides: Any = None,
                    library: Any = None, _stack: tuple[str, ...] = ()) -> WorkflowTemplate:
    """A copy of ``workflow`` with ``effect`` and ``effect_source`` set on every step.

    Parameters
    ----------
    workflow : WorkflowTemplate
    registry : ToolRegistry, optional
        Where MCP tool annotations come from.
    overrides : EffectOverrides, path or dict, optional
        The override file's rules (they win over everything).
    library : object with ``get(name)``, optional
        Source of ``workflow:NAME`` sub-workflows.

    Examples
    --------
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="get_user"),
    ...                                        WorkflowStep(id="b", tool_name="cancel_reservation")])
    >>> [(s.effect, s.effect_source) for s in resolve_effects(wf).steps]
    [('read', 'name'), ('destructive', 'name')]
    >>> resolve_effects(wf, overrides={"cancel_*": "write"}).steps[1].effect
    'write'

    Notes
    -----
    O(S) for S steps (plus the steps of sub-workflows).
    """
    rules = as_overrides(overrides)
    steps = []
    for step in workflow.steps:
        if step.is_subworkflow:
            effect, source = _subworkflow_effect(step, registry, rules, library, _stack + (workflow.name,))
        else:
            effect, source = tool_effect(step.tool_name, registry, rules, step)
            if step.fallback_tool:
                other = tool_effect(step.fallback_tool, registry, rules)
                if strongest([effect, other[0]]) != effect:
                    effect, source = other
        steps.append(step.model_copy(update={"effect": effect, "effect_source": source}))
    return workflow.model_copy(update={"steps": steps})


def _subworkflow_effect(step: WorkflowStep, registry: Any, rules: EffectOverrides, library: Any,
                        stack: tuple[str, ...]) -> tuple[str, str]:
    name = step.tool_name.split(":", 1)[1]
    if library is None or name in stack:
        return step.effect or "write", step.effect_source or "name"
    try:
        sub = resolve_effects(library.get(name), registry, rules, library, stack)
    except (LibraryError, KeyError):  # planning reports the missing sub-workflow
        return step.effect or "write", step.effect_source or "name"
    worst = max(sub.steps, key=lambda s: ("read", "write", "destructive").index(s.effect or "write"))
    return worst.effect or "write", worst.effect_source or "name"


def destructive_steps(workflow: WorkflowTemplate) -> list[tuple[str, str]]:
    """``(step_id, tool_name)`` of the steps whose (resolved) effect is destructive.

    Examples
    --------
    >>> wf = resolve_effects(WorkflowTemplate(name="w", steps=[
    ...     WorkflowStep(id="cancel", tool_name="cancel_reservation")]))
    >>> destructive_steps(wf)
    [('cancel', 'cancel_reservation')]
    """
    return [(s.id, s.tool_name) for s in workflow.steps if s.effect == "destructive"]


def tool_hints(workflow: WorkflowTemplate) -> dict[str, bool]:
    """MCP tool annotations for a (resolved) workflow.

    Read-only and idempotent iff every step reads; destructive iff any step is.

    Examples
    --------
    >>> tool_hints(resolve_effects(WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="get_x")])))
    {'readOnlyHint': True, 'destructiveHint': False, 'idempotentHint': True}
    """
    effects = [s.effect or "write" for s in workflow.steps]
    read_only = all(e == "read" for e in effects)
    return {"readOnlyHint": read_only, "destructiveHint": "destructive" in effects, "idempotentHint": read_only}


def change_summary(workflow: WorkflowTemplate) -> str:
    """What a confirmed run would change: the destructive steps and their tools.

    Examples
    --------
    >>> wf = resolve_effects(WorkflowTemplate(name="w", steps=[
    ...     WorkflowStep(id="cancel", tool_name="cancel_reservation", map_over="{{ids}}")],
    ...     inputs={"ids": {"type": "array"}}))
    >>> change_summary(wf)
    'step cancel calls cancel_reservation (once per item of {{ids}})'
    """
    parts = []
    for sid, tool in destructive_steps(workflow):
        step = workflow.step(sid)
        text = f"step {sid} calls {tool}"
        if step.map_over:
            text += f" (once per item of {step.map_over})"
        parts.append(text)
    return "; ".join(parts)


def require_confirmation(workflow: WorkflowTemplate, confirm: bool, how: str = "pass confirm=True") -> None:
    """Raise :class:`ConfirmationRequiredError` when a (resolved) workflow has destructive steps and no ``confirm``.

    Examples
    --------
    >>> wf = resolve_effects(WorkflowTemplate(name="w", steps=[WorkflowStep(id="d", tool_name="delete_user")]))
    >>> require_confirmation(wf, True)
    >>> require_confirmation(wf, False)
    Traceback (most recent call last):
    ...
    chainmine.library.runner.safety.ConfirmationRequiredError: workflow 'w' has destructive steps (step d calls delete_user); nothing was run: pass confirm=True to run it
    """
    steps = destructive_steps(workflow)
    if steps and not confirm:
        raise ConfirmationRequiredError(
            f"workflow {workflow.name!r} has destructive steps ({change_summary(workflow)}); nothing was run: "
            f"{how} to run it", steps)
