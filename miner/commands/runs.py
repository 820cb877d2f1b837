"""``chainmine runs list|show``: recorded workflow runs."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chainmine.library.runner.recorder import RUN_STATUSES
from chainmine.miner.commands.common import db_option, json_option, output
from chainmine.miner.run_store import get_run, list_runs
from chainmine.miner.store import connect


@click.group()
def runs() -> None:
    """Inspect recorded workflow runs.

    Example: chainmine runs list --status failed
    """


@runs.command("list")
@click.option("--workflow", default=None, help="Only runs of this workflow.")
@click.option("--status", type=click.Choice(RUN_STATUSES), default=None, help="Only runs with this status.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="How many to show.")
@db_option
@json_option
def list_command(workflow, status, limit, db, as_json) -> None:
    """Recent runs, newest first.

    Example: chainmine runs list --workflow lookup_user_reservations --status failed
    """
    con = connect(db, read_only=True)
    try:
        rows = list_runs(con, workflow=workflow, status=status, limit=limit)
    finally:
        con.close()
    output(rows, as_json, _render_list)


@runs.command("show")
@click.argument("run_id")
@db_option
@json_option
def show_command(run_id, db, as_json) -> None:
    """One run with its steps.

    Example: chainmine runs show 3f9c2a7d1b0e4c55 --json
    """
    con = connect(db, read_only=True)
    try:
        doc = get_run(con, run_id)
    finally:
        con.close()
    output(doc, as_json, _render_show)


def _render_list(rows: list[dict[str, Any]], console: Console) -> None:
    if not rows:
        console.print("no runs recorded yet (chainmine run NAME --tools ...)")
        return
    table = Table("run", "workflow", "status", "started", "ms", "cost", "steps ok/failed/all", "error")
    for r in rows:
        table.add_row(r["run_id"], escape(r["workflow"]), r["status"], str(r["started_at"] or "-"),
                      "-" if r["duration_ms"] is None else f"{r['duration_ms']:.0f}",
                      f"{r['total_cost'] or 0:.4g}", f"{r['completed']}/{r['failed']}/{r['steps']}",
                      escape((r["error"] or "")[:80]))
    console.print(table)


def _render_show(doc: dict[str, Any], console: Console) -> None:
    console.print(f"[bold]run {doc['run_id']}[/] · {escape(doc['workflow'])} v{doc['workflow_version']} · "
                  f"{doc['status']} · {doc['calls']} tool calls · cost {doc['total_cost'] or 0:.4g}")
    if doc["error"]:
        console.print(f"[red]error:[/] {escape(doc['error'])}")
    table = Table("step", "tool", "status", "attempts", "started", "ms", "cost", "error / result")
    for s in doc["steps"]:
        shown = s["error"] or json.dumps(s["result"], default=str)
        table.add_row(escape(s["id"]), escape(s["tool"] or ""), s["status"], str(s["attempts"]),
                      str(s["started_at"] or "-"), "-" if s["duration_ms"] is None else f"{s['duration_ms']:.0f}",
                      "-" if s["cost"] is None else f"{s['cost']:.4g}", escape(shown[:100]))
    console.print(table)
    console.print("inputs: " + escape(json.dumps(doc["inputs"], default=str)))
    if doc["outputs"] is not None:
        console.print("outputs: " + escape(json.dumps(doc["outputs"], default=str)[:2000]))
