"""Plan before running: validate a workflow against a registry and fix the schedule.

:func:`build_plan` checks everything that can be checked without calling a
tool — the workflow rules of :mod:`chainmine.library.validate` (references, cycles),
registry coverage of every tool, fallback and compensation, sub-workflows
(found in the library, inputs matching, no recursion) — and raises one
:class:`chainmine.library.errors.ValidationError` listing every problem. The resulting
:class:`Plan` holds each step's full dependency set (``depends_on`` plus the
steps its templates and condition read), cost and duration estimates and the
critical path used by ``--dry-run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from chainmine.library.conditions import Condition, parse_condition
from chainmine.library.errors import LibraryError, ValidationError
from chainmine.library.model import WORKFLOW_TOOL_PREFIX, WorkflowStep, WorkflowTemplate
from chainmine.library.runner.registry import ToolRegistry, ToolSpec
from chainmine.library.templates import iter_references, needs_resolving, parse_reference
from chainmine.library.validate import workflow_problems


class WorkflowSource(Protocol):
    """Where sub-workflows come from: anything with ``get(name) -> WorkflowTemplate``.

    Examples
    --------
    >>> class Shelf(dict):
    ...     def get(self, name): return self[name]
    >>> Shelf(w=WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])).get("w").name
    'w'
    """

    def get(self, name: str) -> WorkflowTemplate:
        """The workflow called ``name`` (raises when absent)."""


@dataclass(frozen=True)
class PlannedStep:
    """A step with everything the executor needs resolved up front.

    ``deps`` are all upstream steps (explicit and implied by references);
    ``data_refs`` the steps whose results its parameters or ``map_over`` read;
    ``condition_refs`` the steps its condition reads. ``cost_estimate`` is per
    call (per item for a map step); ``templated`` says whether the parameters
    hold any template or escaped ``{{`` (other parameters are passed as they are).

    Examples
    --------
    >>> from chainmine.library.runner.registry import PythonRegistry
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> build_plan(wf, PythonRegistry.from_mapping({"t": lambda: 1})).steps["a"].deps
    ()
    """

    step: WorkflowStep
    index: int
    deps: tuple[str, ...]
    dependants: tuple[str, ...]
    data_refs: frozenset[str]
    condition: Condition | None
    condition_refs: frozenset[str]
    tool: ToolSpec | None
    fallback: ToolSpec | None
    compensation: ToolSpec | None
    subplan: "Plan | None"
    cost_estimate: float | None
    duration_estimate_ms: float | None
    templated: bool = True

    @property
    def id(self) -> str:
        """The step id."""
        return self.step.id


@dataclass(frozen=True)
class Plan:
    """A validated workflow ready to run: steps in a dependency-respecting order plus estimates.

    Examples
    --------
    >>> from chainmine.library.runner.registry import PythonRegistry
    >>> wf = WorkflowTemplate(name="w", steps=[
    ...     WorkflowStep(id="a", tool_name="t", cost_estimate=0.5, duration_estimate_ms=100),
    ...     WorkflowStep(id="b", tool_name="t", depends_on=["a"], duration_estimate_ms=50)])
    >>> plan = build_plan(wf, PythonRegistry.from_mapping({"t": lambda: 1}))
    >>> plan.order, plan.estimated_cost, plan.estimated_duration_ms, plan.critical_path
    (('a', 'b'), 0.5, 150.0, ('a', 'b'))
    """

    workflow: WorkflowTemplate
    steps: dict[str, PlannedStep]
    order: tuple[str, ...]
    sinks: tuple[str, ...]
    estimated_cost: float
    estimated_duration_ms: float
    critical_path: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    def walk(self):
        """This plan and every sub-workflow plan below it, depth first."""
        yield self
        for ps in self.steps.values():
            if ps.subplan is not None:
                yield from ps.subplan.walk()

    def to_dict(self) -> dict[str, Any]:
        """The plan as shown by ``chainmine run --dry-run --json``."""
        steps = []
        for sid in self.order:
            ps = self.steps[sid]
            s = ps.step
            steps.append({
                "id": sid, "tool": s.tool_name, "depends_on": list(ps.deps),
                "effect": s.effect, "effect_source": s.effect_source,
                "source": ps.tool.source if ps.tool else ("workflow" if ps.subplan else None),
                "condition": s.condition, "map_over": s.map_over,
                "cost_estimate": ps.cost_estimate, "cost_per": "item" if s.map_over else "call",
                "duration_estimate_ms": ps.duration_estimate_ms,
                "max_retries": s.max_retries, "timeout": s.timeout, "fallback_tool": s.fallback_tool,
                "compensation": s.compensation.tool_name if s.compensation else None,
                "on_critical_path": sid in self.critical_path,
            })
        return {"workflow": self.workflow.name, "status": self.workflow.status, "steps": steps,
                "estimated_cost": self.estimated_cost, "estimated_duration_ms": self.estimated_duration_ms,
                "critical_path": list(self.critical_path), "notes": list(self.notes)}


def build_plan(workflow: WorkflowTemplate, registry: ToolRegistry, library: WorkflowSource | None = None,
               _stack: tuple[str, ...] = ()) -> Plan:
    """Validate ``workflow`` against ``registry`` (and ``library`` for sub-workflows) and plan it.

    Raises :class:`chainmine.library.errors.ValidationError` listing every problem.

    Parameters
    ----------
    workflow : WorkflowTemplate
        The workflow to run.
    registry : ToolRegistry
        Tools that may be called; any other tool name is a problem.
    library : object with ``get(name)``, optional
        Source of ``workflow:NAME`` sub-workflows.

    Returns
    -------
    Plan

    Examples
    --------
    >>> from chainmine.library.runner.registry import PythonRegistry
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="nope")])
    >>> try:
    ...     build_plan(wf, PythonRegistry.from_mapping({"t": lambda: 1}))
    ... except ValidationError as exc:
    ...     exc.problems
    ["steps[0].tool_name: tool 'nope' is not in any registry"]

    Notes
    -----
    O(S + E + P) for S steps, E dependencies and P parameter strings, plus the
    validation of :func:`chainmine.library.validate.workflow_problems` and of each sub-workflow.
    """
    stack = _stack + (workflow.name,)
    problems = workflow_problems(workflow, known_tools=registry.names())
    subplans: dict[str, Plan] = {}
    for i, step in enumerate(workflow.steps):
        if step.is_subworkflow:
            sub = _subplan(step, i, registry, library, stack, problems)
            if sub is not None:
                subplans[step.id] = sub
    if problems:
        raise ValidationError(f"workflow {workflow.name!r} cannot run: " + "; ".join(problems), problems)

    ids = [s.id for s in workflow.steps]
    pos = {sid: i for i, sid in enumerate(ids)}
    by_id = {s.id: s for s in workflow.steps}
    known = set(ids)
    deps: dict[str, set[str]] = {}
    data: dict[str, frozenset[str]] = {}
    conds: dict[str, tuple[Condition | None, frozenset[str]]] = {}
    for step in workflow.steps:
        refs = {r.root for r in iter_references(step.parameters)}
        if step.map_over:
            refs.add(parse_reference(step.map_over).root)
        data[step.id] = frozenset(refs & known)
        cond = parse_condition(step.condition) if step.condition else None
        cond_refs = frozenset(r.root for r in cond.references) & known if cond else frozenset()
        conds[step.id] = (cond, cond_refs)
        deps[step.id] = set(step.depends_on) | data[step.id] | cond_refs
    order = _topological(ids, deps)
    dependants: dict[str, list[str]] = {sid: [] for sid in ids}
    for sid in order:
        for d in sorted(deps[sid], key=pos.__getitem__):
            dependants[d].append(sid)

    steps: dict[str, PlannedStep] = {}
    notes: list[str] = []
    for sid in order:
        step = by_id[sid]
        sub = subplans.get(sid)
        tool = None if step.is_subworkflow else registry.get(step.tool_name)
        if sub is not None:
            cost, duration = sub.estimated_cost, sub.estimated_duration_ms
        else:
            cost = tool.cost if tool and tool.cost is not None else step.cost_estimate
            duration = step.duration_estimate_ms
        steps[sid] = PlannedStep(
            step=step, index=pos[sid], deps=tuple(sorted(deps[sid], key=pos.__getitem__)),
            dependants=tuple(dependants[sid]), data_refs=data[sid], condition=conds[sid][0],
            condition_refs=conds[sid][1], tool=tool,
            fallback=registry.get(step.fallback_tool) if step.fallback_tool else None,
            compensation=registry.get(step.compensation.tool_name) if step.compensation else None,
            subplan=sub, cost_estimate=cost, duration_estimate_ms=duration,
            templated=needs_resolving(step.parameters))
        if step.map_over and cost:
            notes.append(f"{sid}: cost {cost:g} is per item of {step.map_over}; the item count is known only at run time")
    unknown = [sid for sid in order if steps[sid].duration_estimate_ms is None]
    if unknown:
        notes.append(f"no duration estimate for {len(unknown)} step(s): {', '.join(unknown[:8])} (counted as 0)")
    sinks = tuple(sid for sid in order if not dependants[sid])
    total_cost = sum(ps.cost_estimate or 0.0 for ps in steps.values())
    duration, path = critical_path(order, {sid: steps[sid].deps for sid in order},
                                   {sid: steps[sid].duration_estimate_ms or 0.0 for sid in order})
    return Plan(workflow=workflow, steps=steps, order=order, sinks=sinks, estimated_cost=total_cost,
                estimated_duration_ms=duration, critical_path=path, notes=tuple(notes))


def _subplan(step: WorkflowStep, i: int, registry: ToolRegistry, library: WorkflowSource | None,
             stack: tuple[str, ...], problems: list[str]) -> Plan | None:
    name = step.tool_name[len(WORKFLOW_TOOL_PREFIX):]
    where = f"steps[{i}].tool_name"
    if name in stack:
        problems.append(f"{where}: recursion {' -> '.join(stack + (name,))}; a workflow cannot run itself")
        return None
    if library is None:
        problems.append(f"{where}: sub-workflow {name!r} needs a workflow library (pass --library)")
        return None
    try:
        sub = library.get(name)
    except (LibraryError, KeyError) as exc:
        problems.append(f"{where}: sub-workflow {name!r} not found ({exc})")
        return None
    for key in step.parameters:
        if key not in sub.inputs:
            problems.append(f"steps[{i}].parameters.{key}: sub-workflow {name!r} has no input {key!r}")
    for key, spec in sub.inputs.items():
        if key not in step.parameters and spec.required and spec.default is None:
            problems.append(f"steps[{i}].parameters: sub-workflow {name!r} needs input {key!r}")
    try:
        return build_plan(sub, registry, library, stack)
    except ValidationError as exc:
        problems.extend(f"{where} ({name}): {p}" for p in exc.problems)
        return None


def _topological(ids: list[str], deps: dict[str, set[str]]) -> tuple[str, ...]:
    """Kahn's algorithm, ties broken by listed order (validation already ruled out cycles)."""
    import heapq

    pos = {sid: i for i, sid in enumerate(ids)}
    waiting = {sid: len(deps[sid]) for sid in ids}
    out_edges: dict[str, list[str]] = {sid: [] for sid in ids}
    for sid in ids:
        for d in deps[sid]:
            out_edges[d].append(sid)
    heap = [pos[sid] for sid in ids if waiting[sid] == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        sid = ids[heapq.heappop(heap)]
        order.append(sid)
        for nxt in out_edges[sid]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                heapq.heappush(heap, pos[nxt])
    return tuple(order)


def critical_path(order: tuple[str, ...] | list[str], deps: dict[str, tuple[str, ...]],
                  duration: dict[str, float]) -> tuple[float, tuple[str, ...]]:
    """Longest path through a DAG weighted by node durations.

    Parameters
    ----------
    order : sequence of str
        Nodes in topological order.
    deps : dict
        Node → its upstream nodes.
    duration : dict
        Node → duration (ms).

    Returns
    -------
    (float, tuple of str)
        Total duration of the longest path and the path itself.

    Examples
    --------
    >>> critical_path(["a", "b", "c"], {"a": (), "b": (), "c": ("a", "b")}, {"a": 5, "b": 9, "c": 1})
    (10.0, ('b', 'c'))

    Notes
    -----
    O(V + E): one pass in topological order.
    """
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    for node in order:
        best, best_dep = 0.0, None
        for d in deps.get(node, ()):
            if best_dep is None or finish[d] > best:
                best, best_dep = finish[d], d
        finish[node] = best + float(duration.get(node) or 0.0)
        via[node] = best_dep
    if not finish:
        return 0.0, ()
    end = max(order, key=lambda n: finish[n])
    path = [end]
    while via[path[-1]] is not None:
        path.append(via[path[-1]])  # type: ignore[arg-type]
    return finish[end], tuple(reversed(path))
