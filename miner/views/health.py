"""The Drift page's data: workflow success per time window, and what to run next after some tools."""

from __future__ import annotations

import os
from typing import Sequence

import pandas as pd

from chainmine.library.store import WorkflowLibrary
from chainmine.miner.drift import DriftRow, workflow_drift
from chainmine.miner.recommend import Recommendations, library_workflows, recommend
from chainmine.miner.views.connections import read_connection


def drift_report(db: str | os.PathLike, library: str | os.PathLike, window: str = "week",
                 include_suggested: bool = False, min_occurrences: int = 3,
                 include_runs: bool = False) -> list[DriftRow]:
    """Each library workflow's success rate per window, flagged when the latest window dropped.

    The calls of recorded workflow runs count only with ``include_runs``.

    Raises :class:`~chainmine.miner.errors.MiningError` saying how to fill the library when it has no
    accepted (or suggested) workflows.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> d = Path(tempfile.mkdtemp())
    >>> drift_report(d / "t.duckdb", d / "w.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.MiningError: the workflow library is empty: ...
    """
    workflows = library_workflows(WorkflowLibrary(library), include_suggested=include_suggested)
    with read_connection(db) as con:
        return workflow_drift(con, workflows, window, min_occurrences=min_occurrences, include_runs=include_runs)


def drift_frame(rows: Sequence[DriftRow]) -> pd.DataFrame:
    """Success rate per window and workflow, one column per workflow, for a line chart.

    Examples
    --------
    >>> from datetime import datetime
    >>> from chainmine.miner.drift import DriftWindow
    >>> row = DriftRow("w", "accepted", (DriftWindow(datetime(2026, 1, 5), 4, 3),), 0.75, None, None, False, "")
    >>> drift_frame([row]).to_dict()
    {'w': {Timestamp('2026-01-05 00:00:00'): 0.75}}
    """
    points = [{"window": w.start, "workflow": r.workflow, "success_rate": w.success_rate}
              for r in rows for w in r.windows]
    if not points:
        return pd.DataFrame()
    frame = pd.DataFrame(points).pivot(index="window", columns="workflow", values="success_rate")
    frame.columns.name = None
    return frame


def next_workflows(db: str | os.PathLike, library: str | os.PathLike, tools: Sequence[str], top: int = 5,
                   include_suggested: bool = False, include_runs: bool = False) -> Recommendations:
    """Library workflows most likely to start after ``tools`` (as ``chainmine recommend --tools``).

    The model learns from the calls of recorded workflow runs too only with ``include_runs``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> d = Path(tempfile.mkdtemp())
    >>> next_workflows(d / "t.duckdb", d / "w.json", ["a"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.MiningError: the workflow library is empty: ...
    """
    lib = WorkflowLibrary(library)
    library_workflows(lib, include_suggested=include_suggested)  # explains an empty library before reading logs
    with read_connection(db) as con:
        return recommend(tools, lib, con=con, top=top, include_suggested=include_suggested,
                         include_runs=include_runs)
