"""Workflow records: :class:`WorkflowTemplate` made of :class:`WorkflowStep`.

Field names follow the workflow format in the project's design (``name``,
``steps``, ``tool_name``, ``parameters``, ``depends_on`` ...). Records are
pydantic models so a library file is checked field by field on load; rules
that span several fields (references, cycles) live in :mod:`chainmine.library.validate`.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SLUG_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
STATUSES = ("suggested", "accepted", "rejected")
SOURCES = ("mined", "manual", "imported")
WORKFLOW_TOOL_PREFIX = "workflow:"

Status = Literal["suggested", "accepted", "rejected"]
Source = Literal["mined", "manual", "imported"]
Effect = Literal["read", "write", "destructive"]
EffectSource = Literal["mcp", "name", "override"]
InputType = Literal["string", "integer", "number", "boolean", "array", "object", "any"]


def utc_now() -> str:
    """The current UTC time as an ISO-8601 string with seconds, for ``created_at``/``updated_at``.

    Examples
    --------
    >>> utc_now().endswith("+00:00")
    True
    """
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _slug(value: str, what: str) -> str:
    if not isinstance(value, str) or not SLUG_RE.match(value):
        raise ValueError(f"{what} {value!r} must match ^[a-zA-Z_][a-zA-Z0-9_]*$ (letters, digits, underscores)")
    return value


class InputSpec(BaseModel):
    """A declared workflow input.

    Examples
    --------
    >>> InputSpec(type="string", example="mia_li_3668").required
    True
    """

    model_config = ConfigDict(extra="forbid")
    type: InputType = "string"
    description: str | None = None
    example: Any = None
    required: bool = True
    default: Any = None
    secret: bool | None = None
    """A credential: never stored with an example, masked wherever it is shown."""
    choices: str | None = None
    """A template naming the list the value must come from (``{{get_user.reservations}}``)."""


class Compensation(BaseModel):
    """The call that undoes a step when the workflow later fails.

    Examples
    --------
    >>> Compensation(tool_name="cancel_order", parameters={"id": "{{place.id}}"}).tool_name
    'cancel_order'
    """

    model_config = ConfigDict(extra="forbid")
    tool_name: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)


class ParameterSource(BaseModel):
    """How a mined parameter got its value: evidence shown to reviewers.

    ``kind`` is ``bound`` (taken from an earlier step), ``constant``, ``input``
    or ``unknown``; ``source`` is the template or literal; ``support`` the share
    of sampled occurrences that agree.

    Examples
    --------
    >>> ParameterSource(kind="bound", source="{{get_user.id}}", support=1.0).kind
    'bound'
    """

    model_config = ConfigDict(extra="allow")
    kind: Literal["bound", "constant", "input", "unknown"]
    source: Any = None
    support: float | None = None


class WorkflowStep(BaseModel):
    """One step: call ``tool_name`` with ``parameters`` after ``depends_on``.

    Examples
    --------
    >>> WorkflowStep(id="get_user", tool_name="get_user_details",
    ...              parameters={"user_id": "{{user_id}}"}).depends_on
    []
    """

    model_config = ConfigDict(extra="forbid")
    id: str
    tool_name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    condition: str | None = None
    max_retries: int = Field(default=0, ge=0, le=100)
    retry_delay: float = Field(default=0.5, ge=0)
    backoff: float = Field(default=2.0, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    fallback_tool: str | None = None
    compensation: Compensation | None = None
    map_over: str | None = None
    max_concurrency: int | None = Field(default=None, ge=1)
    allow_partial: bool = False
    cost_estimate: float | None = Field(default=None, ge=0)
    duration_estimate_ms: float | None = Field(default=None, ge=0)
    sources: dict[str, ParameterSource] = Field(default_factory=dict)
    effect: Effect | None = None
    """The tool's side-effect class (see :mod:`chainmine.library.effects`); ``None`` when not yet classified."""
    effect_source: EffectSource | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        return _slug(v, "step id")

    @property
    def is_subworkflow(self) -> bool:
        """True when the step runs another library workflow (``workflow:NAME``)."""
        return self.tool_name.startswith(WORKFLOW_TOOL_PREFIX)


