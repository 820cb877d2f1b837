"""miner: logs in DuckDB -> mined tool chains -> suggested workflows.

Names are imported on first use, so ``import chainmine.miner`` stays cheap.

Examples
--------
>>> from chainmine.miner import ChainMiner
>>> ChainMiner(min_frequency=5).min_frequency
5
"""

from __future__ import annotations

from chainmine.library.lazy import lazy_exports

_EXPORTS = {
    # mining and synthesis
    "ChainMiner": "chainmine.miner.estimator",
    "PatternDetector": "chainmine.miner.estimator",
    "ToolSequence": "chainmine.miner.estimator",
    "MineReport": "chainmine.miner.estimator",
    "mine_store": "chainmine.miner.estimator",
    "Chain": "chainmine.miner.chains",
    "MiningParams": "chainmine.miner.chains",
    "find_chains": "chainmine.miner.chains",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports("chainmine.miner", globals(), {n: (m, n) for n, m in _EXPORTS.items()})
