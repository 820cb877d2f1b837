"""What the logs say a workflow did: its sampled occurrences, their calls per step, their inputs.

Occurrences come from :func:`chainmine.miner.evaluation.occurrences.find_occurrences`
(logged calls only; recorded runs are left out). Only occurrences whose
logged calls all succeeded are replayed: a replay cannot go past a failure,
so a failed occurrence says nothing about the wiring after it. From those,
``sessions`` occurrences are taken spread evenly over the log (ordered by
start time, then session and position), so a long log is sampled from its
beginning to its end rather than only its latest part.

The calls of all sampled occurrences are read in one query; each call is then
assigned to the step it plays (a map step takes the whole run of calls of its
tool).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from chainmine.library.errors import TemplateError
from chainmine.library.model import WorkflowStep, WorkflowTemplate
from chainmine.library.templates import parse_reference
from chainmine.miner.evaluation.occurrences import find_occurrences
from chainmine.miner.origins import calls_where
from chainmine.miner.store import ORDER_BY


@dataclass(frozen=True)
class LoggedCall:
    """One logged call of an occurrence.

    Examples
    --------
    >>> LoggedCall(3, "get_user_details", {"user_id": "u1"}, {"name": "Mia"}, True).tool
    'get_user_details'
    """

    pos: int
    tool: str
    args: dict[str, Any]
    result: Any
    success: bool
    error: str | None = None


@dataclass
class Occurrence:
    """One logged occurrence of a workflow, with its calls assigned to steps.

    Examples
    --------
    >>> Occurrence("s1", 0, 1).steps
    {}
    """

    session_id: str
    start_pos: int
    end_pos: int
    steps: dict[str, list[LoggedCall]] = field(default_factory=dict)

    def calls_of(self, step_id: str) -> list[LoggedCall]:
        """The logged calls that step ``step_id`` made (empty when it did not run)."""
        return self.steps.get(step_id, [])


@dataclass(frozen=True)
class LoggedOccurrences:
    """The sampled occurrences of one workflow and how many there were in all.

    Examples
    --------
    >>> LoggedOccurrences([], total=0, failed_in_log=0).sampled
    0
    """

    occurrences: list[Occurrence]
    total: int
    failed_in_log: int

    @property
    def sampled(self) -> int:
        """How many occurrences were taken for replay."""
        return len(self.occurrences)


def spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)``, first and last included.

    Examples
    --------
    >>> spread(10, 3), spread(2, 5), spread(5, 1)
    ([0, 4, 9], [0, 1], [0])
    """
    if k >= n:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def _json(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def assign_steps(workflow: WorkflowTemplate, calls: list[LoggedCall]) -> dict[str, list[LoggedCall]]:
    """Assign an occurrence's calls (in log order) to the steps they play.

    A call continues the open map step of its tool, else it goes to the first
    step in order that is still without calls and calls that tool (or its
    fallback); a call no step can take (an unrelated call of a member tool
    inside a gap) is left out.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep as S
    >>> wf = WorkflowTemplate(name="w", steps=[S(id="u", tool_name="get_user"),
    ...     S(id="r", tool_name="get_res", map_over="{{u.ids}}", depends_on=["u"])])
    >>> calls = [LoggedCall(i, t, {}, None, True) for i, t in enumerate(["get_user", "get_res", "get_res"])]
    >>> {k: [c.pos for c in v] for k, v in assign_steps(wf, calls).items()}
    {'u': [0], 'r': [1, 2]}
    """
    taken: dict[str, list[LoggedCall]] = {}
    open_map: WorkflowStep | None = None
    for call in calls:
        if open_map is not None and call.tool in (open_map.tool_name, open_map.fallback_tool):
            taken[open_map.id].append(call)
            continue
        step = next((s for s in workflow.steps if s.id not in taken
                     and call.tool in (s.tool_name, s.fallback_tool)), None)
        if step is None:
            continue
        taken[step.id] = [call]
        open_map = step if step.map_over else None
    return taken


def _input_name(value: Any, workflow: WorkflowTemplate) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        ref = parse_reference(value)
    except TemplateError:
        return None
    return ref.root if ref.root in workflow.inputs and not ref.path else None


def _collect(template: Any, logged: Any, workflow: WorkflowTemplate, found: dict[str, Any]) -> None:
    name = _input_name(template, workflow)
    if name is not None:
        found.setdefault(name, logged)
    elif isinstance(template, dict) and isinstance(logged, dict):
        for key, sub in template.items():
            if key in logged:
                _collect(sub, logged[key], workflow, found)
    elif isinstance(template, list) and isinstance(logged, list) and len(template) == len(logged):
        for sub, value in zip(template, logged):
            _collect(sub, value, workflow, found)


def logged_inputs(workflow: WorkflowTemplate, occurrence: Occurrence) -> tuple[dict[str, Any], list[str]]:
    """The workflow inputs' values in one occurrence, and the required inputs not found.

    An input takes the logged argument of the first step whose parameter is
    exactly ``{{input}}`` (nested inside objects and lists too). An input a
    map step iterates over (``map_over: "{{ids}}"``) is the list of the values
    its items passed as ``{{item}}``.

    Examples
    --------
    >>> from chainmine.library.model import InputSpec, WorkflowStep as S
    >>> wf = WorkflowTemplate(name="w", inputs={"user_id": InputSpec()},
    ...     steps=[S(id="u", tool_name="get_user", parameters={"user_id": "{{user_id}}"})])
    >>> occ = Occurrence("s", 0, 0, {"u": [LoggedCall(0, "get_user", {"user_id": "mia"}, {}, True)]})
    >>> logged_inputs(wf, occ)
    ({'user_id': 'mia'}, [])
    """
    found: dict[str, Any] = {}
    for step in workflow.steps:
        calls = occurrence.calls_of(step.id)
        if not calls:
            continue
        _collect(step.parameters, calls[0].args, workflow, found)
        name = _input_name(step.map_over, workflow)
        item_params = [p for p, v in step.parameters.items() if v == "{{item}}"]
        if name is not None and item_params:
            found.setdefault(name, [c.args.get(item_params[0]) for c in calls])
    missing = [n for n, spec in workflow.inputs.items() if spec.required and spec.default is None and n not in found]
    return {n: v for n, v in found.items() if n in workflow.inputs}, missing


def _calls_frame(con: duckdb.DuckDBPyConnection, picked: pd.DataFrame, tools: list[str]) -> pd.DataFrame:
    con.register("cm_replay_occ", picked)
    try:
        return con.execute(f"""
            WITH pos AS (
                SELECT session_id, tool_id, args, result, success, error,
                       row_number() OVER (PARTITION BY session_id ORDER BY {ORDER_BY}) - 1 AS pos
                FROM calls
                WHERE {calls_where(False)} AND session_id IN (SELECT session_id FROM cm_replay_occ)
            )
            SELECT o.occ, p.pos, t.tool, p.args::VARCHAR AS args, p.result::VARCHAR AS result,
                   p.success, p.error
            FROM cm_replay_occ o
            JOIN pos p ON p.session_id = o.session_id AND p.pos BETWEEN o.start_pos AND o.end_pos
            JOIN tools t ON t.tool_id = p.tool_id
            WHERE list_contains(?, t.tool)
            ORDER BY o.occ, p.pos
        """, [tools]).fetchdf()
    finally:
        con.unregister("cm_replay_occ")


def sample_occurrences(con: duckdb.DuckDBPyConnection, workflow: WorkflowTemplate, sessions: int = 20,
                       max_gap: int = 1) -> LoggedOccurrences:
    """Up to ``sessions`` logged occurrences of ``workflow`` whose calls all succeeded, with their calls.

    Parameters
    ----------
    con : DuckDB connection to a chainmine store.
    workflow : WorkflowTemplate
    sessions : int
        Occurrences to take, spread evenly over the log order.
    max_gap : int
        Unrelated calls allowed between two steps (the miner's default is 1).

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep as S
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> sample_occurrences(con, WorkflowTemplate(name="w", steps=[S(id="a", tool_name="a")])).total
    0

    Notes
    -----
    One regex scan of the sessions (see :mod:`chainmine.miner.evaluation.occurrences`) and one
    query for the calls of the sampled occurrences.
    """
    found = find_occurrences(con, [workflow], max_gap=max_gap)
    ok = found[found["succeeded"].fillna(False).astype(bool)]
    ok = ok.sort_values(["started_at", "session_id", "start_pos"], na_position="last").reset_index(drop=True)
    picked = ok.iloc[spread(len(ok), sessions)][["session_id", "start_pos", "end_pos"]].reset_index(drop=True)
    picked.insert(0, "occ", range(len(picked)))
    result = LoggedOccurrences([], total=len(found), failed_in_log=len(found) - len(ok))
    if picked.empty:
        return result
    tools = sorted({t for s in workflow.steps for t in (s.tool_name, s.fallback_tool) if t})
    frame = _calls_frame(con, picked.astype({"occ": "int64", "start_pos": "int64", "end_pos": "int64"}), tools)
    by_occ: dict[int, list[LoggedCall]] = {}
    # only the calls of the sampled occurrences (at most ``sessions`` × their length) reach Python
    for row in frame.itertuples(index=False):
        args = _json(row.args)
        by_occ.setdefault(int(row.occ), []).append(LoggedCall(
            int(row.pos), row.tool, args if isinstance(args, dict) else {}, _json(row.result), bool(row.success),
            None if pd.isna(row.error) else row.error))
    for row in picked.itertuples(index=False):
        occ = Occurrence(row.session_id, int(row.start_pos), int(row.end_pos))
        occ.steps = assign_steps(workflow, by_occ.get(int(row.occ), []))
        result.occurrences.append(occ)
    return result
