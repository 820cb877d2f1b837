"""``chainmine evaluate``: backtest mining and recommendation on held-out sessions."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from chainmine.miner.chains.params import RANGES
from chainmine.miner.commands.common import db_option, include_runs_option, json_option, output
from chainmine.miner.evaluation.backtest import backtest
from chainmine.miner.store import connect

# mining thresholds passed through to the miner when given (None: the miner's default)
MINING_OPTIONS = [
    ("min_frequency", "Occurrences a chain needs."),
    ("min_sessions", "Distinct sessions a chain needs."),
    ("min_success_rate", "Share of occurrences in which every call succeeded."),
    ("min_success_low", "Minimum Wilson lower bound of the success rate."),
    ("min_confidence", "Cohesion every junction needs unless data flows across it."),
    ("min_length", "Fewest steps in a chain."),
    ("max_length", "Most steps in a chain."),
    ("max_gap", "Unrelated calls allowed between two steps (also when matching held-out calls)."),
    ("closure", "Drop a chain when a longer one containing it has this share of its occurrences."),
]


def _range_type(name: str) -> click.ParamType:
    low, high = RANGES[name]
    if isinstance(low, int) and (high is None or isinstance(high, int)):
        return click.IntRange(min=low, max=high)
    return click.FloatRange(min=low, max=high)


def _mining_options(func):
    """Add the miner's threshold options (same names and ranges as ``chainmine mine``)."""
    for name, text in reversed(MINING_OPTIONS):
        func = click.option("--" + name.replace("_", "-"), name, type=_range_type(name), default=None,
                            help=f"Mining: {text}")(func)
    return func


@click.command()
@click.option("--split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.8,
              show_default=True, help="Share of sessions to mine on; the rest is held out.")
@click.option("--by", type=click.Choice(["time", "session"]), default="time", show_default=True,
              help="Split on session start time, or on a hash of the session id.")
@_mining_options
@include_runs_option
@db_option
@json_option
def evaluate(split, by, include_runs, db, as_json, **mining) -> None:
    """Mine on the earlier sessions, then measure coverage, recurrence and recommendations on the rest.

    Example: chainmine evaluate --split 0.8 --by time --min-frequency 5
    """
    options = {k: v for k, v in mining.items() if v is not None}
    con = connect(db, read_only=True)
    try:
        report = backtest(con, split=split, by=by, miner_options=options, include_runs=include_runs)
    finally:
        con.close()
    if report.note:
        click.echo(f"note: {report.note}", err=True)
    output(report.to_dict(), as_json, _render)


def _figure(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _render(data: dict, console: Console) -> None:
    train, test = data["train"], data["test"]
    summary = Table("", "training", "held out", title=f"Backtest ({data['by']} split {data['split']:g})")
    summary.add_row("sessions", f"{train['sessions']:,}", f"{test['sessions']:,}")
    summary.add_row("calls", f"{train['calls']:,}", f"{test['calls']:,}")
    summary.add_row("workflows mined / recurring", str(data["workflows"]),
                    "–" if data["recurrence"] is None else f"{data['recurrence']:.0%}")
    summary.add_row("occurrences / start points", "", f"{test['occurrences']:,} / {test['start_points']:,}")
    summary.add_row("coverage of calls", "", f"{data['coverage']:.1%}")
    summary.add_row("model round-trips saved", "", f"{data['round_trips_saved']:,}")
    console.print(summary)
    ranks = Table("next-workflow recommendation", "model", "baseline (most frequent)")
    for key, label in (("hit_at_1", "hit@1"), ("hit_at_3", "hit@3"), ("mrr", "MRR")):
        ranks.add_row(label, _figure(data[key]), _figure(data["baseline"][key]))
    console.print(ranks)
