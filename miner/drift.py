"""Drift: each workflow's success rate per time window, flagging a recent drop.

Occurrences of the workflows are found in the stored calls
(:mod:`chainmine.miner.evaluation.occurrences`); an occurrence succeeds when all its calls
did, and belongs to the window holding its first call. The *latest* window is
the one holding the newest logged call in the store
(calls of recorded workflow runs count only with ``include_runs``). A workflow is flagged when its
success rate in the latest window falls below the lower Wilson bound of its
earlier windows combined, and the drop is clear on the latest side too: so few
successes would happen with probability below ``alpha`` even if the workflow
still succeeded at that pessimistic earlier rate (binomial tail). Without the
second test one failure among three calls in a quiet window (67 %) would fall
below a tight earlier bound (say 94 %) and cry wolf. Both sides also need
``min_occurrences`` occurrences.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Sequence

import duckdb

from chainmine.library.model import WorkflowTemplate
from chainmine.miner.chains.params import DEFAULT_MAX_GAP
from chainmine.miner.errors import MiningError
from chainmine.miner.chains.model import wilson_lower
from chainmine.miner.evaluation.metrics import binomial_tail
from chainmine.miner.evaluation.occurrences import OCCURRENCES, match_occurrences
from chainmine.miner.origins import calls_where

log = logging.getLogger(__name__)

_HOURS_RE = re.compile(r"^\s*(\d+)\s*(h|hr|hrs|hour|hours)?\s*$", re.IGNORECASE)
_BUCKETS = {
    "day": "date_trunc('day', {ts})",
    "week": "date_trunc('week', {ts})",
    "hours": "time_bucket(to_hours(CAST(? AS BIGINT)), {ts})",
}


def parse_window(window: str | int) -> tuple[str, int]:
    """``"day"``, ``"week"``, or a number of hours (``6``, ``"6 hours"``, ``"6h"``) → ``(kind, hours)``.

    Examples
    --------
    >>> parse_window("week"), parse_window("6 hours"), parse_window(12)
    (('week', 168), ('hours', 6), ('hours', 12))
    >>> parse_window("fortnight")
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.MiningError: unknown window 'fortnight': use day, week or a number of hours such as '6 hours'
    """
    text = str(window).strip().lower()
    if text in ("day", "daily", "1 day"):
        return "day", 24
    if text in ("week", "weekly", "1 week"):
        return "week", 168
    m = _HOURS_RE.match(text)
    if m and int(m.group(1)) > 0:
        return "hours", int(m.group(1))
    raise MiningError(f"unknown window {window!r}: use day, week or a number of hours such as '6 hours'")


@dataclass(frozen=True)
class DriftWindow:
    """Occurrences and successes of one workflow in one time window.

    Examples
    --------
    >>> DriftWindow(datetime(2026, 1, 5), 10, 9).success_rate
    0.9
    """

    start: datetime
    occurrences: int
    successes: int

    @property
    def success_rate(self) -> float | None:
        """Successes / occurrences (``None`` when there were none)."""
        return self.successes / self.occurrences if self.occurrences else None


@dataclass(frozen=True)
class DriftRow:
    """One workflow's windows, the latest rate against the earlier Wilson bound, and the flag.

    Examples
    --------
    >>> row = DriftRow("w", "accepted", (), None, None, None, False, "no occurrences")
    >>> row.to_dict()["windows"]
    []
    """

    workflow: str
    status: str
    windows: tuple[DriftWindow, ...]
    latest_rate: float | None
    earlier_rate: float | None
    earlier_low: float | None
    flagged: bool
    reason: str
    chance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; each window gets its ``success_rate``."""
        data = asdict(self)
        data["windows"] = [{**asdict(w), "start": w.start.isoformat(), "success_rate": w.success_rate}
                           for w in self.windows]
        return data


