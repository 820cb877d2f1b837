"""Backtest: mine on the earlier part of the log, measure on the held-out part.

Sessions are split by the time they start (``by="time"``) or by an MD5 hash
of their id (``by="session"``); the first ``split`` share is the training part.
Mining and the recommender's model see only training calls (through a cursor
whose ``calls`` is a view of them); the held-out sessions are then searched set-wise for the
mined workflows (:mod:`chainmine.miner.evaluation.occurrences`) to report

- ``coverage``: share of held-out calls inside an occurrence of a mined workflow;
- ``round_trips_saved``: Σ (calls − 1) over non-overlapping occurrences (an
  occurrence is kept unless an overlapping one is longer);
- ``recurrence``: share of mined workflows that occur again;
- hit@1, hit@3 and MRR of :class:`chainmine.miner.recommend.NextToolModel` at every point
  where a mined workflow starts (any workflow starting there counts as right),
  next to a baseline that always ranks the most frequent workflow first.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import duckdb

from chainmine.miner.chains.params import DEFAULT_MAX_GAP
from chainmine.miner.errors import EmptyStoreError, MiningError
from chainmine.miner.evaluation.metrics import RankingScores, ranking_scores
from chainmine.miner.evaluation.occurrences import MEMBERS, OCCURRENCES, POSITIONS, match_occurrences
from chainmine.miner.evaluation.nexttool import NextToolModel, collapse
from chainmine.miner.origins import calls_where

log = logging.getLogger(__name__)

MIN_SESSIONS = 5
"""Fewest sessions each part of the split must hold."""
SPLIT_ORDER = {"time": "started_at NULLS LAST, session_id", "session": "md5(session_id), session_id"}
"""How sessions are ordered before the first ``split`` share becomes the training part."""


@dataclass(frozen=True)
class BacktestReport:
    """Figures of one backtest; :meth:`to_dict` gives the ``evaluate --json`` document.

    Examples
    --------
    >>> r = BacktestReport(split=0.8, by="time", train={"sessions": 8}, test={"sessions": 2},
    ...                    workflows=0, coverage=0.0, round_trips_saved=0, recurrence=None)
    >>> r.to_dict()["baseline"]
    {'hit_at_1': None, 'hit_at_3': None, 'mrr': None}
    """

    split: float
    by: str
    train: dict[str, int]
    test: dict[str, int]
    workflows: int
    coverage: float
    round_trips_saved: int
    recurrence: float | None
    hit_at_1: float | None = None
    hit_at_3: float | None = None
    mrr: float | None = None
    baseline: dict[str, float | None] = field(
        default_factory=lambda: {"hit_at_1": None, "hit_at_3": None, "mrr": None})
    workflow_names: tuple[str, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (DESIGN shape plus ``workflow_names`` and ``note``)."""
        data = asdict(self)
        data["workflow_names"] = list(self.workflow_names)
        return data


def _sessions_needed(split: float) -> int:
    # a part is n·share rounded, so no n below (MIN - 1) / share can work
    n = max(2 * MIN_SESSIONS, math.floor((MIN_SESSIONS - 1) / min(split, 1 - split)))
    while min(round(n * split), n - round(n * split)) < MIN_SESSIONS:
        n += 1
    return n


