"""miner: logs in DuckDB -> mined tool chains -> suggested workflows.

Names are imported on first use, so ``import chainmine.miner`` stays cheap.

Examples
--------
>>> from chainmine.miner import ChainMiner
>>> ChainMiner(min_frequency=5).min_frequency
5
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chainmine.miner' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