def _judge(name: str, status: str, windows: list[DriftWindow], latest: datetime | None,
           min_occurrences: int, z: float, alpha: float) -> DriftRow:
    last = windows[-1] if windows and windows[-1].start == latest else None
    earlier = [w for w in windows if w is not last]
    n_before = sum(w.occurrences for w in earlier)
    ok_before = sum(w.successes for w in earlier)
    rate_before = ok_before / n_before if n_before else None
    low = wilson_lower(ok_before, n_before, z) if n_before else None
    rate = last.success_rate if last else None
    chance = binomial_tail(last.successes, last.occurrences, low) if last and low is not None else None
    flagged = False
    if not windows:
        reason = "no occurrences in the logs"
    elif last is None:
        reason = "no occurrences in the latest window"
    elif n_before < min_occurrences:
        reason = f"too few earlier occurrences to compare ({n_before}; need {min_occurrences})"
    elif last.occurrences < min_occurrences:
        reason = f"too few occurrences in the latest window ({last.occurrences}; need {min_occurrences})"
    else:
        flagged = rate < low and chance < alpha
        latest = f"{rate:.0%} ({last.successes} of {last.occurrences}) in the latest window"
        before = f"{rate_before:.0%} ({ok_before} of {n_before}) before"
        if flagged:
            reason = (f"dropped: {latest} vs {before}, lower bound {low:.0%}; "
                      f"chance of so few successes {chance:.2g}")
        elif rate < low:
            reason = (f"dip within noise: {latest} is below the earlier lower bound {low:.0%}, "
                      f"but happens by chance {chance:.0%} of the time; {before}")
        else:
            reason = f"steady: {latest} vs {before}, lower bound {low:.0%}"
    return DriftRow(name, status, tuple(windows), rate, rate_before, low, flagged, reason, chance)


def workflow_drift(con: duckdb.DuckDBPyConnection, workflows: Sequence[WorkflowTemplate],
                   window: str | int = "week", *, min_occurrences: int = 3, z: float = 1.96,
                   alpha: float = 0.01, max_gap: int = DEFAULT_MAX_GAP,
                   include_runs: bool = False) -> list[DriftRow]:
    """Success rate of each workflow per time window; flag a drop in the latest window.

    Parameters
    ----------
    con : DuckDB connection to a chainmine store.
    workflows : sequence of WorkflowTemplate
        Typically the library's accepted and suggested workflows.
    window : str or int
        ``"day"``, ``"week"`` or a number of hours (``"6 hours"``).
    min_occurrences : int
        Occurrences needed both in the latest window and before it to judge.
    z : float
        Normal quantile of the Wilson bound (1.96: 95 %).
    alpha : float
        How unlikely the latest successes must be at the earlier lower-bound
        rate before a drop counts as drift.
    max_gap : int
        Unrelated calls allowed between two steps of an occurrence.
    include_runs : bool
        Also the calls of recorded workflow runs; left out by default, so the
        latest window is not the user's own test runs.

    Returns
    -------
    list of DriftRow
        In the order of ``workflows``.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> from chainmine.library.model import WorkflowStep as S, WorkflowTemplate as W
    >>> con = duckdb.connect(); init_schema(con)
    >>> [r.reason for r in workflow_drift(con, [W(name="w", steps=[S(id="a", tool_name="a")])])]
    ['no occurrences in the logs']

    Notes
    -----
    Occurrence matching is O(n · w) in DuckDB for ``n`` calls and ``w``
    workflows; the per-window counts are one GROUP BY.
    """
    kind, hours = parse_window(window)
    bucket = _BUCKETS[kind]
    params = [hours] if kind == "hours" else []
    match_occurrences(con, workflows, max_gap=max_gap, include_runs=include_runs)
    latest = con.execute(f"SELECT {bucket.format(ts='max(ts)')} FROM calls WHERE {calls_where(include_runs)}",
                         params).fetchone()[0]
    rows = con.execute(f"""
        SELECT wf_index, {bucket.format(ts='started_at')} AS start, count(*) AS n, count_if(succeeded) AS ok
        FROM {OCCURRENCES} WHERE started_at IS NOT NULL
        GROUP BY ALL ORDER BY wf_index, start
    """, params).fetchall()
    per_workflow: dict[int, list[DriftWindow]] = {}
    for index, start, n, ok in rows:
        per_workflow.setdefault(index, []).append(DriftWindow(start, n, ok))
    log.debug("drift: %d windows over %d workflows, latest %s", len(rows), len(workflows), latest)
    return [_judge(wf.name, wf.status, per_workflow.get(i, []), latest, min_occurrences, z, alpha)
            for i, wf in enumerate(workflows)]
