"""Rules that span several fields of a workflow: names, references, cycles.

Validation collects every problem (``"steps[1].parameters.id: ..."``) rather
than stopping at the first, so an import can list them all at once.
"""

from __future__ import annotations

from typing import Any, Iterable

import networkx as nx
from pydantic import ValidationError as PydanticError

from chainmine.library.conditions import parse_condition
from chainmine.library.errors import ConditionError, TemplateError, ValidationError
from chainmine.library.model import SLUG_RE, WORKFLOW_TOOL_PREFIX, WorkflowStep, WorkflowTemplate
from chainmine.library.templates import iter_references, malformed_templates, parse_reference


def _strings(value, path):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def workflow_problems(wf: WorkflowTemplate, known_tools: Iterable[str] | None = None) -> list[str]:
    """List every rule ``wf`` breaks; an empty list means it is valid.

    Checks: unique step ids, step ids vs input names, ``depends_on`` naming
    real steps, templates and conditions referring only to inputs, earlier
    (upstream) steps or ``item`` inside a map step, ``map_over`` being a
    reference, cycles, and (when ``known_tools`` is given) tool coverage.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[
    ...     WorkflowStep(id="a", tool_name="t", parameters={"x": "{{nope}}"})])
    >>> workflow_problems(wf)
    ["steps[0].parameters.x: {{nope}} refers to unknown name 'nope' (not an input or step id)"]

    Notes
    -----
    O(S + E + P) for S steps, E dependencies and P parameter strings.
    """
    problems: list[str] = []
    ids = [s.id for s in wf.steps]
    seen: set[str] = set()
    for i, sid in enumerate(ids):
        if sid in seen:
            problems.append(f"steps[{i}].id: duplicate step id {sid!r}")
        seen.add(sid)
        if sid in wf.inputs:
            problems.append(f"steps[{i}].id: {sid!r} is also an input name; step ids and inputs share one namespace")
        if sid == "item":
            problems.append(f"steps[{i}].id: 'item' is reserved for map steps")
    if "item" in wf.inputs:
        problems.append("inputs.item: 'item' is reserved for map steps")
    problems += _field_rule_problems(wf)

    graph = nx.DiGraph()
    graph.add_nodes_from(ids)
    for i, step in enumerate(wf.steps):
        for dep in step.depends_on:
            if dep not in seen:
                problems.append(f"steps[{i}].depends_on: unknown step {dep!r}")
            elif dep == step.id:
                problems.append(f"steps[{i}].depends_on: step {step.id!r} depends on itself")
            else:
                graph.add_edge(dep, step.id)
    known = set(wf.inputs) | seen  # built once: a copy per step made validation quadratic
    for i, step in enumerate(wf.steps):
        self_refs = 0
        for ref_step in _referenced_steps(step, wf, seen, problems, i, known):
            if ref_step != step.id:
                graph.add_edge(ref_step, step.id)
            else:
                self_refs += 1
        if self_refs:
            # only a compensation may read its own step's result; anywhere else the step
            # would wait for itself and never run
            problems.append(f"steps[{i}]: step {step.id!r} refers to its own result; use inputs or upstream steps")
    if not nx.is_directed_acyclic_graph(graph):
        cycle = nx.find_cycle(graph)
        problems.append("steps: cycle " + " -> ".join([cycle[0][0]] + [v for _, v in cycle]))
    else:
        for i, step in enumerate(wf.steps):
            upstream = nx.ancestors(graph, step.id)
            for name in referenced_names(step):
                if name in seen and name != step.id and name not in upstream:
                    problems.append(f"steps[{i}]: refers to {name!r}, which is not upstream")
    problems += _output_problems(wf, seen)
    if known_tools is not None:
        tools = set(known_tools)
        for i, step in enumerate(wf.steps):
            for what, tool in (("tool_name", step.tool_name), ("fallback_tool", step.fallback_tool),
                               ("compensation.tool_name", step.compensation.tool_name if step.compensation else None)):
                if tool and not tool.startswith("workflow:") and tool not in tools:
                    problems.append(f"steps[{i}].{what}: tool {tool!r} is not in any registry")
    return problems


def _field_rule_problems(wf: WorkflowTemplate) -> list[str]:
    # Rules on single fields that pydantic cannot express without knowing the workflow.
    problems = []
    for name in wf.inputs:
        if not SLUG_RE.match(name):
            problems.append(f"inputs.{name}: input name {name!r} must match ^[a-zA-Z_][a-zA-Z0-9_]*$ "
                            "so templates can refer to it")
    if wf.replaces is not None and wf.replaces == wf.name:
        problems.append(f"replaces: workflow {wf.name!r} cannot replace itself")
    for i, step in enumerate(wf.steps):
        if step.map_over is None:
            for option in ("max_concurrency", "allow_partial"):
                if getattr(step, option) not in (None, False):
                    problems.append(f"steps[{i}].{option}: only applies to a map step (set map_over)")
        if step.tool_name == WORKFLOW_TOOL_PREFIX + wf.name:
            problems.append(f"steps[{i}].tool_name: workflow {wf.name!r} cannot run itself as a sub-workflow")
    return problems


def _output_problems(wf: WorkflowTemplate, step_ids: set[str]) -> list[str]:
    problems = []
    known = set(wf.inputs) | step_ids
    for path, text in _strings(wf.outputs or {}, "outputs"):
        for bad in malformed_templates(text):
            problems.append(f"{path}: malformed template {bad}")
    for key, value in (wf.outputs or {}).items():
        for ref in iter_references(value):
            if ref.root not in known:
                problems.append(f"outputs.{key}: {ref} refers to unknown name {ref.root!r} (not an input or step id)")
    return problems


