"""The Run page's functions: an input form from a workflow, dry-run plans, live runs, past runs.

Tool registries are those the dashboard was started with (``--tools``); the
browser only picks a workflow and fills its inputs.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import EventBus, RunResult
from chainmine.library.runner.errors import InputError
from chainmine.library.runner.events import Event
from chainmine.miner.errors import ChainmineError
from chainmine.miner.run_store import get_run, list_runs, plan_named_workflow, run_named_workflow
from chainmine.miner.views.connections import exclusive_store_access, read_connection
from chainmine.miner.views.launch import DashboardConfig

log = logging.getLogger(__name__)

WIDGETS = {"string": "text", "integer": "integer", "number": "number", "boolean": "checkbox",
           "array": "json", "object": "json", "any": "json"}
"""Which form widget each declared input type gets."""


class NoToolsError(ChainmineError):
    """The dashboard was started without ``--tools``, so nothing can be run."""


@dataclass(frozen=True)
class InputField:
    """One field of a workflow's run form.

    ``widget`` is ``text``, ``integer``, ``number``, ``checkbox`` or ``json``
    (JSON text for arrays, objects and untyped inputs); ``default`` is the
    input's default, else its example, in that widget's form.

    Examples
    --------
    >>> InputField("n", "integer", "integer", 3, True, None).label
    'n (integer)'
    """

    name: str
    type: str
    widget: str
    default: Any
    required: bool
    help: str | None

    @property
    def label(self) -> str:
        """The field's label: name and type, with ``optional`` when it may stay empty."""
        return f"{self.name} ({self.type}{'' if self.required else ', optional'})"


def _default_for(widget: str, value: Any) -> Any:
    if widget == "json":
        return "" if value is None else json.dumps(value)
    if widget == "checkbox":
        return bool(value)
    if widget == "integer":
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0
    if widget == "number":
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
    return "" if value is None else str(value)


def input_fields(wf: WorkflowTemplate) -> list[InputField]:
    """The run form for ``wf``: one typed field per declared input, examples as defaults.

    Examples
    --------
    >>> from chainmine.library.model import InputSpec, WorkflowStep
    >>> wf = WorkflowTemplate(name="w", inputs={"ids": InputSpec(type="array", example=["a"])},
    ...                       steps=[WorkflowStep(id="s", tool_name="t")])
    >>> [(f.name, f.widget, f.default) for f in input_fields(wf)]
    [('ids', 'json', '["a"]')]
    """
    fields = []
    for name, spec in wf.inputs.items():
        widget = WIDGETS.get(spec.type, "json")
        value = spec.default if spec.default is not None else spec.example
        fields.append(InputField(name, spec.type, widget, _default_for(widget, value),
                                 spec.required and spec.default is None, spec.description))
    return fields


