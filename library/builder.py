"""Writing workflows by hand: a fluent :class:`WorkflowBuilder`.

Each call returns the builder; :meth:`WorkflowBuilder.build` checks the
whole workflow at once and raises :class:`chainmine.library.errors.ValidationError`
listing every problem. A step given no ``depends_on`` depends on the steps
its templates, ``map_over`` and ``condition`` refer to.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import networkx as nx
from pydantic import ValidationError as PydanticError

from chainmine.library.errors import ValidationError
from chainmine.library.model import WorkflowStep, WorkflowTemplate
from chainmine.library.review import STEP_OPTIONS
from chainmine.library.validate import referenced_names, workflow_from_data

log = logging.getLogger(__name__)


class WorkflowBuilder:
    """Build a validated :class:`WorkflowTemplate` step by step.

    Keyword arguments of :meth:`add_step` that name a step option
    (``map_over``, ``max_retries``, ``condition``, ``timeout``, ...) set that
    option; every other keyword, ``description`` included, is a tool
    parameter (the step's own description is ``step_description``). A
    parameter whose name clashes with an option goes in ``parameters={...}``.

    Examples
    --------
    >>> wf = (WorkflowBuilder("lookup_user_reservations")
    ...       .describe("Fetch a user, then each of their reservations.")
    ...       .category("airline")
    ...       .input("user_id", type="string", example="u1")
    ...       .add_step("get_user", "get_user_details", user_id="{{user_id}}")
    ...       .add_step("get_reservations", "get_reservation_details",
    ...                 map_over="{{get_user.reservations}}", reservation_id="{{item}}", max_retries=2)
    ...       .build())
    >>> wf.step("get_reservations").depends_on, wf.source
    (['get_user'], 'manual')
    """

    def __init__(self, name: str):
        self._data: dict[str, Any] = {"name": name, "description": "", "tags": [], "inputs": {},
                                      "steps": [], "source": "manual"}

    def describe(self, text: str) -> "WorkflowBuilder":
        """Set the description.

        Examples
        --------
        >>> WorkflowBuilder("w").describe("Greets").add_step("a", "t").build().description
        'Greets'
        """
        self._data["description"] = text
        return self

    def category(self, name: str) -> "WorkflowBuilder":
        """Set the category.

        Examples
        --------
        >>> WorkflowBuilder("w").category("ops").add_step("a", "t").build().category
        'ops'
        """
        self._data["category"] = name
        return self

    def tag(self, *tags: str) -> "WorkflowBuilder":
        """Add tags (duplicates are ignored).

        Examples
        --------
        >>> WorkflowBuilder("w").tag("a", "b", "a").add_step("s", "t").build().tags
        ['a', 'b']
        """
        for t in tags:
            if t not in self._data["tags"]:
                self._data["tags"].append(t)
        return self

    def status(self, status: str) -> "WorkflowBuilder":
        """Set the review status (default ``suggested``).

        Examples
        --------
        >>> WorkflowBuilder("w").status("accepted").add_step("s", "t").build().status
        'accepted'
        """
        self._data["status"] = status
        return self

    def input(self, name: str, type: str = "string", example: Any = None, description: str | None = None,
              required: bool = True, default: Any = None) -> "WorkflowBuilder":
        """Declare an input that templates can refer to as ``{{name}}``.

        Examples
        --------
        >>> WorkflowBuilder("w").input("n", type="integer", example=3).add_step("s", "t", n="{{n}}").build().inputs["n"].type
        'integer'
        """
        spec = {"type": type, "example": example, "description": description, "required": required,
                "default": default}
        self._data["inputs"][name] = {k: v for k, v in spec.items() if v is not None}
        return self

    def add_step(self, step_id: str, tool_name: str, *, parameters: dict[str, Any] | None = None,
                 depends_on: list[str] | None = None, step_description: str | None = None,
                 **kwargs: Any) -> "WorkflowBuilder":
        """Append a step calling ``tool_name``; see the class docstring for ``kwargs``.

        Examples
        --------
        >>> step = WorkflowBuilder("w").add_step("a", "t", x=1, max_retries=2).build().step("a")
        >>> step.parameters, step.max_retries
        ({'x': 1}, 2)
        """
        step: dict[str, Any] = {"id": step_id, "tool_name": tool_name, "parameters": dict(parameters or {})}
        if step_description is not None:
            step["description"] = step_description
        for key, value in kwargs.items():
            if key in STEP_OPTIONS and key != "description":
                step[key] = value
            else:
                step["parameters"][key] = value
        if depends_on is not None:
            step["depends_on"] = list(depends_on)
        self._data["steps"].append(step)
        return self

    def output(self, name: str, template: Any) -> "WorkflowBuilder":
        """Name a workflow output.

        Examples
        --------
        >>> WorkflowBuilder("w").add_step("a", "t").output("result", "{{a}}").build().outputs
        {'result': '{{a}}'}
        """
        self._data.setdefault("outputs", {})[name] = template
        return self

    def to_dict(self) -> dict[str, Any]:
        """The workflow as plain data, with ``depends_on`` inferred and steps in dependency order.

        Examples
        --------
        >>> [s["id"] for s in WorkflowBuilder("w").add_step("b", "t", x="{{a}}").add_step("a", "t").to_dict()["steps"]]
        ['a', 'b']
        """
        data = copy.deepcopy(self._data)
        steps = data["steps"]
        ids = [s["id"] for s in steps]
        for step in steps:
            if "depends_on" not in step:
                step["depends_on"] = _inferred_dependencies(step, ids)
        data["steps"] = _dependency_order(steps)
        return data

    def build(self) -> WorkflowTemplate:
        """The validated workflow; :class:`ValidationError` lists every problem.

        Examples
        --------
        >>> WorkflowBuilder("w").add_step("a", "t", x="{{nope}}").build()
        Traceback (most recent call last):
        ...
        chainmine.library.errors.ValidationError: workflow 'w' is invalid: steps[0].parameters.x: {{nope}} refers to unknown name 'nope' (not an input or step id)
        """
        wf, problems = workflow_from_data(self.to_dict())
        if problems or wf is None:
            raise ValidationError(f"workflow {self._data['name']!r} is invalid: " + "; ".join(problems), problems)
        return wf


def _inferred_dependencies(step: dict[str, Any], ids: list[str]) -> list[str]:
    try:
        names = referenced_names(WorkflowStep.model_validate({**step, "depends_on": []}))
    except PydanticError:
        return []  # build() reports the broken field
    return [i for i in ids if i in names and i != step["id"]]


def _dependency_order(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Keep the order steps were added in unless a step would run before one it depends on.
    position = {s["id"]: i for i, s in enumerate(steps)}
    if len(position) != len(steps):
        return steps
    graph = nx.DiGraph()
    graph.add_nodes_from(position)
    for s in steps:
        graph.add_edges_from((d, s["id"]) for d in s.get("depends_on", []) if d in position and d != s["id"])
    if not nx.is_directed_acyclic_graph(graph):
        return steps
    order = nx.lexicographical_topological_sort(graph, key=position.__getitem__)
    return [steps[position[sid]] for sid in order]
