"""Small statistics of the backtest and drift (the Wilson bound is :func:`chainmine.miner.chains.model.wilson_lower`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable


def binomial_tail(successes: int, total: int, rate: float) -> float:
    """P(X ≤ ``successes``) for X ~ Binomial(``total``, ``rate``): how likely so few successes are.

    Parameters
    ----------
    successes, total : int
    rate : float
        Success probability of one trial.

    Examples
    --------
    >>> round(binomial_tail(2, 3, 0.94), 3)    # one failure in three is no surprise
    0.169
    >>> binomial_tail(0, 6, 0.95) < 1e-7
    True

    Notes
    -----
    O(successes), summed in log space so large windows do not underflow.
    """
    if successes >= total or rate <= 0.0:
        return 1.0
    if rate >= 1.0:
        return 0.0
    log_p, log_q = math.log(rate), math.log1p(-rate)
    terms = [math.lgamma(total + 1) - math.lgamma(k + 1) - math.lgamma(total - k + 1) + k * log_p
             + (total - k) * log_q for k in range(successes + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


@dataclass(frozen=True)
class RankingScores:
    """Hit@1, hit@3 and mean reciprocal rank over a set of prediction points.

    Examples
    --------
    >>> RankingScores(points=2, hit_at_1=0.5, hit_at_3=1.0, mrr=0.75).to_dict()["mrr"]
    0.75
    """

    points: int
    hit_at_1: float | None
    hit_at_3: float | None
    mrr: float | None

    def to_dict(self) -> dict:
        """Plain dict for JSON output."""
        return asdict(self)


def ranking_scores(ranks: Iterable[tuple[int | None, int]]) -> RankingScores:
    """Aggregate ``(rank, weight)`` pairs into hit@1, hit@3 and MRR.

    Parameters
    ----------
    ranks : iterable of (rank or None, weight)
        ``rank`` is the 1-based position of the right answer in a ranking
        (``None`` when it was not ranked at all); ``weight`` is how many
        prediction points share that outcome.

    Returns
    -------
    RankingScores
        Figures are ``None`` when there are no points.

    Examples
    --------
    >>> ranking_scores([(1, 2), (3, 1), (None, 1)])
    RankingScores(points=4, hit_at_1=0.5, hit_at_3=0.75, mrr=0.5833333333333334)

    Notes
    -----
    O(n) in the number of pairs.
    """
    points = hit1 = hit3 = 0
    reciprocal = 0.0
    for rank, weight in ranks:
        points += weight
        if rank is None:
            continue
        hit1 += weight if rank <= 1 else 0
        hit3 += weight if rank <= 3 else 0
        reciprocal += weight / rank
    if points == 0:
        return RankingScores(0, None, None, None)
    return RankingScores(points, hit1 / points, hit3 / points, reciprocal / points)
