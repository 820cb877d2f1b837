"""Recommend the library workflows most likely to start after the calls made so far.

The model (:class:`NextToolModel`) is learned from the stored logs with set-wise
SQL: for every call, the tools before it (up to ``order`` of them, with a
session-start marker) are its *context*; counting (context, next tool) and
(context, workflow that starts here) pairs for every context length gives a
back-off n-gram model over tools and the start statistics of each workflow.

A workflow's score for a prefix of calls is

- its start probability after the prefix's context, interpolated from the
  longest context seen at least ``min_count`` times down to the plain
  frequency (Jelinek–Mercer with weight ``smoothing`` on shorter contexts);
- plus, when the prefix's tail already matches the workflow's first steps,
  the chance the next step follows: ``score = s + (1 - s) · p_next``.

A workflow the model was not fitted with falls back to the n-gram probability
of its first tools. Every recommendation carries a one-line reason.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Sequence

import duckdb

from library.model import WorkflowTemplate
from miner.errors import EmptyStoreError, MiningError
from miner.evaluation.occurrences import OCCURRENCES, POSITIONS, match_occurrences, position_calls
from miner.store import ORDER_BY

log = logging.getLogger(__name__)

START = None
"""Context token standing for the start of a session."""


@dataclass(frozen=True)
class Estimate:
    """A smoothed probability and the evidence behind it.

    ``probability`` is the empirical share at ``context`` (the longest context
    with enough support), ``score`` the value interpolated with shorter ones.

    Examples
    --------
    >>> Estimate(score=0.5, probability=0.5, support=10, context=("a",)).support
    10
    """

    score: float
    probability: float
    support: int
    context: tuple


@dataclass(frozen=True)
class Recommendation:
    """One recommended workflow with its score and a one-line reason.

    Examples
    --------
    >>> r = Recommendation("lookup", 0.9, "after a, b follows", 0.9, 10, 4, 0, ("a", "b"), "accepted")
    >>> r.to_dict()["workflow"], r.to_dict()["tools"]
    ('lookup', ['a', 'b'])
    """

    workflow: str
    score: float
    reason: str
    probability: float
    support: int
    frequency: int
    started: int
    tools: tuple[str, ...]
    status: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: ``workflow``, ``score``, ``reason`` and the evidence."""
        data = asdict(self)
        data["tools"] = list(self.tools)
        return data


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


def collapse(tools: Sequence[str]) -> tuple[str, ...]:
    """Drop consecutive repeats (a map step's calls count once).

    Examples
    --------
    >>> collapse(["a", "b", "b", "c", "b"])
    ('a', 'b', 'c', 'b')
    """
    return tuple(t for i, t in enumerate(tools) if i == 0 or t != tools[i - 1])


def describe_context(context: tuple) -> str:
    """Human words for a context tuple.

    Examples
    --------
    >>> describe_context((None, "a")), describe_context(("a", "b")), describe_context(())
    ('at session start, after a', 'after a → b', 'overall')
    """
    if not context:
        return "overall"
    tools = [t for t in context if t is not START]
    if context[0] is START:
        return "at session start" + (f", after {' → '.join(tools)}" if tools else "")
    return "after " + " → ".join(tools)


def _pct(p: float) -> str:
    return f"{p:.0%}" if p >= 0.01 or p == 0 else f"{p:.1%}"


