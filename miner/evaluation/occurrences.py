"""Where workflows occur in the stored calls, found set-wise in DuckDB.

Each session becomes one string of tokens ``;<tool_id>:<position>`` and each
workflow one regular expression over such tokens, built only from integer tool
ids (never from user text):

- a step is one token of its tool (or of its ``fallback_tool``);
- a ``map_over`` step is one or more consecutive tokens of its tool;
- a step with a ``condition`` may be absent;
- steps that do not depend on each other, listed next to each other (parallel
  branches), may appear in any order (up to :data:`MAX_PERMUTED` steps; longer
  groups keep the listed order);
- with ``max_gap`` > 0, up to that many unrelated calls may sit between two
  steps (as the miner allows); they are inside the occurrence's span but not
  among its ``calls``.

DuckDB's ``regexp_extract_all`` then returns every non-overlapping match in
every session at once; the start position and length come from the matched
tokens. A workflow that uses a tool never seen in the logs (or a
``workflow:`` sub-workflow step) cannot occur.
"""

from __future__ import annotations

import itertools
import logging
from typing import Sequence

import duckdb
import pandas as pd

from chainmine.library.model import WorkflowStep, WorkflowTemplate
from chainmine.miner.origins import calls_where
from chainmine.miner.store import ORDER_BY

log = logging.getLogger(__name__)

POSITIONS = "cm_positions"
"""Temp table: ``session_id, pos, tool_id, success, ts, agent`` (``pos`` 0-based)."""
OCCURRENCES = "cm_occurrences"
"""Temp table: ``wf_index, workflow, session_id, start_pos, end_pos, calls, started_at, succeeded``."""
MEMBERS = "cm_members"
"""Temp table: ``wf_index, tool_id`` of every tool a workflow's steps call."""
MAX_PERMUTED = 4
"""Largest group of parallel steps matched in any order (4! = 24 alternatives)."""


def _step_groups(workflow: WorkflowTemplate) -> list[list[WorkflowStep]]:
    # a step joins the current group when it depends on none of the group's steps
    ancestors: dict[str, set[str]] = {}
    groups: list[list[WorkflowStep]] = []
    for step in workflow.steps:
        found: set[str] = set()
        for dep in step.depends_on:
            found |= {dep} | ancestors.get(dep, set())
        ancestors[step.id] = found
        if groups and not found & {s.id for s in groups[-1]}:
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def _step_regex(step: WorkflowStep, tool_ids: dict[str, int]) -> str | None:
    ids = [tool_ids[t] for t in (step.tool_name, step.fallback_tool) if t and t in tool_ids]
    if not ids or step.is_subworkflow:
        return "" if step.condition else None
    token = "|".join(rf";{i}:\d+" for i in ids)
    if step.map_over:
        regex = f"(?:{token})+"
    else:
        regex = f"(?:{token})"
    return f"(?:{regex})?" if step.condition else regex


def workflow_pattern(workflow: WorkflowTemplate, tool_ids: dict[str, int], max_gap: int = 0) -> str | None:
    """The regular expression matching ``workflow`` in a session's token string.

    Parameters
    ----------
    workflow : WorkflowTemplate
    tool_ids : dict
        Tool name → integer id (the store's ``tools`` table).
    max_gap : int
        Unrelated calls allowed between two steps.
    include_runs : bool
        Also the calls of recorded workflow runs (left out by default).

    Returns
    -------
    str or None
        ``None`` when a required step's tool is unknown (it cannot occur).

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep as S, WorkflowTemplate as W
    >>> wf = W(name="w", steps=[S(id="u", tool_name="get_user"),
    ...        S(id="r", tool_name="get_res", map_over="{{u.ids}}", depends_on=["u"])])
    >>> workflow_pattern(wf, {"get_user": 1, "get_res": 2})
    '(?:;1:\\\\d+)(?:;2:\\\\d+)+'
    >>> workflow_pattern(wf, {"get_user": 1, "get_res": 2}, max_gap=1)
    '(?:;1:\\\\d+)(?:;\\\\d+:\\\\d+){0,1}?(?:;2:\\\\d+)+'
    >>> workflow_pattern(wf, {"get_user": 1}) is None
    True

    Notes
    -----
    O(s · g!) for ``s`` steps and parallel groups of at most ``g`` ≤ 4 steps.
    """
    gap = rf"(?:;\d+:\d+){{0,{int(max_gap)}}}?" if max_gap > 0 else ""
    parts = []
    for group in _step_groups(workflow):
        regexes = [_step_regex(step, tool_ids) for step in group]
        if any(r is None for r in regexes):
            return None
        regexes = [r for r in regexes if r]
        if len(regexes) <= 1 or len(regexes) > MAX_PERMUTED:
            parts.append(gap.join(regexes))
            continue
        orders = dict.fromkeys(gap.join(p) for p in itertools.permutations(regexes))
        parts.append("(?:" + "|".join(orders) + ")")
    pattern = gap.join(p for p in parts if p)
    return pattern or None


