"""``chainmine demo``: generate → ingest → mine → save → accept → run, and say where to look next."""

from __future__ import annotations

import shlex
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from chainmine.miner.commands.common import json_option, output, quiet_option, show_progress, stderr_console
from chainmine.miner.demo import run_demo


@click.command()
@click.option("--dir", "folder", type=click.Path(file_okay=False), default="chainmine-demo", show_default=True,
              help="Folder for the demo's logs, database and library.")
@click.option("--sessions", type=click.IntRange(50, 1_000_000), default=3000, show_default=True,
              help="How many agent sessions to generate.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed for the generated logs.")
@json_option
@quiet_option
def demo(folder: str, sessions: int, seed: int, as_json: bool, quiet: bool) -> None:
    """Run chainmine end to end on generated agent logs."""
    err = stderr_console()
    progress = show_progress(quiet)
    status = err.status("starting") if progress else None
    if status is not None:
        status.start()

    def stage(label: str) -> None:
        if status is not None:
            status.update(label + "…")

    try:
        report = run_demo(folder, sessions=sessions, seed=seed, stage=stage)
    finally:
        if status is not None:
            status.stop()
    output(report.to_dict(), as_json, _render)


def _render(doc: dict[str, Any], console: Console) -> None:
    gen, ing, saved, run = doc["generated"], doc["ingested"], doc["saved"], doc["run"]
    if gen.get("reused"):
        console.print(f"[bold]1. Logs[/]      reusing {escape(doc['logs'])}")
    else:
        console.print(f"[bold]1. Logs[/]      generated {gen['calls']:,} tool calls in {gen['sessions']:,} agent "
                      f"sessions with {gen['workflows']} planted workflows → {escape(doc['logs'])}")
    console.print(f"[bold]2. Ingest[/]    {ing['accepted']:,} calls stored, {ing['duplicates']:,} duplicates, "
                  f"{ing['rejected']:,} rejected, {ing['sessions']:,} sessions → {escape(doc['db'])}")
    console.print(f"[bold]3. Mine[/]      {len(doc['mined'])} workflows suggested (best first):")
    table = Table("#", "workflow", "steps", "seen", "sessions", "success", box=None, pad_edge=False)
    for i, wf in enumerate(doc["mined"][:8], 1):
        steps = " → ".join(t + (" ×N" if t in wf["map_tools"] else "") for t in wf["tools"])
        rate = "-" if wf["success_rate"] is None else f"{wf['success_rate']:.0%}"
        table.add_row(str(i), escape(wf["name"]), escape(steps), f"{wf['frequency']:,}", f"{wf['sessions']:,}", rate)
    console.print(table)
    console.print(f"[bold]4. Library[/]   {saved.get('added', 0)} added, {saved.get('updated', 0)} updated "
                  f"→ {escape(doc['library'])}; accepted [bold]{escape(doc['accepted'])}[/]")
    colour = "green" if run.get("status") == "completed" else "red"
    console.print(f"[bold]5. Run[/]       {escape(doc['accepted'])}({escape(_args(doc['inputs']))}) → "
                  f"[{colour}]{run.get('status')}[/] in {run.get('duration_ms', 0):.0f} ms, "
                  f"{len(run.get('steps', []))} steps, run id {run.get('run_id')}")
    mapped = {t for wf in doc["mined"] if wf["name"] == doc["accepted"] for t in wf["map_tools"]}
    for step in run.get("steps", []):
        mark = "✓" if step["status"] == "completed" else "✗" if step["status"] == "failed" else "–"
        items = step.get("result") if step.get("tool") in mapped else None
        extra = f" over {len(items)} items" if isinstance(items, list) else ""
        console.print(f"     {mark} {escape(step['id'])}{extra} {step['status']}, {step.get('attempts', 0)} attempt(s)"
                      + (f": {escape(str(step['error']))}" if step.get("error") else ""))
    flags = f"--db {doc['db']} --library {doc['library']}"
    console.print(Panel.fit(
        "\n".join([
            f"chainmine stats --db {doc['db']}",
            f"chainmine library list --library {doc['library']}",
            f"chainmine library show {doc['accepted']} --library {doc['library']}",
            f"chainmine run {doc['accepted']} --tools chainmine.miner.generate.tools {flags} "
            + " ".join("--input " + shlex.quote(f"{k}={v}") for k, v in doc["inputs"].items()),
            f"chainmine runs list --db {doc['db']}",
            f"chainmine dashboard {flags} --tools chainmine.miner.generate.tools",
        ]), title="where to look next", border_style="cyan"))


def _args(inputs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in inputs.items())
