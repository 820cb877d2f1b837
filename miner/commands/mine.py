"""``chainmine mine``: find recurring, reliable tool chains and suggest them as workflows."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import click
from rich.console import Console
from rich.table import Table

from chainmine.miner.chains.params import DEFAULT_MAX_GAP, RANGES
from chainmine.library.effects import overrides_beside
from chainmine.miner.commands.common import db_option, json_option, library_option, output, quiet_option, show_progress
from chainmine.miner.commands.common import library_path as resolve_library
from chainmine.miner.commands.common import stderr_console
from chainmine.miner.estimator import MineReport, mine_store


def _int_range(name: str) -> click.IntRange:
    low, high = RANGES[name]
    return click.IntRange(min=low, max=high)


def _float_range(name: str) -> click.FloatRange:
    low, high = RANGES[name]
    return click.FloatRange(min=low, max=high)


@contextlib.contextmanager
def _spinner(quiet: bool) -> Iterator[None]:
    if not show_progress(quiet):
        yield
        return
    with stderr_console().status("mining tool chains ..."):
        yield


@click.command("mine")
@click.option("--min-frequency", type=_int_range("min_frequency"), default=3, show_default=True, metavar="N",
              help="Occurrences a chain needs.")
@click.option("--min-sessions", type=_int_range("min_sessions"), default=2, show_default=True, metavar="N",
              help="Distinct sessions a chain needs.")
@click.option("--min-success-rate", type=_float_range("min_success_rate"), default=0.8, show_default=True,
              metavar="R", help="Share of occurrences in which every call succeeded.")
@click.option("--min-success-low", type=_float_range("min_success_low"), default=0.0, show_default=True,
              metavar="R", help="Minimum Wilson 95% lower bound of the success rate.")
@click.option("--min-confidence", type=_float_range("min_confidence"), default=0.5, show_default=True,
              metavar="C", help="Cohesion every junction needs unless data flows across it.")
@click.option("--min-length", type=_int_range("min_length"), default=2, show_default=True, metavar="N",
              help="Fewest steps in a chain.")
@click.option("--max-length", type=_int_range("max_length"), default=6, show_default=True, metavar="L",
              help="Most steps in a chain.")
@click.option("--max-gap", type=_int_range("max_gap"), default=DEFAULT_MAX_GAP, show_default=True, metavar="G",
              help="Unrelated calls allowed between two steps of an occurrence.")
@click.option("--closure", type=_float_range("closure"), default=0.9, show_default=True, metavar="F",
              help="Drop a chain when a longer one containing it has this share of its occurrences.")
@click.option("--all", "keep_all", is_flag=True, help="Keep chains contained in longer ones (no closure).")
@click.option("--sample", "sample_size", type=_int_range("sample_size"), default=200, show_default=True,
              metavar="K", help="Occurrences sampled per chain to infer its dataflow.")
@click.option("--top", type=_int_range("top"), default=None, metavar="N", help="Only the N best workflows.")
@click.option("--min-one-call", type=_float_range("min_one_call"), default=0.5, show_default=True, metavar="R",
              help="Share of occurrences an agent could have made as one call (inputs known when the chain starts).")
@click.option("--min-outcome", type=_float_range("min_outcome"), default=0.0, show_default=True, metavar="R",
              help="Share of occurrences in sessions whose outcome or reward is a success (logs that have one).")
@click.option("--effects", "effects_path", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Side-effect classes for tools (TOML/JSON: name or glob = read|write|destructive); "
                   "default: effects.toml or effects.json beside the library.")
@click.option("--save", is_flag=True, help="Merge the workflows into the library as suggested.")
@click.option("--include-runs", is_flag=True, help="Also mine the calls of recorded workflow runs (left out by default).")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb", show_default=True,
              help="Where the chain search runs: the DuckDB store, or Apache Spark over --source.")
@click.option("--source", default=None, metavar="PATH_OR_GLOB",
              help="Canonical Parquet to mine with --engine spark (chainmine export --format parquet writes it).")
@click.option("--spark-master", default=None, metavar="URL",
              help="Spark master: local[N], spark://host:port, yarn, or sc://host:port for Spark Connect "
                   "(default $CHAINMINE_SPARK_MASTER or local[*]).")
@db_option
@library_option
@json_option
@quiet_option
def mine(db: str | None, library_path: str | None, as_json: bool, quiet: bool, save: bool,
         effects_path: str | None, **params: Any) -> None:
    """Find tool chains that recur and succeed, and suggest each as a workflow.

    Ranked by round trips saved x one-call share x success rate (x outcome rate where sessions have one).

    Example: chainmine mine --min-frequency 5 --top 10 --save
    """
    if params["min_length"] > params["max_length"]:
        raise click.BadParameter(f"--min-length ({params['min_length']}) must not exceed --max-length "
                                 f"({params['max_length']})", param_hint="--min-length")
    if params["engine"] != "spark" and (params["source"] or params["spark_master"]):
        raise click.BadParameter("--source and --spark-master go with --engine spark", param_hint="--engine")
    if params["engine"] == "spark" and not params["source"]:
        raise click.BadParameter("--engine spark mines Parquet: pass --source DIR", param_hint="--source")
    library = resolve_library(library_path)
    effects = effects_path if effects_path is not None else overrides_beside(library)
    source = params.pop("source")
    if params["engine"] == "spark":
        # Spark draws its own stage progress on stderr.
        params["spark_progress"] = show_progress(quiet)
    with _spinner(quiet or params["engine"] == "spark"):
        report = mine_store(db, library=library, save=save, effects=effects, source=source, **params)
    if as_json:
        output(report.to_json(), True, _render)
        if report.saved is not None and not quiet:
            click.echo(_saved_line(report), err=True)
    else:
        output(report, False, _render)
    if report.left_out and not quiet:
        click.echo(_left_out_line(report), err=True)


def _tools_text(wf: dict[str, Any]) -> str:
    """``a → (b | c) → d ×N``: steps by dependency level, map steps marked ×N."""
    steps = wf["steps"]
    level: dict[str, int] = {}
    for s in steps:
        level[s["id"]] = 1 + max((level[d] for d in s.get("depends_on", []) if d in level), default=-1)
    groups: dict[int, list[str]] = {}
    for s in steps:
        groups.setdefault(level[s["id"]], []).append(s["tool_name"] + (" ×N" if s.get("map_over") else ""))
    parts = [names[0] if len(names) == 1 else "(" + " | ".join(names) + ")" for _, names in sorted(groups.items())]
    return " → ".join(parts)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _saved_line(report: MineReport) -> str:
    saved = report.saved
    return (f"saved to {report.library}: {saved.added} added, {saved.updated} updated, "
            f"{saved.unchanged} unchanged, {saved.skipped_rejected} rejected before")


def _left_out_line(report: MineReport) -> str:
    n = len(report.left_out)
    return (f"note: {n} chain{'s' if n > 1 else ''} left out because {'their workflows' if n > 1 else 'its workflow'} "
            f"failed validation: " + "; ".join(report.left_out))


def _render(report: MineReport, console: Console) -> None:
    if not report.workflows:
        s = report.stats
        console.print(f"no chains met the thresholds (frequent: {s.get('frequent', 0)}, reliable: "
                      f"{s.get('reliable', 0)}, cohesive: {s.get('cohesive', 0)}); try a lower --min-frequency, "
                      "--min-success-rate or --min-confidence", highlight=False)
    else:
        outcomes = any((wf.stats.model_extra or {}).get("outcome_rate") is not None for wf in report.workflows)
        table = Table("#", "name", "tools", "seen", "ok", *(["outcome"] if outcomes else []), "1-call", "saves",
                      title="Mined workflows", caption="seen: occurrences/sessions · ok: every call succeeded · "
                      "1-call: inputs known when the chain starts · saves: round trips")
        for rank, wf in enumerate(report.workflows, 1):
            data = wf.to_dict()
            st = data["stats"]
            table.add_row(str(rank), wf.name, _tools_text(data), f"{st['frequency']}/{st['sessions']}",
                          f"{st['success_rate']:.0%}", *([_share(st.get("outcome_rate"))] if outcomes else []),
                          _share(st.get("one_call_share")), f"{st['round_trips_saved']:.0f}")
        console.print(table)
    if report.saved is not None:
        console.print(_saved_line(report), highlight=False, soft_wrap=True)