class WorkflowStats(BaseModel):
    """Evidence from the logs; extra keys (e.g. ``score``) are kept.

    Examples
    --------
    >>> WorkflowStats(frequency=97, sessions=60).success_rate is None
    True
    """

    model_config = ConfigDict(extra="allow")
    frequency: int = Field(default=0, ge=0)
    sessions: int = Field(default=0, ge=0)
    success_rate: float | None = Field(default=None, ge=0, le=1)
    success_rate_low: float | None = Field(default=None, ge=0, le=1)
    avg_duration_ms: float | None = Field(default=None, ge=0)
    avg_cost: float | None = Field(default=None, ge=0)
    example_sessions: list[str] = Field(default_factory=list)


class WorkflowTemplate(BaseModel):
    """A named DAG of steps with declared inputs, review status and evidence.

    ``replaces`` names the accepted workflow a new suggestion would replace,
    ``review_note`` keeps the reviewer's reason (e.g. why it was rejected) and
    ``origin_signature`` the :meth:`signature` the workflow had when it entered
    the library, so re-mining still recognises it after a reviewer's edits.

    Examples
    --------
    >>> wf = WorkflowTemplate(name="lookup", steps=[
    ...     WorkflowStep(id="get_user", tool_name="get_user_details",
    ...                  parameters={"user_id": "{{user_id}}"})],
    ...     inputs={"user_id": InputSpec(example="u1")})
    >>> wf.tools
    ['get_user_details']
    """

    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    category: str = "general"
    tags: list[str] = Field(default_factory=list)
    status: Status = "suggested"
    source: Source = "manual"
    version: int = Field(default=1, ge=1)
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    steps: list[WorkflowStep] = Field(min_length=1)
    outputs: dict[str, Any] | None = None
    stats: WorkflowStats | None = None
    evidence: dict[str, Any] | None = None
    """Checks beyond frequency, e.g. ``{"replay": {"pass_rate", "compared", "first_disagreement", "at"}}``."""
    replaces: str | None = None
    review_note: str | None = None
    origin_signature: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        return _slug(v, "workflow name")

    @property
    def tools(self) -> list[str]:
        """Tool names in step order."""
        return [s.tool_name for s in self.steps]

    def step(self, step_id: str) -> WorkflowStep:
        """Return the step with ``step_id`` (``KeyError`` if absent)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict with defaults left out, in field order.

        Examples
        --------
        >>> WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")]).to_dict()["steps"]
        [{'id': 'a', 'tool_name': 't', 'parameters': {}, 'depends_on': []}]
        """
        data = self.model_dump(mode="json", exclude_none=True)
        for step, model in zip(data["steps"], self.steps):
            defaults = WorkflowStep(id=model.id, tool_name=model.tool_name).model_dump(mode="json")
            for key in list(step):
                if key not in ("id", "tool_name", "parameters", "depends_on") and step[key] == defaults.get(key):
                    del step[key]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WorkflowTemplate":
        """Build from a plain dict (pydantic validation errors propagate)."""
        return cls.model_validate(data)

    def signature(self) -> str:
        """Identity of the workflow's shape: tools, structure and bindings, not its name.

        Two mined workflows with the same signature are the same workflow.

        Examples
        --------
        >>> a = WorkflowTemplate(name="a", steps=[WorkflowStep(id="s", tool_name="t")])
        >>> a.signature() == a.model_copy(update={"name": "b"}).signature()
        True
        """
        shape = {
            "inputs": sorted(self.inputs),
            "steps": [
                {"id": s.id, "tool": s.tool_name, "params": s.parameters,
                 "deps": sorted(s.depends_on), "map": s.map_over, "if": s.condition}
                for s in self.steps
            ],
        }
        text = json.dumps(shape, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
