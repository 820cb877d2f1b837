"""``chainmine generate``: synthetic logs with planted workflows, plus their ground truth."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from chainmine.miner.commands.common import json_option, output, quiet_option, show_progress, stderr_console
from chainmine.miner.generate import DEFAULT_SCENARIO, DEFAULT_SEED, DEFAULT_SESSIONS, SCENARIOS, generate_logs
from chainmine.miner.generate.writer import FORMATS


@click.command("generate")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False),
              help="Log file to write: .jsonl, .csv (either may end .gz) or .parquet.")
@click.option("--sessions", "-n", type=click.IntRange(min=1), default=DEFAULT_SESSIONS, show_default=True,
              help="Number of sessions.")
@click.option("--seed", type=click.IntRange(min=0), default=DEFAULT_SEED, show_default=True,
              help="Random seed (same seed, same bytes).")
@click.option("--scenario", type=click.Choice(sorted(SCENARIOS)), default=DEFAULT_SCENARIO, show_default=True,
              help="Agent domains to simulate (mixed = all).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format (default: from the file name).")
@click.option("--truth", type=click.Path(dir_okay=False), default=None,
              help="Ground-truth file (default: <out without suffix>.truth.json).")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=None,
              help="Processes making batches (default: 2 from 50,000 sessions on a multi-core machine, "
                   "else 1); the output is the same for any number.")
@json_option
@quiet_option
def generate(out: str, sessions: int, seed: int, scenario: str, fmt: str | None, truth: str | None,
             workers: int | None, as_json: bool, quiet: bool) -> None:
    """Write synthetic agent tool-call logs with planted workflows, noise and failures.

    Example: chainmine generate --out logs.jsonl --sessions 2000 --seed 7
    """
    if show_progress(quiet):
        columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=stderr_console(), transient=True) as bar:
            task = bar.add_task("sessions", total=sessions)
            report = generate_logs(out, sessions=sessions, seed=seed, scenario=scenario, format=fmt, truth=truth,
                                   workers=workers, progress=lambda done, total: bar.update(task, completed=done))
    else:
        report = generate_logs(out, sessions=sessions, seed=seed, scenario=scenario, format=fmt, truth=truth,
                               workers=workers)
    output(report.to_dict(), as_json, _render)


def _render(data: dict[str, Any], console: Console) -> None:
    table = Table(title=f"planted workflows ({data['scenario']}, seed {data['seed']})")
    for column in ("workflow", "tools", "occurrences", "sessions", "success", "reliable"):
        table.add_column(column, justify="right" if column in ("occurrences", "sessions", "success") else "left")
    for w in data["planted"]:
        rate = "-" if w["success_rate"] is None else f"{w['success_rate']:.0%}"
        table.add_row(w["name"], " → ".join(w["tools"]), f"{w['occurrences']:,}", f"{w['sessions']:,}", rate,
                      "yes" if w["reliable"] else "no")
    console.print(table)
    console.print(f"wrote {data['calls']:,} calls in {data['sessions']:,} sessions to {data['path']} "
                  f"({data['format']}, {data['seconds']:.1f}s); {data['workflows']} workflows planted, "
                  f"{data['occurrences']:,} occurrences")
    console.print(f"ground truth: {data['truth_path']}")
