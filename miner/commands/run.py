"""``chainmine run NAME --tools ...``: execute an accepted library workflow against real tools.

Live progress goes to stderr (hidden by ``--quiet`` or when stderr is not a
terminal); the result is a table, or the run document with ``--json``. The
exit code is 0 only when the run completed; the result is printed either way.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from chainmine.library.runner.events import Event, EventBus
from chainmine.miner.commands import common
from chainmine.miner.commands.common import (db_option, json_option, library_option, output, quiet_option, show_progress,
                                   stderr_console, trace_options)
from chainmine.miner.run_store import plan_named_workflow, run_named_workflow


def _rate_limits(values: tuple[str, ...]) -> dict[str, float]:
    limits = {}
    for value in values:
        tool, _, rate = value.partition("=")
        try:
            limits[tool.strip()] = float(rate)
        except ValueError:
            raise click.BadParameter(f"{value!r}: use TOOL=CALLS_PER_SECOND, e.g. search=5",
                                     param_hint="--rate-limit") from None
        if not tool.strip() or limits[tool.strip()] <= 0:
            raise click.BadParameter(f"{value!r}: use TOOL=CALLS_PER_SECOND with a rate above 0",
                                     param_hint="--rate-limit")
    return limits


@click.command()
@click.argument("name")
@click.option("--tools", "tools", multiple=True, required=True, metavar="MODULE|FILE.py|'mcp:CMD ARGS'",
              help="Where tools come from: a module path, a .py file, or an MCP server command ('mcp[is_failure=hooks.py]:CMD' to judge its results with your hook). Repeatable.")
@click.option("--input", "input_pairs", multiple=True, metavar="NAME=VALUE",
              help="A workflow input; VALUE is read as JSON when it parses. Repeatable.")
@click.option("--inputs", "inputs_file", type=click.Path(dir_okay=False), default=None,
              help="A JSON file holding an object of inputs (--input values override it).")
@click.option("--dry-run", is_flag=True, help="Show the plan with estimated cost and duration; call nothing.")
@click.option("--budget", type=click.FloatRange(min=0), default=None,
              help="Stop before a step whose estimated cost exceeds what is left.")
@click.option("--resume", "resume", metavar="RUN_ID", default=None,
              help="Finish an interrupted or failed run, reusing the outputs of completed steps.")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=10, show_default=True,
              help="Tool calls in flight at once.")
@click.option("--timeout", "default_timeout", type=click.FloatRange(min=0, min_open=True), default=300.0,
              show_default=True, help="Per-call timeout (s) for steps that set none.")
@click.option("--rate-limit", "rate_limits", multiple=True, metavar="TOOL=CALLS_PER_S",
              help="Limit how often a tool is called. Repeatable.")
@click.option("--allow-unreviewed", is_flag=True, help="Also run workflows that are not accepted yet.")
@click.option("--effects", "effects", type=click.Path(dir_okay=False, exists=True), default=None,
              help="TOML/JSON file mapping tool names or globs to read, write or destructive "
                   "(default: effects.toml or effects.json beside the library).")
@click.option("--yes", "-y", "yes", is_flag=True,
              help="Confirm a workflow with destructive steps without asking (needed when stdin is not a terminal).")
@trace_options
@db_option
@library_option
@json_option
@quiet_option
def run(name, tools, input_pairs, inputs_file, dry_run, budget, resume, max_concurrency, default_timeout,
        rate_limits, allow_unreviewed, effects, yes, trace_file, otlp_endpoint, trace_content, db, library_path,
        as_json, quiet) -> None:
    """Run library workflow NAME, recording the run in the database.

    Example: chainmine run lookup_user_reservations --tools demo_tools.py --input user_id=mia_li_3668
    """
    lib = common.library_path(library_path)
    limits = _rate_limits(rate_limits)
    if dry_run:
        plan = plan_named_workflow(name, tools, lib, effects)
        doc = plan.to_dict()
        if budget is not None:
            doc["budget"] = budget
            doc["within_budget"] = plan.estimated_cost <= budget
        output(doc, as_json, _render_plan)
        return
    events = EventBus()
    progress = _RunProgress(stderr_console()) if show_progress(quiet) else None
    if progress is not None:
        events.subscribe(progress.on_event)
    try:
        result = run_named_workflow(name, tools, library_path=lib, db=db, input_pairs=input_pairs,
                                    inputs_file=inputs_file, budget=budget, resume=resume,
                                    max_concurrency=max_concurrency, allow_unreviewed=allow_unreviewed,
                                    events=events, default_timeout=default_timeout, rate_limits=limits,
                                    effects=effects, confirm=True if yes else _ask if sys.stdin.isatty() else False,
                                    trace_file=trace_file, otlp_endpoint=otlp_endpoint, trace_content=trace_content)
    finally:
        if progress is not None:
            progress.stop()
    output(result.to_dict(), as_json, _render_result)
    if not result.ok:
        sys.exit(1)


def _ask(question: str) -> bool:
    return click.confirm(question, default=False, err=True)


class _RunProgress:
    """Live progress on stderr: a bar over steps plus one line per notable event."""

    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
        self.task = None
        self.running: list[str] = []
        self.progress.start()

    def on_event(self, event: Event) -> None:
        kind, sid, data = event.type, event.step_id, event.data
        if kind == "workflow.started" and self.task is None:
            self.task = self.progress.add_task(f"[bold]{escape(event.workflow)}", total=data.get("steps"))
            return
        if self.task is None or event.run_id.count("."):  # sub-workflow runs show as their parent step
            return
        if kind == "step.started":
            self.running.append(sid)
        elif kind in ("step.completed", "step.failed", "step.skipped"):
            if sid in self.running:
                self.running.remove(sid)
            self.progress.advance(self.task)
            mark = {"step.completed": "[green]✓", "step.failed": "[red]✗", "step.skipped": "[yellow]–"}[kind]
            extra = (f"{data.get('duration_ms', 0):.0f} ms" if kind == "step.completed"
                     else data.get("error") or data.get("reason") or "")
            self.progress.console.print(f"{mark} {escape(sid)}[/] {escape(str(extra))}")
        elif kind == "step.retrying":
            self.progress.console.print(f"[yellow]↻ {escape(sid)} retry {data.get('attempt')} in "
                                        f"{data.get('delay_s')}s: {escape(str(data.get('error')))}")
        elif kind.startswith("compensation."):
            self.progress.console.print(f"[magenta]↶ {escape(sid)} {kind.split('.')[1]}: "
                                        f"{escape(str(data.get('error') or data.get('tool')))}")
        running = ", ".join(self.running[:4]) + ("…" if len(self.running) > 4 else "")
        self.progress.update(self.task, description=f"[bold]{escape(event.workflow)}[/] {escape(running)}")

    def stop(self) -> None:
        self.progress.stop()


def _cost(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _render_result(doc: dict[str, Any], console: Console) -> None:
    table = Table("step", "tool", "status", "attempts", "ms", "cost", "error / note",
                  title=f"run {doc['run_id']} · {doc['workflow']}")
    colour = {"completed": "green", "failed": "red", "skipped": "yellow", "budget_exceeded": "red"}
    for s in doc["steps"]:
        note = s.get("error") or s.get("reason") or ""
        comp = s.get("compensation")
        if comp:
            note = f"{note} (compensation {comp['status']})".strip()
        if s.get("reused"):
            note = f"{note} (reused)".strip()
        status = s["status"]
        table.add_row(escape(s["id"]), escape(s["tool"]), f"[{colour.get(status, 'white')}]{status}",
                      str(s["attempts"]), "-" if s["duration_ms"] is None else f"{s['duration_ms']:.0f}",
                      _cost(s["cost"]), escape(note))
    console.print(table)
    style = "green" if doc["status"] == "completed" else "red"
    console.print(f"[{style}]{doc['status']}[/] in {doc['duration_ms']:.0f} ms · cost {_cost(doc['total_cost'])}"
                  f" · parallel speedup {doc['parallel_speedup']:.2f}×")
    if doc.get("error"):
        console.print(f"[red]error:[/] {escape(doc['error'])}")
    if doc.get("outputs") is not None:
        text = json.dumps(doc["outputs"], indent=2, default=str)
        console.print(escape(text if len(text) < 4000 else text[:4000] + "\n… (use --json for everything)"))
    if doc["status"] not in ("completed",):
        console.print(f"resume with: chainmine run {doc['workflow']} --resume {doc['run_id']} --tools ...")


def _render_plan(doc: dict[str, Any], console: Console) -> None:
    table = Table("step", "tool", "effect", "after", "source", "est. cost", "est. ms", "options",
                  title=f"plan of {doc['workflow']} ({doc['status']}) — nothing is called")
    for s in doc["steps"]:
        options = []
        if s["condition"]:
            options.append(f"if {s['condition']}")
        if s["map_over"]:
            options.append(f"map {s['map_over']}")
        if s["max_retries"]:
            options.append(f"retries {s['max_retries']}")
        if s["fallback_tool"]:
            options.append(f"fallback {s['fallback_tool']}")
        if s["compensation"]:
            options.append(f"undo {s['compensation']}")
        name = f"[bold]{escape(s['id'])}" if s["on_critical_path"] else escape(s["id"])
        cost = _cost(s["cost_estimate"]) + (" /item" if s["map_over"] and s["cost_estimate"] else "")
        table.add_row(name, escape(s["tool"]), escape(str(s.get("effect") or "-")), escape(", ".join(s["depends_on"])), escape(str(s["source"])), cost,
                      "-" if s["duration_estimate_ms"] is None else f"{s['duration_estimate_ms']:.0f}",
                      escape("; ".join(options)))
    console.print(table)
    console.print(f"estimated cost {_cost(doc['estimated_cost'])} · estimated duration "
                  f"{doc['estimated_duration_ms']:.0f} ms along {' → '.join(doc['critical_path'])}")
    if "within_budget" in doc:
        console.print(("within" if doc["within_budget"] else "[red]over[/]") + f" budget {doc['budget']:g}")
    if doc["status"] != "accepted":
        console.print(f"[yellow]note:[/] {doc['workflow']} is {doc['status']}; a real run needs review "
                      "or --allow-unreviewed")
    for note in doc["notes"]:
        console.print(f"note: {escape(note)}")
