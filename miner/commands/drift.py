"""``chainmine stats --drift``: options and output, kept here so ``stats`` only delegates.

Not a command of its own; :mod:`chainmine.miner.commands.stats` adds :func:`drift_options`
and calls :func:`show_drift` when ``--drift`` is given.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from chainmine.library.store import WorkflowLibrary
from chainmine.miner.commands import common
from chainmine.miner.drift import workflow_drift
from chainmine.miner.errors import MiningError
from chainmine.miner.store import connect


def drift_options(func):
    """Add ``--drift``, ``--window`` and ``--library`` to a click command.

    Examples
    --------
    >>> cmd = click.command()(drift_options(lambda drift, window, library_path: None))
    >>> sorted(p.name for p in cmd.params)
    ['drift', 'library_path', 'window']
    """
    func = click.option("--window", default="week", show_default=True, metavar="day|week|N hours",
                        help="Time window of --drift.")(func)
    func = click.option("--drift", is_flag=True,
                        help="Success rate of each library workflow per time window; flag recent drops.")(func)
    return common.library_option(func)


def show_drift(db: str | None, library_path: str | None, window: str, as_json: bool, *,
               include_runs: bool = False) -> None:
    """Compute :func:`chainmine.miner.drift.workflow_drift` for the library's non-rejected workflows and print it.

    Calls of recorded workflow runs count only with ``include_runs``.

    Examples
    --------
    >>> import tempfile, os
    >>> show_drift(None, os.path.join(tempfile.mkdtemp(), "none.json"), "week", True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.MiningError: the workflow library .../none.json is empty: run `chainmine mine --save` to fill it
    """
    path = common.library_path(library_path)
    workflows = [wf for wf in WorkflowLibrary(path).list_all() if wf.status != "rejected"]
    if not workflows:
        raise MiningError(f"the workflow library {path} is empty: run `chainmine mine --save` to fill it")
    con = connect(db, read_only=True)
    try:
        rows = workflow_drift(con, workflows, window, include_runs=include_runs)
    finally:
        con.close()
    common.output([r.to_dict() for r in rows], as_json, _render)


def _render(rows: list[dict], console: Console) -> None:
    table = Table("workflow", "status", "windows", "latest", "before (low)", "", "reason",
                  title="Workflow success rate per window")
    for row in rows:
        rates = " ".join("–" if w["success_rate"] is None else f"{w['success_rate']:.0%}" for w in row["windows"][-6:])
        latest = "–" if row["latest_rate"] is None else f"{row['latest_rate']:.0%}"
        before = "–" if row["earlier_rate"] is None else f"{row['earlier_rate']:.0%} ({row['earlier_low']:.0%})"
        table.add_row(row["workflow"], row["status"], rates, latest, before,
                      "[red]DRIFT[/red]" if row["flagged"] else "", row["reason"])
    console.print(table)