class NextToolModel:
    """Back-off n-gram model of the next tool and of workflow starts, fitted once per store.

    Parameters
    ----------
    order : int
        Longest context (number of previous calls) used, ≥ 1.
    tail : int
        How many trailing calls are compared with workflow heads (partial match).
    min_count : int
        A context is used only when seen at least this often.
    smoothing : float
        Weight in [0, 1) given to the next-shorter context's estimate.

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> NextToolModel(order=0)
    Traceback (most recent call last):
    ...
    miner.errors.MiningError: order must be at least 1 (got 0)

    Notes
    -----
    Fitting is O(n · order) in the number of calls, inside DuckDB; ranking is
    O(w · order) per prefix for ``w`` workflows.
    """

    def __init__(self, order: int = 2, tail: int = 8, min_count: int = 2, smoothing: float = 0.1):
        for name, value, low in (("order", order, 1), ("tail", tail, 1), ("min_count", min_count, 1)):
            if not isinstance(value, int) or value < low:
                raise MiningError(f"{name} must be at least {low} (got {value})")
        if not 0 <= smoothing < 1:
            raise MiningError(f"smoothing must be in [0, 1) (got {smoothing})")
        self.order, self.tail, self.min_count, self.smoothing = order, tail, min_count, smoothing

    # -- fitting ---------------------------------------------------------------
    def fit(self, con: duckdb.DuckDBPyConnection,
            workflows: Sequence[WorkflowTemplate] = ()) -> "NextToolModel":
        """Count contexts, next tools and the starts of ``workflows`` in the store.

        Examples
        --------
        >>> from miner.store import init_schema
        >>> con = duckdb.connect(); init_schema(con)
        >>> NextToolModel().fit(con)
        Traceback (most recent call last):
        ...
        miner.errors.EmptyStoreError: the store holds no tool calls: run `chainmine ingest LOGS` first
        """
        if con.execute("SELECT count(*) FROM calls").fetchone()[0] == 0:
            raise EmptyStoreError("the store holds no tool calls: run `chainmine ingest LOGS` first")
        if workflows:
            match_occurrences(con, workflows)
        else:
            position_calls(con)
        names = {0: START, **{i: t for t, i in con.execute("SELECT tool, tool_id FROM tools").fetchall()}}
        k = int(self.order)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE cm_contexts AS
            WITH prev AS (
                SELECT session_id, pos, tool_id,
                       coalesce(list(tool_id) OVER (PARTITION BY session_id ORDER BY pos
                                ROWS BETWEEN {k} PRECEDING AND 1 PRECEDING), []) AS prev
                FROM {POSITIONS}
            ), ctx AS (
                SELECT session_id, pos, tool_id,
                       CASE WHEN len(prev) < {k} THEN list_prepend(0, prev) ELSE prev END AS ctx
                FROM prev
            )
            SELECT session_id, pos, tool_id, ctx[len(ctx) - j + 1:] AS sub
            FROM ctx, range(0, {k + 1}) r(j) WHERE j <= len(ctx)
        """)

        def keyed(sql: str) -> dict[tuple, dict[Any, int]]:
            out: dict[tuple, dict[Any, int]] = {}
            for sub, what, n in con.execute(sql).fetchall():
                out.setdefault(tuple(names.get(i, i) for i in sub), {})[what] = n
            return out

        nxt = keyed("SELECT sub, tool_id, count(*) FROM cm_contexts GROUP BY ALL")
        self.next_counts_ = {ctx: {names[t]: n for t, n in d.items()} for ctx, d in nxt.items()}
        self.context_totals_ = {ctx: sum(d.values()) for ctx, d in self.next_counts_.items()}
        self.tools_ = frozenset(t for t in names.values() if t is not START)
        self.starts_: dict[tuple, dict[str, int]] = {}
        self.frequency_: dict[str, int] = {}
        if workflows:
            self.starts_ = keyed(f"""
                SELECT c.sub, o.workflow, count(*) FROM {OCCURRENCES} o
                JOIN cm_contexts c ON c.session_id = o.session_id AND c.pos = o.start_pos
                GROUP BY ALL""")
            self.frequency_ = {wf.name: 0 for wf in workflows}
            self.frequency_.update(self.starts_.get((), {}))
        self.calls_ = self.context_totals_.get((), 0)
        con.execute("DROP TABLE IF EXISTS cm_contexts")
        log.info("next-tool model: %d calls, %d contexts, %d workflows",
                 self.calls_, len(self.context_totals_), len(self.frequency_))
        return self

    # -- estimates -------------------------------------------------------------
    def context(self, prefix: Sequence[str]) -> tuple:
        """The context of the next call after ``prefix``: its last ``order`` tools, or start + all.

        Examples
        --------
        >>> m = NextToolModel(order=2)
        >>> m.context([]), m.context(["a"]), m.context(["a", "b", "c"])
        ((None,), (None, 'a'), ('b', 'c'))
        """
        if len(prefix) < self.order:
            return (START, *prefix)
        return tuple(prefix[len(prefix) - self.order:])

    def _levels(self, context: tuple) -> list[tuple[tuple, int]]:
        # shortest first; a longer context is never seen more often than its suffix
        levels = [((), self.context_totals_.get((), 0))]
        for j in range(1, len(context) + 1):
            sub = context[len(context) - j:]
            total = self.context_totals_.get(sub, 0)
            if total < self.min_count:
                break
            levels.append((sub, total))
        return levels

    def _smooth(self, context: tuple, count: Callable[[tuple], int]) -> Estimate:
        score = probability = 0.0
        for j, (sub, total) in enumerate(self._levels(context)):
            probability = count(sub) / total if total else 0.0
            score = probability if j == 0 else (1 - self.smoothing) * probability + self.smoothing * score
        return Estimate(score, probability, total, sub)

    def next_tool(self, prefix: Sequence[str], tool: str) -> Estimate:
        """Smoothed probability that ``tool`` is the next call after ``prefix``.

        Examples
        --------
        >>> m = NextToolModel(); m.context_totals_ = {(): 4, ("a",): 2}
        >>> m.next_counts_ = {(): {"a": 2, "b": 2}, ("a",): {"b": 2}}
        >>> m.next_tool(["x", "a"], "b").probability
        1.0
        """
        return self._smooth(self.context(prefix), lambda sub: self.next_counts_.get(sub, {}).get(tool, 0))

    def start(self, prefix: Sequence[str], workflow: WorkflowTemplate) -> Estimate:
        """Smoothed probability that ``workflow`` starts with the next call after ``prefix``.

        A workflow the model was not fitted with is estimated from its first
        (up to three) tools under the n-gram model.

        Examples
        --------
        >>> from library.model import WorkflowStep as S, WorkflowTemplate as W
        >>> m = NextToolModel(); m.context_totals_ = {(): 4}; m.next_counts_ = {(): {"a": 1}}
        >>> m.frequency_ = {}; m.start([], W(name="w", steps=[S(id="s", tool_name="a")])).probability
        0.25
        """
        if workflow.name in self.frequency_:
            return self._smooth(self.context(prefix),
                                lambda sub: self.starts_.get(sub, {}).get(workflow.name, 0))
        head = collapse(workflow.tools)[:3]
        first = self.next_tool(prefix, head[0])
        factor = 1.0
        for i in range(1, len(head)):
            factor *= self.next_tool([*prefix, *head[:i]], head[i]).score
        return Estimate(first.score * factor, first.probability, first.support, first.context)

    def frequency(self, workflow: WorkflowTemplate) -> int:
        """Times ``workflow`` occurs in the fitted logs (else its mined ``stats.frequency``)."""
        if workflow.name in self.frequency_:
            return self.frequency_[workflow.name]
        return workflow.stats.frequency if workflow.stats else 0

    def state(self, prefix: Sequence[str], horizon: int) -> tuple:
        """What ranking depends on: the context and the collapsed tail (last ``horizon`` steps).

        Prefixes with equal states get equal rankings for workflows of at most
        ``horizon + 1`` (collapsed) steps, so callers may cache on it.

        Examples
        --------
        >>> NextToolModel(order=1).state(["a", "b", "b"], 2)
        (('b',), ('a', 'b'))
        """
        return self.context(prefix), collapse(list(prefix)[-self.tail:])[-horizon:]

    # -- ranking ---------------------------------------------------------------
    def rank(self, prefix: Sequence[str], workflows: Sequence[WorkflowTemplate]) -> list[Recommendation]:
        """Every workflow in ``workflows`` scored for ``prefix``, best first.

        Ties break on frequency, then name, so rankings are deterministic.

        Examples
        --------
        >>> from library.model import WorkflowStep as S, WorkflowTemplate as W
        >>> m = NextToolModel(); m.context_totals_ = {(): 4}; m.next_counts_ = {(): {"a": 1}}
        >>> m.frequency_ = {}; m.starts_ = {}
        >>> [r.workflow for r in m.rank([], [W(name="v", steps=[S(id="s", tool_name="b")]),
        ...                                  W(name="w", steps=[S(id="s", tool_name="a")])])]
        ['w', 'v']
        """
        out = [self._recommend(list(prefix), wf) for wf in workflows]
        return sorted(out, key=lambda r: (-r.score, -r.frequency, r.workflow))

    def _recommend(self, prefix: list[str], wf: WorkflowTemplate) -> Recommendation:
        tools = collapse(wf.tools)
        freq = self.frequency(wf)
        seen = f"seen {freq:,}×"
        start = self.start(prefix, wf)
        started, cont = _begun(collapse(prefix[-self.tail:]), tools), None
        if started:
            cont = self.next_tool(prefix, tools[started])
        fitted = wf.name in self.frequency_
        if cont is not None and cont.score > start.score:
            reason = (f"already begun ({started} of {len(tools)} steps done): {describe_context(cont.context)}, "
                      f"{tools[started]} follows in {_pct(cont.probability)} of {cont.support:,} cases; {seen}")
            shown = cont
        elif fitted:
            reason = (f"{describe_context(start.context)}, it starts in {_pct(start.probability)} "
                      f"of {start.support:,} cases; {seen}")
            shown = start
        else:
            reason = (f"{describe_context(start.context)}, its first tool {tools[0]} follows in "
                      f"{_pct(start.probability)} of {start.support:,} cases; {seen} when mined")
            shown = start
        score = start.score + (1 - start.score) * (cont.score if cont else 0.0)
        return Recommendation(wf.name, round(score, 6), reason, shown.probability, shown.support,
                              freq, started, tuple(wf.tools), wf.status)


def _begun(tail: tuple[str, ...], tools: tuple[str, ...]) -> int:
    """Most steps of ``tools`` (fewer than all) that ``tail`` ends with."""
    for m in range(min(len(tools) - 1, len(tail)), 0, -1):
        if tail[len(tail) - m:] == tools[:m]:
            return m
    return 0


def library_workflows(library: Any, include_suggested: bool = False) -> list[WorkflowTemplate]:
    """Accepted (and optionally suggested) workflows of a library or an iterable of workflows.

    Raises :class:`MiningError` saying how to fill the library when none qualify.

    Examples
    --------
    >>> from library.model import WorkflowStep as S, WorkflowTemplate as W
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


