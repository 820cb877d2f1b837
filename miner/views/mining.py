"""The Suggestions page's mining call: :class:`miner.patterns.ChainMiner` over a short read-only connection."""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from library.model import WorkflowTemplate
from miner.chains.params import MiningParams
from miner.patterns import ChainMiner
from miner.views.connections import read_connection

MINING_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(MiningParams)}
"""The miner's default thresholds (what ``chainmine mine`` uses), for the form's initial values."""


def mine_suggestions(db: str | os.PathLike, library: str | os.PathLike | None = None,
                     **params: Any) -> list[WorkflowTemplate]:
    """Mine the store for suggested workflows, best first (``params`` as for ``chainmine mine``).

    When ``library`` names an existing library file, its reviewed workflows
    teach the miner how to categorise new ones.

    Examples
    --------
    >>> import tempfile
    >>> from miner.store import connect
    >>> db = Path(tempfile.mkdtemp()) / "t.duckdb"; connect(db).close()
    >>> mine_suggestions(db, min_frequency=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    miner.errors.MiningError: min_frequency must be at least 1, got 0
    """
    known = library if library is not None and Path(library).is_file() else None
    with read_connection(db) as con:
        miner = ChainMiner(**params).fit(con, library=known)
    return list(miner.workflows_)
