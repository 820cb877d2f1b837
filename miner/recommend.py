"""Recommend the library workflows most likely to start after the calls made so far.

The model is :class:`chainmine.miner.evaluation.nexttool.NextToolModel`, a back-off
n-gram over tools and workflow starts learned from the stored logs (fit it
once and pass it in for repeated calls); :func:`recommend` picks the
candidate workflows from a library and explains an empty answer.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Sequence

import duckdb

from chainmine.library.model import WorkflowTemplate
from chainmine.miner.errors import MiningError
from chainmine.miner.evaluation.nexttool import Agent, NextToolModel, Recommendation, collapse, describe_context
from chainmine.miner.store import ORDER_BY

log = logging.getLogger(__name__)

__all__ = ["NextToolModel", "Recommendation", "Recommendations", "collapse", "describe_context",
           "library_workflows", "recommend", "session_prefix"]


class Recommendations(list):
    """A list of :class:`Recommendation` with a ``note`` explaining an empty or partial result.

    Examples
    --------
    >>> r = Recommendations([], note="no known tools")
    >>> r, r.note
    ([], 'no known tools')
    """

    def __init__(self, items: Iterable[Recommendation] = (), note: str | None = None):
        super().__init__(items)
        self.note = note


def library_workflows(library: Any, include_suggested: bool = False) -> list[WorkflowTemplate]:
    """Accepted (and optionally suggested) workflows of a library or an iterable of workflows.

    Raises :class:`MiningError` saying how to fill the library when none qualify.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep as S, WorkflowTemplate as W
    >>> wfs = [W(name="a", status="accepted", steps=[S(id="s", tool_name="t")]),
    ...        W(name="b", steps=[S(id="s", tool_name="t")])]
    >>> [w.name for w in library_workflows(wfs, include_suggested=True)]
    ['a', 'b']
    """
    items = list(library.list_all() if hasattr(library, "list_all") else library)
    wanted = ("accepted", "suggested") if include_suggested else ("accepted",)
    chosen = [wf for wf in items if wf.status in wanted]
    if chosen:
        return chosen
    if not items:
        raise MiningError("the workflow library is empty: run `chainmine mine --save` to fill it "
                          "with suggestions, then `chainmine library accept NAME`")
    raise MiningError(f"the library has no {' or '.join(wanted)} workflows: review suggestions with "
                      "`chainmine library list --status suggested` and `chainmine library accept NAME`"
                      + ("" if include_suggested else ", or pass --include-suggested"))


def session_prefix(con: duckdb.DuckDBPyConnection, session_id: str) -> tuple[list[str], str | None]:
    """The tools a stored session called, in order, and its agent (for ``recommend --session``).

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> session_prefix(con, "s1")
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.MiningError: no session 's1' in the store: check the id (`chainmine stats` counts sessions) or pass --tools
    """
    rows = con.execute(f"SELECT tool, agent FROM calls_v WHERE session_id = ? ORDER BY {ORDER_BY}",
                       [session_id]).fetchall()
    if not rows:
        raise MiningError(f"no session {session_id!r} in the store: check the id "
                          "(`chainmine stats` counts sessions) or pass --tools")
    agents = [a for _, a in rows if a is not None]
    return [t for t, _ in rows], (agents[-1] if agents else None)


def recommend(prefix: Sequence[str], library: Any, *, model: NextToolModel | None = None,
              con: duckdb.DuckDBPyConnection | None = None, top: int = 5,
              include_suggested: bool = False, agent: str | None = None,
              include_runs: bool = False) -> Recommendations:
    """Library workflows ranked by how likely they are to start after ``prefix``.

    Parameters
    ----------
    prefix : sequence of str
        Tools a session has called so far, oldest first (empty: a new session).
    library : WorkflowLibrary or iterable of WorkflowTemplate
    model : NextToolModel, optional
        A fitted model; without one, a model is fitted on ``con``.
    con : DuckDB connection, optional
    top : int
        How many recommendations to return.
    include_suggested : bool
        Also rank workflows still waiting for review.
    agent : str, optional
        The agent asking; its own habits weigh in when the logs name agents.
    include_runs : bool
        Fit the model on the calls of recorded workflow runs too (left out by default;
        ignored when ``model`` is given).

    Returns
    -------
    Recommendations
        Best first; empty with a ``note`` when no prefix tool is known.

    Examples
    --------
    >>> recommend(["a"], [], model=NextToolModel())
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.MiningError: the workflow library is empty: run `chainmine mine --save` to fill it with suggestions, then `chainmine library accept NAME`

    Notes
    -----
    Fitting is O(n · order) over ``n`` calls in DuckDB; ranking O(w · order).
    """
    if top < 1:
        raise MiningError(f"--top must be at least 1 (got {top})")
    workflows = library_workflows(library, include_suggested)
    if model is None:
        if con is None:
            raise TypeError("recommend() needs a fitted model or a connection to fit one")
        model = NextToolModel(include_runs=include_runs).fit(con, workflows)
    prefix = [str(t).strip() for t in prefix if str(t).strip()]
    unknown = sorted({t for t in prefix if t not in model.tools_})
    if prefix and len(unknown) == len(set(prefix)):
        note = (f"no recommendation: none of the tools {', '.join(unknown)} appear in the logs; "
                "check the names (`chainmine stats` lists them) or ingest logs that use them")
        log.info(note)
        return Recommendations([], note=note)
    notes = []
    if unknown:
        notes.append(f"tools not in the logs were kept as unseen context: {', '.join(unknown)}")
    if agent is not None and model.use_agent and not model.context_totals_.get((Agent(agent),)):
        notes.append(f"agent {agent!r} is not in the logs, so only the tools count")
    note = "; ".join(notes) or None
    if note:
        log.info(note)
    return Recommendations(model.rank(prefix, workflows, agent)[:top], note=note)