def form_inputs(fields: list[InputField], values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the submitted form values into workflow inputs, listing every problem at once.

    JSON fields are parsed; empty optional fields are left out so defaults apply.

    Examples
    --------
    >>> fs = [InputField("ids", "array", "json", "", True, None), InputField("q", "string", "text", "", False, None)]
    >>> form_inputs(fs, {"ids": '["a", "b"]', "q": ""})
    {'ids': ['a', 'b']}
    >>> form_inputs(fs, {"ids": "[oops", "q": ""})
    Traceback (most recent call last):
    ...
    chainmine.library.runner.errors.InputError: ids: not valid JSON (Expecting value at character 1); write it like ["a", "b"] or {"k": 1}
    """
    out: dict[str, Any] = {}
    problems = []
    for f in fields:
        value = values.get(f.name)
        if f.widget in ("text", "json") and (value is None or str(value).strip() == ""):
            if f.required:
                problems.append(f"{f.name}: required; fill it in")
            continue
        if f.widget == "json":
            try:
                value = json.loads(value)
            except ValueError as exc:
                problems.append(f"{f.name}: not valid JSON ({exc.msg} at character {exc.pos}); "
                                'write it like ["a", "b"] or {"k": 1}')
                continue
        out[f.name] = value
    if problems:
        raise InputError("; ".join(problems))
    return out


def _pairs(wf: WorkflowTemplate, inputs: Mapping[str, Any]) -> list[str]:
    # run_named_workflow reads name=value pairs: strings stay raw, other types as JSON
    return [f"{k}={v}" if (wf.inputs.get(k) and wf.inputs[k].type == "string" and isinstance(v, str))
            else f"{k}={json.dumps(v)}" for k, v in inputs.items()]


def _require_tools(cfg: DashboardConfig) -> None:
    if not cfg.has_tools:
        raise NoToolsError("this dashboard was started without tools; restart it with "
                           "`chainmine dashboard --tools MODULE_OR_FILE` (e.g. --tools chainmine.miner.generate.tools)")


def plan_run(cfg: DashboardConfig, name: str) -> dict[str, Any]:
    """The dry-run estimate for library workflow ``name`` against the dashboard's tools.

    Returns :meth:`chainmine.library.runner.Plan.to_dict`: steps with their tool source,
    estimated cost and duration, and the critical path. Nothing is called.

    Examples
    --------
    >>> from pathlib import Path
    >>> plan_run(DashboardConfig(Path("x.duckdb"), Path("w.json")), "w")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.miner.views.run_page.NoToolsError: this dashboard was started without tools; ...
    """
    _require_tools(cfg)
    return plan_named_workflow(name, cfg.tools, str(cfg.library)).to_dict()


def run_live(cfg: DashboardConfig, wf: WorkflowTemplate, inputs: Mapping[str, Any],
             on_event: Callable[[Event], None] | None = None, budget: float | None = None,
             confirm: bool = False) -> RunResult:
    """Run accepted workflow ``wf`` now, recording it in the store; ``on_event`` sees each step event.

    A workflow with a destructive step needs ``confirm=True`` (the page asks).

    Events are delivered in the calling thread as the run goes (the runner's
    event loop runs there), so a page can update its progress display from them.

    Examples
    --------
    >>> from pathlib import Path
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="s", tool_name="t")])
    >>> run_live(DashboardConfig(Path("x.duckdb"), Path("w.json")), wf, {})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.miner.views.run_page.NoToolsError: this dashboard was started without tools; ...
    """
    _require_tools(cfg)
    bus = EventBus()
    if on_event is not None:
        bus.subscribe(on_event)
    # the run holds a read-write connection for its whole length; other sessions wait
    with exclusive_store_access():
        return run_named_workflow(wf.name, cfg.tools, library_path=str(cfg.library), db=str(cfg.db),
                                  input_pairs=_pairs(wf, inputs), budget=budget, events=bus, confirm=confirm)


def describe_event(event: Event) -> str | None:
    """One line for a progress display, or None for events not worth a line.

    Examples
    --------
    >>> describe_event(Event("step.completed", "r", "w", "get_user", {"duration_ms": 12.3}))
    '✅ get_user finished in 12 ms'
    >>> describe_event(Event("step.failed", "r", "w", "pay", {"error": "card declined"}))
    '❌ pay failed: card declined'
    """
    kind, sid, data = event.type, event.step_id, event.data or {}
    if kind == "step.started":
        return f"▶️ {sid} started" + (f" ({data['tool']})" if data.get("tool") else "")
    if kind == "step.completed":
        return f"✅ {sid} finished in {float(data.get('duration_ms') or 0):.0f} ms"
    if kind == "step.failed":
        return f"❌ {sid} failed: {data.get('error') or 'see the step record'}"
    if kind == "step.skipped":
        return f"⏭️ {sid} skipped" + (f": {data['reason']}" if data.get("reason") else "")
    if kind == "step.retrying":
        return f"🔁 {sid} retry {data.get('attempt')} after: {data.get('error')}"
    if kind.startswith("compensation."):
        return f"↩️ {sid} compensation {kind.split('.', 1)[1]}"
    return None


def recent_runs(db: str | os.PathLike, workflow: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Past runs, newest first (empty when there is no database yet).

    Examples
    --------
    >>> recent_runs("/nonexistent/x.duckdb")
    []
    """
    if not Path(db).exists():
        return []
    with read_connection(db) as con:
        return list_runs(con, workflow=workflow, limit=limit)


def run_record(db: str | os.PathLike, run_id: str) -> dict[str, Any]:
    """One past run with its step records (parameters, results, errors).

    Examples
    --------
    >>> import tempfile
    >>> from chainmine.miner.store import connect
    >>> db = Path(tempfile.mkdtemp()) / "t.duckdb"; connect(db).close()
    >>> run_record(db, "nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.miner.run_store.RunNotFoundError: no run 'nope' is recorded; see `chainmine runs list`
    """
    with read_connection(db) as con:
        return get_run(con, run_id)
