"""Measuring workflows against logs: occurrence matching and ranking metrics.

:mod:`chainmine.miner.evaluation.occurrences` finds where library or mined workflows
occur in the stored calls (set-wise, in DuckDB); :mod:`chainmine.miner.evaluation.metrics`
holds the small statistics shared by the backtest (:mod:`chainmine.miner.evaluation.backtest`), the
recommender (:mod:`chainmine.miner.recommend`) and drift (:mod:`chainmine.miner.drift`).

Example
-------
>>> from chainmine.miner.evaluation import ranking_scores
>>> ranking_scores([(1, 1), (2, 1)]).mrr
0.75
"""

from chainmine.miner.evaluation.metrics import RankingScores, binomial_tail, ranking_scores
from chainmine.miner.evaluation.occurrences import find_occurrences, match_occurrences, workflow_pattern

__all__ = ["RankingScores", "binomial_tail", "ranking_scores", "find_occurrences",
           "match_occurrences", "workflow_pattern"]
