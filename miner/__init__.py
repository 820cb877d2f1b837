"""miner: logs in DuckDB -> mined tool chains -> suggested workflows.

Names are imported on first use, so ``import miner`` stays cheap.

Examples
--------
>>> from miner import ChainMiner
>>> ChainMiner(min_frequency=5).min_frequency
5
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # mining and synthesis
    "ChainMiner": "miner.patterns",
    "PatternDetector": "miner.patterns",
    "ToolSequence": "miner.patterns",
    "MineReport": "miner.patterns",
    "mine_store": "miner.patterns",
    "Chain": "miner.chains",
    "MiningParams": "miner.chains",
    "find_chains": "miner.chains",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'miner' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
