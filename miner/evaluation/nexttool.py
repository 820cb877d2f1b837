"""The recommender's model: a back-off n-gram over tools and workflow starts.

For every stored call, the tools before it (up to ``order`` of them, with a
session-start marker) are its *context*. Counting, set-wise in DuckDB,
(context, next tool) and (context, workflow starting here) pairs for every
context length gives a back-off n-gram model over tools and the start
statistics of each workflow. When the log names the ``agent`` making the calls,
the same counts are also kept per agent, as the most specific contexts: an
agent usually works in one domain, which its last few calls may not reveal.

A workflow's score for a prefix of calls is

- its start probability after the prefix's context, interpolated from the
  most specific context seen at least ``min_count`` times down to the plain
  frequency (Jelinek–Mercer, weight ``smoothing`` on the less specific one);
- plus, when the prefix's tail already matches the workflow's first steps,
  the chance its next step follows: ``score = s + (1 - s) · p_next``.

A workflow the model was not fitted with falls back to the n-gram probability
of its first tools. Every recommendation carries a one-line reason.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import duckdb

from chainmine.library.model import WorkflowTemplate
from chainmine.miner.chains.params import DEFAULT_MAX_GAP
from chainmine.miner.errors import EmptyStoreError, MiningError
from chainmine.miner.evaluation.occurrences import OCCURRENCES, POSITIONS, match_occurrences, position_calls
from chainmine.miner.origins import count_calls

log = logging.getLogger(__name__)

START = None
"""Context token standing for the start of a session."""


@dataclass(frozen=True)
class Agent:
    """Context token naming the agent that makes the calls.

    Examples
    --------
    >>> Agent("ci-bot") == Agent("ci-bot")
    True
    """

    name: str


@dataclass(frozen=True)
class Estimate:
    """A smoothed probability and the evidence behind it.

    ``probability`` is the empirical share at ``context`` (the most specific
    context with enough support), ``score`` the value interpolated with less
    specific ones.

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
    >>> describe_context((Agent("ci-bot"), None))
    'for agent ci-bot, at session start'
    """
    if context and isinstance(context[0], Agent):
        rest = describe_context(context[1:])
        return f"for agent {context[0].name}" + ("" if rest == "overall" else f", {rest}")
    if not context:
        return "overall"
    tools = [t for t in context if t is not START]
    if context[0] is START:
        return "at session start" + (f", after {' → '.join(tools)}" if tools else "")
    return "after " + " → ".join(tools)


def _pct(p: float) -> str:
    return f"{p:.0%}" if p >= 0.01 or p == 0 else f"{p:.1%}"


def _begun(tail: tuple[str, ...], tools: tuple[str, ...]) -> int:
    """Most steps of ``tools`` (fewer than all) that ``tail`` ends with."""
    for m in range(min(len(tools) - 1, len(tail)), 0, -1):
        if tail[len(tail) - m:] == tools[:m]:
            return m
    return 0


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
        Weight in [0, 1) given to the next less specific context's estimate.
    max_gap : int
        Unrelated calls allowed between two steps when finding workflow starts
        (the miner's default, so both count the same occurrences).
    use_agent : bool
        Also condition on the agent making the calls, when the log names it.
    include_runs : bool
        Also learn from the calls of recorded workflow runs (left out by default).

    Examples
    --------
    >>> NextToolModel(order=0)
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.MiningError: order must be at least 1 (got 0)

    Notes
    -----
    Fitting is O(n · order) in the number of calls, inside DuckDB; ranking is
    O(w · order) per prefix for ``w`` workflows.
    """

    def __init__(self, order: int = 2, tail: int = 8, min_count: int = 2, smoothing: float = 0.1,
                 max_gap: int = DEFAULT_MAX_GAP, use_agent: bool = True, include_runs: bool = False):
        for name, value, low in (("order", order, 1), ("tail", tail, 1), ("min_count", min_count, 1),
                                 ("max_gap", max_gap, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise MiningError(f"{name} must be at least {low} (got {value})")
        if not 0 <= smoothing < 1:
            raise MiningError(f"smoothing must be in [0, 1) (got {smoothing})")
        self.order, self.tail, self.min_count, self.smoothing = order, tail, min_count, smoothing
        self.max_gap, self.use_agent, self.include_runs = max_gap, use_agent, include_runs
        self._level_cache: dict[tuple, list[tuple[tuple, int]]] = {}

    # -- fitting ---------------------------------------------------------------
    def fit(self, con: duckdb.DuckDBPyConnection,
            workflows: Sequence[WorkflowTemplate] = ()) -> "NextToolModel":
        """Count contexts, next tools and the starts of ``workflows`` in the store.

        Examples
        --------
        >>> from chainmine.miner.store import init_schema
        >>> con = duckdb.connect(); init_schema(con)
        >>> NextToolModel().fit(con)
        Traceback (most recent call last):
        ...
        chainmine.miner.errors.EmptyStoreError: the store holds no tool calls: run `chainmine ingest LOGS` first
        """
        if count_calls(con, self.include_runs) == 0:
            raise EmptyStoreError("the store holds no tool calls: run `chainmine ingest LOGS` first")
        if workflows:
            match_occurrences(con, workflows, max_gap=self.max_gap, include_runs=self.include_runs)
        else:
            position_calls(con, include_runs=self.include_runs)
        self._level_cache = {}
        names = {0: START, **{i: t for t, i in con.execute("SELECT tool, tool_id FROM tools").fetchall()}}
        k = int(self.order)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE cm_contexts AS
            WITH prev AS (
                SELECT session_id, pos, tool_id, {'agent' if self.use_agent else 'NULL'} AS agent,
                       coalesce(list(tool_id) OVER (PARTITION BY session_id ORDER BY pos
                                ROWS BETWEEN {k} PRECEDING AND 1 PRECEDING), []) AS prev
                FROM {POSITIONS}
            ), ctx AS (
                SELECT session_id, pos, tool_id, agent,
                       CASE WHEN len(prev) < {k} THEN list_prepend(0, prev) ELSE prev END AS ctx
                FROM prev
            )
            SELECT session_id, pos, tool_id, agent, ctx[len(ctx) - j + 1:] AS sub
            FROM ctx, range(0, {k + 1}) r(j) WHERE j <= len(ctx)
        """)

        def keyed(what: str, source: str) -> dict[tuple, dict[Any, int]]:
            # each context with and without the agent in front
            out: dict[tuple, dict[Any, int]] = {}
            for plain, agent, sub, item, n in con.execute(f"""
                    SELECT GROUPING(agent) = 1, agent, sub, {what}, count(*) FROM {source}
                    GROUP BY GROUPING SETS ((sub, {what}), (agent, sub, {what}))
                    HAVING GROUPING(agent) = 1 OR agent IS NOT NULL""").fetchall():
                key = tuple(names.get(i, i) for i in sub)
                out.setdefault(key if plain else (Agent(agent), *key), {})[item] = n
            return out

        self.next_counts_ = {ctx: {names[t]: n for t, n in d.items()}
                             for ctx, d in keyed("tool_id", "cm_contexts").items()}
        self.context_totals_ = {ctx: sum(d.values()) for ctx, d in self.next_counts_.items()}
        self.tools_ = frozenset(t for t in names.values() if t is not START)
        self.starts_: dict[tuple, dict[str, int]] = {}
        self.frequency_: dict[str, int] = {}
        if workflows:
            self.starts_ = keyed("o.workflow", f"""{OCCURRENCES} o
                JOIN cm_contexts c ON c.session_id = o.session_id AND c.pos = o.start_pos""")
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

    def _levels(self, context: tuple, agent: str | None) -> list[tuple[tuple, int]]:
        # least specific first; a longer context is never seen more often than its suffix
        key = (context, agent)
        if key not in self._level_cache:
            self._level_cache[key] = self._find_levels(context, agent)
        return self._level_cache[key]

    def _find_levels(self, context: tuple, agent: str | None) -> list[tuple[tuple, int]]:
        levels = [((), self.context_totals_.get((), 0))]
        heads = [()] + ([(Agent(agent),)] if agent is not None and self.use_agent else [])
        for head in heads:
            for j in range(0 if head else 1, len(context) + 1):
                sub = head + context[len(context) - j:]
                total = self.context_totals_.get(sub, 0)
                if total < self.min_count:
                    break
                levels.append((sub, total))
        return levels

    def _smooth(self, context: tuple, agent: str | None, count: Callable[[tuple], int]) -> Estimate:
        score = probability = 0.0
        for j, (sub, total) in enumerate(self._levels(context, agent)):
            probability = count(sub) / total if total else 0.0
            score = probability if j == 0 else (1 - self.smoothing) * probability + self.smoothing * score
        return Estimate(score, probability, total, sub)

    def next_tool(self, prefix: Sequence[str], tool: str, agent: str | None = None) -> Estimate:
        """Smoothed probability that ``tool`` is the next call after ``prefix``.

        Examples
        --------
        >>> m = NextToolModel(); m.context_totals_ = {(): 4, ("a",): 2}
        >>> m.next_counts_ = {(): {"a": 2, "b": 2}, ("a",): {"b": 2}}
        >>> m.next_tool(["x", "a"], "b").probability
        1.0
        """
        return self._smooth(self.context(prefix), agent,
                            lambda sub: self.next_counts_.get(sub, {}).get(tool, 0))

    def start(self, prefix: Sequence[str], workflow: WorkflowTemplate, agent: str | None = None) -> Estimate:
        """Smoothed probability that ``workflow`` starts with the next call after ``prefix``.

        A workflow the model was not fitted with is estimated from its first
        (up to three) tools under the n-gram model.

        Examples
        --------
        >>> from chainmine.library.model import WorkflowStep as S, WorkflowTemplate as W
        >>> m = NextToolModel(); m.context_totals_ = {(): 4}; m.next_counts_ = {(): {"a": 1}}
        >>> m.frequency_ = {}; m.start([], W(name="w", steps=[S(id="s", tool_name="a")])).probability
        0.25
        """
        if workflow.name in self.frequency_:
            return self._smooth(self.context(prefix), agent,
                                lambda sub: self.starts_.get(sub, {}).get(workflow.name, 0))
        head = collapse(workflow.tools)[:3]
        first = self.next_tool(prefix, head[0], agent)
        factor = 1.0
        for i in range(1, len(head)):
            factor *= self.next_tool([*prefix, *head[:i]], head[i], agent).score
        return Estimate(first.score * factor, first.probability, first.support, first.context)

    def frequency(self, workflow: WorkflowTemplate) -> int:
        """Times ``workflow`` occurs in the fitted logs (else its mined ``stats.frequency``).

        Examples
        --------
        >>> from chainmine.library.model import WorkflowStats, WorkflowStep as S, WorkflowTemplate as W
        >>> m = NextToolModel(); m.frequency_ = {}
        >>> m.frequency(W(name="w", steps=[S(id="s", tool_name="a")], stats=WorkflowStats(frequency=7)))
        7
        """
        if workflow.name in self.frequency_:
            return self.frequency_[workflow.name]
        return workflow.stats.frequency if workflow.stats else 0

    def state(self, prefix: Sequence[str], horizon: int, agent: str | None = None) -> tuple:
        """What ranking depends on: agent, context and the collapsed tail (last ``horizon`` steps).

        Prefixes with equal states get equal rankings for workflows of at most
        ``horizon + 1`` (collapsed) steps, so callers may cache on it.

        Examples
        --------
        >>> NextToolModel(order=1).state(["a", "b", "b"], 2)
        (None, ('b',), ('a', 'b'))
        """
        return (agent if self.use_agent else None, self.context(prefix),
                collapse(list(prefix)[-self.tail:])[-max(1, horizon):])

    # -- ranking ---------------------------------------------------------------
    def rank(self, prefix: Sequence[str], workflows: Sequence[WorkflowTemplate],
             agent: str | None = None) -> list[Recommendation]:
        """Every workflow in ``workflows`` scored for ``prefix`` (by ``agent``), best first.

        Ties break on frequency, then name, so rankings are deterministic.

        Examples
        --------
        >>> from chainmine.library.model import WorkflowStep as S, WorkflowTemplate as W
        >>> m = NextToolModel(); m.context_totals_ = {(): 4}; m.next_counts_ = {(): {"a": 1}}
        >>> m.frequency_ = {}; m.starts_ = {}
        >>> [r.workflow for r in m.rank([], [W(name="v", steps=[S(id="s", tool_name="b")]),
        ...                                  W(name="w", steps=[S(id="s", tool_name="a")])])]
        ['w', 'v']
        """
        out = [self._recommend(list(prefix), wf, agent) for wf in workflows]
        return sorted(out, key=lambda r: (-r.score, -r.frequency, r.workflow))

    def _recommend(self, prefix: list[str], wf: WorkflowTemplate, agent: str | None) -> Recommendation:
        tools = collapse(wf.tools)
        freq = self.frequency(wf)
        seen = f"seen {freq:,}×"
        start = self.start(prefix, wf, agent)
        started, cont = _begun(collapse(prefix[-self.tail:]), tools), None
        if started:
            cont = self.next_tool(prefix, tools[started], agent)
        if cont is not None and cont.score > start.score:
            reason = (f"already begun ({started} of {len(tools)} steps done): {describe_context(cont.context)}, "
                      f"{tools[started]} follows in {_pct(cont.probability)} of {cont.support:,} cases; {seen}")
            shown = cont
        elif wf.name in self.frequency_:
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
