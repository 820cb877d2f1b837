"""``chainmine stats``: tools, transitions, variants, errors and time range of the stored calls."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from chainmine.miner.analytics import AnalyticsError, CallFilter, DEFAULT_TOP, parse_time, stats_report
from chainmine.miner.commands.common import db_option, include_runs_option, json_option, output
from chainmine.miner.commands.drift import drift_options, show_drift
from chainmine.miner.ingest import list_rejects
from chainmine.miner.store import connect

MAX_SEQUENCE = 8


def _time_option(end: bool):
    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
        if value is None:
            return None
        try:
            return parse_time(value, end=end)
        except AnalyticsError as exc:
            raise click.BadParameter(str(exc)) from None
    return convert


@click.command("stats")
@db_option
@json_option
@click.option("--top", type=click.IntRange(min=1), default=DEFAULT_TOP, show_default=True,
              help="Rows per table; in --json, variants and errors (tools and transitions are complete).")
@click.option("--since", callback=_time_option(end=False), metavar="ISO",
              help="Only calls starting at or after this time (UTC unless an offset is given).")
@click.option("--until", callback=_time_option(end=True), metavar="ISO",
              help="Only calls starting before this time; a bare date includes that whole day.")
@click.option("--agent", "agents", multiple=True, help="Only calls of this agent (repeatable).")
@click.option("--tool", "tools", multiple=True, help="Only this tool, and transitions/variants touching it (repeatable).")
@click.option("--show-rejects", is_flag=True, help="Also list rows rejected by ingests (source, line, reason).")
@include_runs_option
@drift_options
def stats(db: str | None, as_json: bool, top: int, since: datetime | None, until: datetime | None,
          agents: tuple[str, ...], tools: tuple[str, ...], show_rejects: bool, include_runs: bool, drift: bool,
          window: str, library_path: str | None) -> None:
    """Figures of the stored calls: per tool, transitions, session variants, errors.

    Example: chainmine stats --since 2026-01-10 --agent ci-bot --json
    """
    if drift:
        show_drift(db, library_path, window, as_json, include_runs=include_runs)
        return
    flt = CallFilter(start=since, end=until, agents=agents, tools=tools, include_runs=include_runs)
    con = connect(db, read_only=True)
    try:
        report = stats_report(con, flt, top=top)
        if show_rejects:
            report["reject_rows"] = list_rejects(con, limit=top)
    finally:
        con.close()
    output(report, as_json, lambda data, console: _render(data, console, top))


def _money(value: float | None) -> str:
    return "-" if not value else f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _sequence(tools: list[str]) -> str:
    shown = " → ".join(tools[:MAX_SEQUENCE])
    return shown + (f" … (+{len(tools) - MAX_SEQUENCE})" if len(tools) > MAX_SEQUENCE else "")


def _render(report: dict[str, Any], console: Console, top: int) -> None:
    first, last = report["time_range"]["first"], report["time_range"]["last"]
    span = f"{first} → {last}" if first else "no time stamps"
    console.print(f"[bold]{report['calls']:,}[/bold] calls in [bold]{report['sessions']:,}[/bold] sessions · "
                  f"{len(report['tools'])} tools · {report['success_rate']:.1%} succeeded · "
                  f"cost {_money(report['total_cost'])} · {report['agents']} agents · {span} · "
                  f"{report['rejects']:,} rejected rows")
    flt = report["filter"]
    if any(flt.values()):
        shown = ", ".join(f"{k}={v if not isinstance(v, list) else ','.join(v)}" for k, v in flt.items() if v)
        console.print(f"filter: {shown}")
    if not report["calls"]:
        console.print("no tool calls match: run `chainmine ingest` (or widen the filter)")
        return
    tools = Table("tool", "calls", "sessions", "success", "p50 ms", "p95 ms", "avg cost", "top error",
                  title="Tools (busiest first)")
    for t in report["tools"][:top]:
        error = t["top_errors"][0]["error"] if t["top_errors"] else ""
        tools.add_row(t["tool"], f"{t['calls']:,}", f"{t['sessions']:,}", f"{t['success_rate']:.1%}",
                      _ms(t["p50_ms"]), _ms(t["p95_ms"]), _money(t["avg_cost"]), error)
    _caption(tools, len(report["tools"]) - top, "tools")
    console.print(tools)
    moves = Table("from", "to", "count", "probability", title="Transitions (directly follows)")
    for tr in report["transitions"][:top]:
        moves.add_row(tr["from"], tr["to"], f"{tr['count']:,}", f"{tr['probability']:.1%}")
    _caption(moves, len(report["transitions"]) - top, "transitions")
    console.print(moves)
    variants = Table("sessions", "share", "calls", "sequence", title="Session variants")
    for v in report["variants"]:
        variants.add_row(f"{v['sessions']:,}", f"{v['share']:.1%}", str(v["length"]), _sequence(v["tools"]))
    console.print(variants)
    if report["top_errors"]:
        errors = Table("tool", "error", "count", "share of calls", title="Top errors")
        for e in report["top_errors"]:
            errors.add_row(e["tool"], e["error"], f"{e['count']:,}", f"{e['share']:.1%}")
        console.print(errors)
    if "reject_rows" in report:
        rejects = Table("source", "line", "reason", title="Rejected rows")
        for r in report["reject_rows"]:
            rejects.add_row(str(r["source"]), str(r["line"]), str(r["reason"]))
        console.print(rejects if report["reject_rows"] else "no rejected rows")


def _caption(table: Table, hidden: int, what: str) -> None:
    if hidden > 0:
        table.caption = f"… and {hidden:,} more {what} (raise --top, or use --json)"
