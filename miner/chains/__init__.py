"""Mining frequent, reliable, cohesive tool chains in DuckDB.

Public API
----------
:func:`find_chains`     the whole selection -> :class:`ChainSearch` (ranked :class:`Chain` records)
:class:`MiningParams`   thresholds and limits, with :data:`RANGES`
:class:`Chain`          one mined chain with its evidence, ``score`` and ``round_trips_saved``
:func:`wilson_lower`, :func:`chain_score`   the figures behind ranking

Examples
--------
>>> MiningParams().max_gap
1
"""

from chainmine.miner.chains.chain_search import ChainSearch
from chainmine.miner.chains.mine import find_chains
from chainmine.miner.chains.model import Chain, chain_score, round_trips_saved, wilson_lower
from chainmine.miner.chains.params import DEFAULT_MAX_GAP, RANGES, MiningParams, describe_range

__all__ = ["Chain", "ChainSearch", "DEFAULT_MAX_GAP", "MiningParams", "RANGES", "chain_score",
           "describe_range", "find_chains", "round_trips_saved", "wilson_lower"]