def split_sessions(con: duckdb.DuckDBPyConnection, split: float = 0.8, by: str = "time",
                   include_runs: bool = False) -> tuple[int, int]:
    """Create temp table ``cm_split(session_id, part)`` with ``part`` 'train' or 'test'.

    Sessions of recorded workflow runs take part only with ``include_runs``.

    Returns ``(train_sessions, test_sessions)``; raises :class:`MiningError`
    when either part would hold fewer than :data:`MIN_SESSIONS` sessions.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> split_sessions(con, 0.8)
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.EmptyStoreError: the store holds no tool calls: run `chainmine ingest LOGS` first
    """
    if by not in SPLIT_ORDER:
        raise MiningError(f"unknown split {by!r}: use --by time or --by session")
    if not 0 < split < 1:
        raise MiningError(f"--split must be between 0 and 1, e.g. 0.8 (got {split})")
    kept = calls_where(include_runs)
    total = con.execute(f"SELECT count(DISTINCT session_id) FROM calls WHERE {kept}").fetchone()[0]
    if total == 0:
        raise EmptyStoreError("the store holds no tool calls: run `chainmine ingest LOGS` first")
    n_train = round(total * split)
    if min(n_train, total - n_train) < MIN_SESSIONS:
        needed = _sessions_needed(split)
        raise MiningError(f"too little data to split: {total} session(s), but a {split:g} split needs at "
                          f"least {needed} so each part has {MIN_SESSIONS}; ingest more logs or change --split")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE cm_split AS
        SELECT session_id, CASE WHEN row_number() OVER (ORDER BY {SPLIT_ORDER[by]}) <= ?
                                THEN 'train' ELSE 'test' END AS part
        FROM (SELECT session_id, min(ts) AS started_at FROM calls WHERE {kept} GROUP BY session_id)
    """, [n_train])
    con.execute("CREATE OR REPLACE TEMP VIEW cm_test_sessions AS SELECT session_id FROM cm_split WHERE part = 'test'")
    return n_train, total - n_train


def training_connection(con: duckdb.DuckDBPyConnection, split: float, by: str,
                        include_runs: bool = False) -> duckdb.DuckDBPyConnection:
    """A cursor on the same store whose ``calls`` holds only the training sessions.

    A temporary view named ``calls`` on the cursor hides the stored table, so
    the miner and the model (and the ``calls_v``/``sessions`` views) see the
    training part only; the caller's connection is untouched. Close it after use.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("INSERT INTO tools VALUES (1, 'a')")
    >>> _ = con.execute("INSERT INTO calls (id, session_id, tool_id, success) "
    ...                 "SELECT i, 's' || i, 1, true FROM range(10) t(i)")
    >>> train = training_connection(con, 0.5, "session")
    >>> train.execute("SELECT count(*) FROM calls").fetchone()[0], con.execute("SELECT count(*) FROM calls").fetchone()[0]
    (5, 10)
    """
    cursor = con.cursor()
    split_sessions(cursor, split, by, include_runs)
    catalog = cursor.execute("SELECT current_database()").fetchone()[0].replace('"', '""')
    # qualified by catalog: an unqualified or main.calls would name the view itself;
    # rowid is passed through because the miner addresses calls by it
    cursor.execute(f"""
        CREATE OR REPLACE TEMP VIEW calls AS
        SELECT *, rowid FROM "{catalog}".main.calls
        WHERE session_id IN (SELECT session_id FROM cm_split WHERE part = 'train') AND {calls_where(include_runs)}
    """)
    return cursor


def _held_out_figures(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return dict(zip(("calls", "covered", "occurrences", "recurring", "round_trips"), con.execute(f"""
        SELECT (SELECT count(*) FROM {POSITIONS}),
               (SELECT count(*) FROM (SELECT DISTINCT p.session_id, p.pos FROM {POSITIONS} p
                  JOIN {OCCURRENCES} o ON p.session_id = o.session_id AND p.pos BETWEEN o.start_pos AND o.end_pos
                  JOIN {MEMBERS} w ON w.wf_index = o.wf_index AND w.tool_id = p.tool_id)),
               (SELECT count(*) FROM {OCCURRENCES}),
               (SELECT count(DISTINCT wf_index) FROM {OCCURRENCES}),
               (SELECT coalesce(sum(o.calls - 1), 0) FROM {OCCURRENCES} o WHERE NOT EXISTS (
                  SELECT 1 FROM {OCCURRENCES} b
                  WHERE b.session_id = o.session_id AND b.start_pos <= o.end_pos AND o.start_pos <= b.end_pos
                    AND (b.calls > o.calls OR (b.calls = o.calls AND (b.start_pos < o.start_pos
                         OR (b.start_pos = o.start_pos AND b.wf_index < o.wf_index))))))
    """).fetchone()))


def _start_points(con: duckdb.DuckDBPyConnection, window: int) -> list[tuple[list[int], str | None, list[str], int]]:
    """(last ``window`` tool ids before the start, agent, workflows starting there, how many such points)."""
    return con.execute(f"""
        WITH starts AS (
            SELECT session_id, start_pos, list_sort(list_distinct(list(workflow))) AS targets
            FROM {OCCURRENCES} GROUP BY ALL
        ), tails AS (
            SELECT session_id, pos, agent,
                   coalesce(list(tool_id) OVER (PARTITION BY session_id ORDER BY pos
                            ROWS BETWEEN {int(window)} PRECEDING AND 1 PRECEDING), []) AS tail
            FROM {POSITIONS}
        )
        SELECT t.tail, t.agent, s.targets, count(*) FROM starts s
        JOIN tails t ON t.session_id = s.session_id AND t.pos = s.start_pos
        GROUP BY ALL ORDER BY ALL
    """).fetchall()


def rank_start_points(con: duckdb.DuckDBPyConnection, model: NextToolModel,
                      workflows: list) -> tuple[RankingScores, RankingScores]:
    """Hit@1/3 and MRR of ``model`` and of the most-frequent-first baseline.

    Uses the temp tables of :func:`match_occurrences` (held-out sessions).
    Start points are grouped by what the ranking depends on, so the model
    ranks each distinct state once.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> m = NextToolModel(); m.context_totals_ = {}; m.next_counts_ = {}; m.frequency_ = {}; m.starts_ = {}
    >>> _ = match_occurrences(con, [])
    >>> rank_start_points(con, m, [])[0].points
    0

    Notes
    -----
    O(p) SQL over held-out calls, plus O(d · w) Python for ``d`` distinct
    states and ``w`` workflows.
    """
    names = dict(con.execute("SELECT tool_id, tool FROM tools").fetchall())
    horizon = max([len(collapse(wf.tools)) - 1 for wf in workflows] + [1])
    baseline = {wf.name: i + 1 for i, wf in enumerate(
        sorted(workflows, key=lambda wf: (-model.frequency(wf), wf.name)))}
    cache: dict[tuple, dict[str, int]] = {}
    model_ranks, baseline_ranks = [], []
    for tail_ids, agent, targets, n in _start_points(con, max(model.order, model.tail)):
        tail = [names[i] for i in tail_ids]
        key = model.state(tail, horizon, agent)
        if key not in cache:
            cache[key] = {r.workflow: i + 1 for i, r in enumerate(model.rank(tail, workflows, agent))}
        model_ranks.append((min(cache[key][t] for t in targets), n))
        baseline_ranks.append((min(baseline[t] for t in targets), n))
    log.debug("ranked %d distinct states", len(cache))
    return ranking_scores(model_ranks), ranking_scores(baseline_ranks)


def backtest(con: duckdb.DuckDBPyConnection, *, split: float = 0.8, by: str = "time",
             miner_options: Mapping[str, Any] | None = None, miner: Any = None,
             model: NextToolModel | None = None, max_gap: int | None = None,
             include_runs: bool = False) -> BacktestReport:
    """Mine on the training part of the sessions and measure the workflows on the rest.

    Parameters
    ----------
    con : DuckDB connection to a chainmine store (read-only is fine).
    split : float
        Share of sessions used for training, in (0, 1).
    by : {"time", "session"}
        Split on session start time, or on a hash of the session id.
    miner_options : mapping, optional
        Keyword arguments for :class:`chainmine.miner.estimator.ChainMiner`.
    miner : estimator, optional
        Anything with ``fit(con)`` and ``workflows_`` (overrides ``miner_options``).
    model : NextToolModel, optional
        Unfitted recommender model (default parameters otherwise).
    max_gap : int, optional
        Unrelated calls allowed inside a held-out occurrence; default the
        mining ``max_gap`` (so held-out occurrences are counted as mined ones).
    include_runs : bool
        Also use the calls of recorded workflow runs, in both parts (left out by default).

    Returns
    -------
    BacktestReport

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> backtest(con)
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.EmptyStoreError: the store holds no tool calls: run `chainmine ingest LOGS` first

    Notes
    -----
    Dominated by mining; matching is O(n · w) in DuckDB over held-out calls.
    Deterministic for the same data and options.
    """
    n_train, n_test = split_sessions(con, split, by, include_runs)
    if max_gap is None:
        max_gap = int(dict(miner_options or {}).get("max_gap", DEFAULT_MAX_GAP))
    train = training_connection(con, split, by, include_runs)
    try:
        if miner is None:
            from chainmine.miner.estimator import ChainMiner  # imported late: mining is heavy and optional here
            miner = ChainMiner(**{"include_runs": include_runs, **dict(miner_options or {})})
        workflows = list(miner.fit(train).workflows_)
        train_calls = train.execute("SELECT count(*) FROM calls").fetchone()[0]
        model = (model or NextToolModel(max_gap=max_gap, include_runs=include_runs)).fit(train, workflows)
    finally:
        train.close()
    match_occurrences(con, workflows, sessions="cm_test_sessions", max_gap=max_gap, include_runs=include_runs)
    figures = _held_out_figures(con)
    train_counts = {"sessions": n_train, "calls": train_calls}
    test_counts = {"sessions": n_test, "calls": figures["calls"], "occurrences": figures["occurrences"]}
    coverage = figures["covered"] / figures["calls"] if figures["calls"] else 0.0
    if not workflows:
        return BacktestReport(split, by, train_counts, {**test_counts, "start_points": 0}, 0, coverage, 0, None,
                              note="no workflows were mined from the training part: lower --min-frequency "
                                   "or ingest more logs")
    scores, base = rank_start_points(con, model, workflows)
    return BacktestReport(
        split=split, by=by, train=train_counts, test={**test_counts, "start_points": scores.points},
        workflows=len(workflows), coverage=coverage, round_trips_saved=int(figures["round_trips"]),
        recurrence=figures["recurring"] / len(workflows),
        hit_at_1=scores.hit_at_1, hit_at_3=scores.hit_at_3, mrr=scores.mrr,
        baseline={"hit_at_1": base.hit_at_1, "hit_at_3": base.hit_at_3, "mrr": base.mrr},
        workflow_names=tuple(wf.name for wf in workflows))
