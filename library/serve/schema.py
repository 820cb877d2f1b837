"""What an MCP client sees of a workflow: input/output JSON Schemas and a description.

The input schema is generated from the workflow's declared ``inputs`` (JSON
types, ``required``, ``examples``, ``default``, descriptions) and closed with
``additionalProperties: false`` so a model that invents an argument is told
at once instead of the argument being silently ignored. The description
carries the evidence a model (or a person) needs to trust the tool: what it
runs, how often it was seen and how often it succeeded.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from jsonschema import Draft202012Validator

from chainmine.library.evidence import replay_text
from chainmine.library.model import InputSpec, WorkflowTemplate
from chainmine.library.runner.safety import change_summary, destructive_steps
from chainmine.library.serve.errors import ArgumentError
from chainmine.library.templates import TEMPLATE_RE, parse_reference
from chainmine.library.validate import referenced_names

log = logging.getLogger(__name__)

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def input_property(spec: InputSpec) -> dict[str, Any]:
    """JSON Schema of one declared input.

    An input of type ``any`` gets no ``type`` keyword, so every JSON value fits.

    Examples
    --------
    >>> input_property(InputSpec(type="integer", example=3, description="how many"))
    {'type': 'integer', 'description': 'how many', 'examples': [3]}
    >>> input_property(InputSpec(type="any"))
    {}
    >>> input_property(InputSpec(choices="{{get_user.reservations}}"))["description"]
    'One of the values in get_user.reservations (what that step returns); checked before it is used.'
    >>> input_property(InputSpec(secret=True))
    {'type': 'string', 'writeOnly': True, 'description': 'A credential: passed to the tools, never stored or shown.'}
    """
    prop: dict[str, Any] = {}
    if spec.type != "any":
        prop["type"] = spec.type
    notes = [spec.description] if spec.description else []
    if spec.choices:
        notes.append(f"One of the values in {spec.choices.strip('{} ')} (what that step returns); "
                     "checked before it is used.")
    if spec.secret:
        prop["writeOnly"] = True
        notes.append("A credential: passed to the tools, never stored or shown.")
    if notes:
        prop["description"] = " ".join(notes)
    if spec.example is not None and not spec.secret:
        prop["examples"] = [spec.example]
    if spec.default is not None:
        prop["default"] = spec.default
    return prop


def is_required(spec: InputSpec) -> bool:
    """True when a caller must pass the input: declared required and no default.

    Examples
    --------
    >>> is_required(InputSpec()), is_required(InputSpec(default="x")), is_required(InputSpec(required=False))
    (True, False, False)
    """
    return spec.required and spec.default is None


CONFIRM = "confirm"
"""The argument that confirms a workflow with destructive steps."""


def confirm_property(wf: WorkflowTemplate) -> dict[str, Any] | None:
    """The ``confirm`` argument of a workflow with destructive steps (its effects resolved), else ``None``.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="c", tool_name="cancel_order", effect="destructive")])
    >>> confirm_property(wf)["description"]
    'Must be true: this workflow makes destructive changes (step c calls cancel_order). Ask the user first.'
    """
    if not destructive_steps(wf):
        return None
    return {"type": "boolean", "const": True,
            "description": f"Must be true: this workflow makes destructive changes ({change_summary(wf)}). "
                           "Ask the user first."}


def input_schema(wf: WorkflowTemplate, confirm_required: bool = True) -> dict[str, Any]:
    """The ``inputSchema`` of the MCP tool that runs ``wf``.

    A workflow with destructive steps (effects resolved) also takes ``confirm``,
    required unless the server will ask the user itself (``confirm_required=False``,
    for clients that support elicitation).

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="s", tool_name="t")],
    ...                       inputs={"user_id": InputSpec(example="u1")})
    >>> schema = input_schema(wf)
    >>> schema["properties"], schema["required"], schema["additionalProperties"]
    ({'user_id': {'type': 'string', 'examples': ['u1']}}, ['user_id'], False)
    """
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: input_property(spec) for name, spec in wf.inputs.items()},
        "additionalProperties": False,
    }
    required = [name for name, spec in wf.inputs.items() if is_required(spec)]
    confirm = confirm_property(wf)
    if confirm is not None and CONFIRM not in wf.inputs:
        if not confirm_required:
            confirm = {**confirm, "description": confirm["description"].replace(
                "Must be true", "Optional (the server asks the user)")}
        schema["properties"][CONFIRM] = confirm
        if confirm_required:
            required.append(CONFIRM)
    if required:
        schema["required"] = required
    return schema


def may_skip(wf: WorkflowTemplate) -> set[str]:
    """Steps that can end skipped: a condition of their own, or data from a step that can.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t", condition="1 == 2"),
    ...     WorkflowStep(id="b", tool_name="t", parameters={"x": "{{a}}"}), WorkflowStep(id="c", tool_name="t")])
    >>> sorted(may_skip(wf))
    ['a', 'b']
    """
    out: set[str] = set()
    for step in wf.steps:  # listed in dependency order
        reads = referenced_names(step) - {step.id}
        if step.condition or reads & out:
            out.add(step.id)
    return out


def _step_property(wf: WorkflowTemplate, step_id: str, skippable: set[str]) -> dict[str, Any]:
    # A map step's result is a list; other results are whatever the tool returned.
    step = wf.step(step_id)
    if not step.map_over:
        return {}
    return {"type": ["array", "null"] if step_id in skippable else "array"}


def _output_property(value: Any, wf: WorkflowTemplate, skippable: set[str] | None = None) -> dict[str, Any]:
    # An output that is exactly one input reference keeps the input's type, one that is a whole
    # map step's result is a list; other step results are whatever the tool returned.
    if isinstance(value, str) and TEMPLATE_RE.fullmatch(value.strip()):
        ref = parse_reference(value.strip())
        if not ref.path and ref.root in {s.id for s in wf.steps}:
            return _step_property(wf, ref.root, may_skip(wf) if skippable is None else skippable)
        spec = wf.inputs.get(ref.root)
        if spec is not None and not ref.path and spec.type != "any":
            # an optional input without a default arrives as null
            return {"type": spec.type if is_required(spec) or spec.default is not None else [spec.type, "null"]}
    return {}


def sink_steps(wf: WorkflowTemplate) -> list[str]:
    """Ids of the steps nothing else depends on, in step order.

    (The runner's default outputs are every step's result, not only these.)

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[
    ...     WorkflowStep(id="a", tool_name="t"),
    ...     WorkflowStep(id="b", tool_name="t", parameters={"x": "{{a.id}}"}),
    ...     WorkflowStep(id="c", tool_name="t", depends_on=["a"])])
    >>> sink_steps(wf)
    ['b', 'c']

    Notes
    -----
    O(S + R) for S steps and R references.
    """
    needed: set[str] = set()
    for step in wf.steps:
        needed |= set(step.depends_on) | (referenced_names(step) - {step.id})
    return [s.id for s in wf.steps if s.id not in needed]


def output_schema(wf: WorkflowTemplate) -> dict[str, Any]:
    """The ``outputSchema`` of the tool: an object keyed by output name.

    With declared ``outputs`` the keys are their names (an output that is
    one input keeps the input's type); without, the runner returns the
    result of every step, keyed by step id (a map step's is a list; a
    skipped step's is null). A client validates the structured content
    against this, so it promises keys and what is known of their types.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="s", tool_name="t")],
    ...                       inputs={"n": InputSpec(type="integer")},
    ...                       outputs={"user": "{{s}}", "n": "{{n}}"})
    >>> output_schema(wf)["properties"]
    {'user': {}, 'n': {'type': 'integer'}}
    >>> output_schema(wf.model_copy(update={"outputs": None}))
    {'type': 'object', 'properties': {'s': {}}, 'required': ['s']}
    """
    skippable = may_skip(wf)
    if wf.outputs:
        properties = {key: _output_property(value, wf, skippable) for key, value in wf.outputs.items()}
    else:
        properties = {s.id: _step_property(wf, s.id, skippable) for s in wf.steps}
    return {"type": "object", "properties": properties, "required": list(properties)}


def _percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def evidence_text(wf: WorkflowTemplate) -> str:
    """One sentence of evidence from the logs, or ``""`` when there is none.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStats, WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="s", tool_name="t")],
    ...     stats=WorkflowStats(frequency=97, sessions=60, success_rate=0.96, success_rate_low=0.9,
    ...                         avg_duration_ms=840))
    >>> evidence_text(wf)
    'Evidence: seen 97 times in 60 sessions; success rate 96% (lower bound 90%); about 840 ms per run.'
    >>> evidence_text(wf.model_copy(update={"stats": None, "evidence": {"replay": {"pass_rate": 1.0, "compared": 4}}}))
    'Replay: pass rate 100%, 4 calls compared.'
    """
    stats = wf.stats
    replay = replay_text(wf, with_disagreement=False)
    if stats is None or not (stats.frequency or stats.sessions or stats.success_rate is not None):
        return replay
    parts = [f"seen {stats.frequency} times in {stats.sessions} sessions"]
    if stats.success_rate is not None:
        rate = f"success rate {_percent(stats.success_rate)}"
        if stats.success_rate_low is not None:
            rate += f" (lower bound {_percent(stats.success_rate_low)})"
        parts.append(rate)
    extra = stats.model_extra or {}
    if extra.get("outcome_rate") is not None:
        parts.append(f"{_percent(extra['outcome_rate'])} of them in sessions that reached their goal")
    if extra.get("one_call_share") is not None:
        parts.append(f"{_percent(extra['one_call_share'])} callable as one call with what the agent knew")
    if stats.avg_duration_ms is not None:
        parts.append(f"about {stats.avg_duration_ms:.0f} ms per run")
    if stats.avg_cost:
        parts.append(f"about {stats.avg_cost:.4g} cost per run")
    text = "Evidence: " + "; ".join(parts) + "."
    return f"{text} {replay}" if replay else text


def steps_text(wf: WorkflowTemplate) -> str:
    """The steps in order, each with its tool, map and condition.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[
    ...     WorkflowStep(id="get_user", tool_name="get_user_details"),
    ...     WorkflowStep(id="get_res", tool_name="get_reservation_details",
    ...                  map_over="{{get_user.reservations}}", depends_on=["get_user"])])
    >>> steps_text(wf)
    'Steps (2): get_user_details -> get_reservation_details (for each of get_user.reservations).'
    """
    shown = []
    for step in wf.steps:
        text = step.tool_name
        if step.map_over:
            text += f" (for each of {step.map_over.strip('{} ')})"
        if step.condition:
            text += f" (only if {step.condition})"
        shown.append(text)
    return f"Steps ({len(wf.steps)}): " + " -> ".join(shown) + "."


def tool_description(wf: WorkflowTemplate) -> str:
    """The tool description: the workflow's own text, its steps and its evidence.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", description="Look a user up.",
    ...                       steps=[WorkflowStep(id="s", tool_name="get_user")])
    >>> print(tool_description(wf))
    Look a user up.
    Steps (1): get_user.
    """
    lines = [wf.description.strip() or f"Workflow {wf.name}."]
    lines.append(steps_text(wf))
    evidence = evidence_text(wf)
    if evidence:
        lines.append(evidence)
    return "\n".join(lines)


def check_arguments(wf: WorkflowTemplate, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate call arguments against the advertised :func:`input_schema`.

    Raises :class:`ArgumentError` listing every problem, so a model can fix
    them all in one retry. Defaults are left to the runner, which fills them.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="s", tool_name="t")],
    ...     inputs={"n": InputSpec(type="integer"), "mode": InputSpec(default="fast")})
    >>> check_arguments(wf, {"n": 2})
    {'n': 2}
    >>> check_arguments(wf, {"n": "two"})
    Traceback (most recent call last):
    ...
    chainmine.library.serve.errors.ArgumentError: invalid arguments for workflow 'w': n: 'two' is not of type 'integer' (expected: n (integer), mode (string))

    Notes
    -----
    O(A) for A arguments (values are walked once by the JSON Schema validator).
    """
    args = dict(arguments or {})
    # `confirm` is checked by the server itself, so a missing one gets a message saying what would change
    validator = Draft202012Validator(input_schema(wf, confirm_required=False))
    problems = []
    for error in sorted(validator.iter_errors(args), key=lambda e: (list(map(str, e.absolute_path)), e.message)):
        where = ".".join(str(p) for p in error.absolute_path)
        problems.append(f"{where}: {error.message}" if where else error.message)
    if problems:
        expected = ", ".join(f"{n} ({s.type})" for n, s in wf.inputs.items()) or "no arguments"
        raise ArgumentError(
            f"invalid arguments for workflow {wf.name!r}: {'; '.join(problems)} (expected: {expected})",
            problems)
    return args