def referenced_names(step: WorkflowStep) -> set[str]:
    """Names (inputs, step ids, ``item``) a step refers to in parameters, ``map_over`` and ``condition``.

    Malformed templates and conditions are skipped here; :func:`workflow_problems` reports them.

    Examples
    --------
    >>> sorted(referenced_names(WorkflowStep(id="b", tool_name="t", map_over="{{a.ids}}",
    ...                                      parameters={"id": "{{item}}", "q": "{{user}}"})))
    ['a', 'item', 'user']
    """
    names = {r.root for r in iter_references(step.parameters)}
    if step.map_over:
        try:
            names.add(parse_reference(step.map_over).root)
        except TemplateError:
            pass
    if step.condition:
        try:
            names |= {r.root for r in parse_condition(step.condition).references}
        except ConditionError:
            pass
    return names


def _referenced_steps(step, wf, step_ids, problems, i, known):
    where = f"steps[{i}]"
    for path, text in _strings(step.parameters, f"{where}.parameters"):
        for bad in malformed_templates(text):
            problems.append(f"{path}: malformed template {bad}")
    for ref in iter_references(step.parameters):
        if ref.root == "item":
            if not step.map_over:
                problems.append(f"{where}.parameters: {ref} is only allowed in a map step (set map_over)")
            continue
        if ref.root not in known:
            problems.append(f"{_param_path(step, ref, where)}: {ref} refers to unknown name {ref.root!r} (not an input or step id)")
        elif ref.root in step_ids:
            yield ref.root
    if step.map_over is not None:
        try:
            ref = parse_reference(step.map_over)
        except TemplateError:
            problems.append(f"{where}.map_over: {step.map_over!r} must be one reference like {{{{step.list}}}}")
        else:
            if ref.root not in known:
                problems.append(f"{where}.map_over: {ref} refers to unknown name {ref.root!r}")
            elif ref.root in step_ids:
                yield ref.root
    if step.condition is not None:
        try:
            cond = parse_condition(step.condition)
        except ConditionError as exc:
            problems.append(f"{where}.condition: {exc}")
        else:
            for ref in cond.references:
                if ref.root not in known:
                    problems.append(f"{where}.condition: {ref} refers to unknown name {ref.root!r}")
                elif ref.root in step_ids:
                    yield ref.root
    if step.compensation:
        for ref in iter_references(step.compensation.parameters):
            if ref.root not in known and ref.root != step.id:
                problems.append(f"{where}.compensation: {ref} refers to unknown name {ref.root!r}")


def _param_path(step, ref, where):
    for path, text in _strings(step.parameters, f"{where}.parameters"):
        if str(ref) in text.replace(" ", ""):
            return path
    return f"{where}.parameters"


def validate_workflow(wf: WorkflowTemplate, known_tools: Iterable[str] | None = None) -> WorkflowTemplate:
    """Return ``wf`` unchanged, or raise :class:`ValidationError` listing every problem.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> validate_workflow(WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])).name
    'w'
    """
    problems = workflow_problems(wf, known_tools)
    if problems:
        raise ValidationError(f"workflow {wf.name!r} is invalid: " + "; ".join(problems), problems)
    return wf


def format_location(loc: Iterable[Any]) -> str:
    """Render a pydantic error location as a path like ``steps[0].tool_name``.

    Examples
    --------
    >>> format_location(("steps", 0, "tool_name"))
    'steps[0].tool_name'
    """
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def workflow_from_data(data: Any, where: str = "") -> tuple[WorkflowTemplate | None, list[str]]:
    """Parse and check one workflow given as plain data, collecting every problem.

    Field errors from the model and the cross-field rules of
    :func:`workflow_problems` are all returned as ``"<where>.<path>: message"``;
    the workflow is ``None`` when the fields themselves are broken.

    Examples
    --------
    >>> wf, problems = workflow_from_data({"name": "w", "steps": [{"id": "a"}]}, "workflows[0]")
    >>> wf is None, problems
    (True, ['workflows[0].steps[0].tool_name: Field required'])

    Notes
    -----
    O(size of the workflow).
    """
    try:
        wf = WorkflowTemplate.model_validate(data)
    except PydanticError as exc:
        problems = []
        for err in exc.errors():
            path = format_location(err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{_join(where, path)}: {message}")
        return None, problems
    return wf, [_join(where, p) for p in workflow_problems(wf)]


def _join(where: str, path: str) -> str:
    if not where:
        return path or "workflow"
    if not path:
        return where
    return where + ("" if path.startswith("[") else ".") + path


def library_problems(workflows: Iterable[WorkflowTemplate]) -> list[str]:
    """Rules across the workflows of one library: names are unique.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> w = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> library_problems([w, w])
    ["workflows[1].name: duplicate workflow name 'w' (also workflows[0])"]

    Notes
    -----
    O(W) for W workflows.
    """
    first: dict[str, int] = {}
    problems = []
    for i, wf in enumerate(workflows):
        if wf.name in first:
            problems.append(f"workflows[{i}].name: duplicate workflow name {wf.name!r} (also workflows[{first[wf.name]}])")
        else:
            first[wf.name] = i
    return problems