def tool_ids(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Tool name → id from the store's ``tools`` table.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> tool_ids(con)
    {}
    """
    return dict(con.execute("SELECT tool, tool_id FROM tools").fetchall())


def position_calls(con: duckdb.DuckDBPyConnection, sessions: str | None = None, include_runs: bool = False) -> str:
    """Create temp table :data:`POSITIONS`: every logged call with its 0-based position in its session.

    ``sessions`` names a table or view (made by the caller) with a
    ``session_id`` column restricting the sessions; ``None`` takes them all.
    The calls of recorded workflow runs are left out unless ``include_runs``.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> position_calls(con)
    'cm_positions'
    """
    where = f"WHERE {calls_where(include_runs)}"
    if sessions:
        where += f" AND session_id IN (SELECT session_id FROM {sessions})"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {POSITIONS} AS
        SELECT session_id,
               row_number() OVER (PARTITION BY session_id ORDER BY {ORDER_BY}) - 1 AS pos,
               tool_id, success, ts, agent
        FROM calls {where}
    """)
    return POSITIONS


def match_occurrences(con: duckdb.DuckDBPyConnection, workflows: Sequence[WorkflowTemplate],
                      sessions: str | None = None, max_gap: int = 0, include_runs: bool = False) -> str:
    """Find every occurrence of ``workflows`` in the calls; create temp table :data:`OCCURRENCES`.

    Parameters
    ----------
    con : DuckDB connection to a chainmine store.
    workflows : sequence of WorkflowTemplate
        ``wf_index`` in the result is the position in this sequence.
    sessions : str, optional
        Name of a caller-made table/view with ``session_id`` to restrict to.
    max_gap : int
        Unrelated calls allowed between two steps.

    Returns
    -------
    str
        The temp table name. Also (re)creates :data:`POSITIONS` for those sessions.
        ``calls`` counts the workflow's own calls between ``start_pos`` and
        ``end_pos`` (gap calls excluded); ``succeeded`` is true when all of
        them succeeded.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep as S, WorkflowTemplate as W
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> match_occurrences(con, [W(name="w", steps=[S(id="a", tool_name="a")])])
    'cm_occurrences'

    Notes
    -----
    One vectorised regex scan of all sessions per workflow, linear in the
    session length: O(n · w) for ``n`` calls and ``w`` workflows, inside DuckDB.
    """
    position_calls(con, sessions, include_runs)
    ids = tool_ids(con)
    members = pd.DataFrame(
        [(i, ids[t]) for i, wf in enumerate(workflows) for s in wf.steps
         for t in {s.tool_name, s.fallback_tool} if t in ids],
        columns=["wf_index", "tool_id"]).drop_duplicates()
    con.register("cm_members_df", members.astype("int64"))
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {MEMBERS} AS SELECT * FROM cm_members_df")
    finally:
        con.unregister("cm_members_df")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE cm_sequences AS
        SELECT session_id, string_agg(';' || tool_id || ':' || pos, '' ORDER BY pos) AS s
        FROM {POSITIONS} GROUP BY session_id
    """)
    con.execute("CREATE OR REPLACE TEMP TABLE cm_hits (wf_index INTEGER, session_id VARCHAR, m VARCHAR)")
    matched = 0
    for index, wf in enumerate(workflows):
        pattern = workflow_pattern(wf, ids, max_gap)
        if pattern is None:
            continue
        # one statement per workflow: a constant pattern is compiled once, a pattern
        # column would be compiled again for every session
        con.execute("INSERT INTO cm_hits SELECT ?, session_id, unnest(regexp_extract_all(s, ?)) FROM cm_sequences",
                    [index, pattern])
        matched += 1
    log.debug("matched %d of %d workflows", matched, len(workflows))
    names = pd.DataFrame({"wf_index": range(len(workflows)), "workflow": [wf.name for wf in workflows]})
    con.register("cm_names_df", names.astype({"wf_index": "int64", "workflow": "string"}))
    try:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {OCCURRENCES} AS
            WITH occ AS (
                SELECT wf_index, session_id,
                       CAST(regexp_extract(m, '^;\\d+:(\\d+)', 1) AS BIGINT) AS start_pos,
                       CAST(regexp_extract(m, ':(\\d+)$', 1) AS BIGINT) AS end_pos
                FROM cm_hits WHERE m <> ''
            )
            SELECT o.wf_index, n.workflow::VARCHAR AS workflow, o.session_id, o.start_pos, o.end_pos,
                   count(*) AS calls, min(p.ts) AS started_at, bool_and(p.success) AS succeeded
            FROM occ o
            JOIN cm_names_df n ON n.wf_index = o.wf_index
            JOIN {POSITIONS} p ON p.session_id = o.session_id AND p.pos BETWEEN o.start_pos AND o.end_pos
            JOIN {MEMBERS} w ON w.wf_index = o.wf_index AND w.tool_id = p.tool_id
            GROUP BY ALL
        """)
    finally:
        con.unregister("cm_names_df")
    con.execute("DROP TABLE IF EXISTS cm_hits")
    con.execute("DROP TABLE IF EXISTS cm_sequences")
    return OCCURRENCES


def find_occurrences(con: duckdb.DuckDBPyConnection, workflows: Sequence[WorkflowTemplate],
                     sessions: str | None = None, max_gap: int = 0) -> pd.DataFrame:
    """Occurrences of ``workflows`` as a DataFrame, ordered by workflow, session and position.

    Columns: ``workflow, session_id, start_pos, end_pos, calls, started_at, succeeded``.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep as S, WorkflowTemplate as W
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> list(find_occurrences(con, [W(name="w", steps=[S(id="a", tool_name="a")])]).columns)[:3]
    ['workflow', 'session_id', 'start_pos']
    """
    table = match_occurrences(con, workflows, sessions, max_gap)
    return con.execute(f"""
        SELECT workflow, session_id, start_pos, end_pos, calls, started_at, succeeded
        FROM {table} ORDER BY wf_index, session_id, start_pos
    """).fetchdf()
