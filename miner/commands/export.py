"""``chainmine export``: write the store's calls as canonical Parquet for a data lake or Spark."""

from __future__ import annotations

import click
from rich.console import Console

from chainmine.miner.commands.common import db_option, json_option, output
from chainmine.miner.lake.export import ExportReport, export_parquet


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["parquet"]), default="parquet", show_default=True,
              help="File format of the export.")
@click.option("--out", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="New folder to write (Hive-partitioned by day: day=YYYY-MM-DD/).")
@db_option
@json_option
def export(db: str | None, fmt: str, out: str, as_json: bool) -> None:
    """Write every stored call as canonical Parquet, one folder per day.

    Example: chainmine export --format parquet --out lake/calls
    """
    from chainmine.miner.store import connect

    con = connect(db, read_only=True)
    try:
        report = export_parquet(con, out)
    finally:
        con.close()
    output(report.to_json() if as_json else report, as_json, _render)


def _render(report: ExportReport, console: Console) -> None:
    console.print(f"exported {report.calls} calls ({report.days} days, {report.files} files) to {report.out}",
                  highlight=False, soft_wrap=True)