def session_tools(con: duckdb.DuckDBPyConnection, session_id: str) -> list[str]:
    """The tools a stored session called, in order (the prefix for ``recommend --session``).

    Examples
    --------
    >>> from miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> session_tools(con, "s1")
    Traceback (most recent call last):
    ...
    miner.errors.MiningError: no session 's1' in the store: check the id (`chainmine stats` counts sessions) or pass --tools
    """
    rows = con.execute(f"SELECT tool FROM calls_v WHERE session_id = ? ORDER BY {ORDER_BY}", [session_id]).fetchall()
    if not rows:
        raise MiningError(f"no session {session_id!r} in the store: check the id "
                          "(`chainmine stats` counts sessions) or pass --tools")
    return [r[0] for r in rows]


def recommend(prefix: Sequence[str], library: Any, *, model: NextToolModel | None = None,
              con: duckdb.DuckDBPyConnection | None = None, top: int = 5,
              include_suggested: bool = False) -> Recommendations:
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

    Returns
    -------
    Recommendations
        Best first; empty with a ``note`` when no prefix tool is known.

    Examples
    --------
    >>> recommend(["a"], [], model=NextToolModel())
    Traceback (most recent call last):
    ...
    miner.errors.MiningError: the workflow library is empty: run `chainmine mine --save` to fill it with suggestions, then `chainmine library accept NAME`

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
        model = NextToolModel().fit(con, workflows)
    prefix = [str(t).strip() for t in prefix if str(t).strip()]
    unknown = sorted({t for t in prefix if t not in model.tools_})
    note = None
    if prefix and len(unknown) == len(set(prefix)):
        note = (f"no recommendation: none of the tools {', '.join(unknown)} appear in the logs; "
                "check the names (`chainmine stats` lists them) or ingest logs that use them")
        log.info(note)
        return Recommendations([], note=note)
    if unknown:
        note = f"tools not in the logs were kept as unseen context: {', '.join(unknown)}"
        log.info(note)
    return Recommendations(model.rank(prefix, workflows)[:top], note=note)
