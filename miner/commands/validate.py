"""``chainmine validate [NAME ...] --tools ...``: replay workflows on their logged occurrences.

Prints one row per workflow (occurrences, replayed, compared calls, pass rate,
first disagreement), or the reports with ``--json``; stores each report as the
workflow's ``evidence.replay`` unless ``--no-store``.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chainmine.library.effects import overrides_beside
from chainmine.library.errors import LibraryFileError
from chainmine.library.evidence import disagreement_text
from chainmine.library.store.atomic import file_lock
from chainmine.library.model import STATUSES
from chainmine.library.store import WorkflowLibrary
from chainmine.miner.commands import common
from chainmine.miner.commands.common import db_option, json_option, library_option, output, quiet_option, show_progress
from chainmine.miner.replay import validate_library
from chainmine.miner.store import connect

LOCK_CHECK_S = 5.0
"""How long to wait for a locked library before replaying anything."""


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _render(doc: dict[str, Any], console: Console) -> None:
    table = Table("workflow", "seen", "replayed", "calls compared", "writes from log", "pass rate", "args agree",
                  title="replay on logged occurrences")
    for r in doc["workflows"]:
        table.add_row(escape(r["workflow"]), str(r["occurrences"]), str(r["replayed"]), str(r["compared"]),
                      str(r["skipped_writes"]), _rate(r["pass_rate"]), _rate(r["args_pass_rate"]))
    console.print(table)
    for r in doc["workflows"]:
        first = disagreement_text(r["first_disagreement"])
        if first:
            console.print(f"[bold]{escape(r['workflow'])}[/] first disagreement: {escape(first)}")
    for name, reason in doc["errors"].items():
        console.print(f"[yellow]not validated:[/] {escape(name)}: {escape(reason)}")
    if doc.get("stored"):
        console.print(f"stored as evidence.replay in {escape(doc['stored'])}")


@click.command()
@click.argument("names", nargs=-1)
@click.option("--tools", "tools", multiple=True, required=True, metavar="MODULE|FILE.py|'mcp:CMD ARGS'",
              help="The real tools to replay against (as for `chainmine run`). Repeatable.")
@click.option("--all", "all_", is_flag=True, help="Validate every workflow in the library (filtered by --status).")
@click.option("--status", type=click.Choice(STATUSES), default=None,
              help="With --all or no NAME: only workflows with this status.")
@click.option("--sessions", type=click.IntRange(min=1), default=20, show_default=True,
              help="Logged occurrences replayed per workflow, spread evenly over the log.")
@click.option("--allow-writes", is_flag=True,
              help="Call write and destructive steps for real (tools are loaded afresh for every occurrence); "
                   "otherwise their arguments are compared and they are answered with the logged result.")
@click.option("--fresh-tools", is_flag=True, help="Load the tools afresh for every occurrence even without writes.")
@click.option("--ignore", "ignore", multiple=True, metavar="FIELD_GLOB",
              help="Differences in these fields do not count, e.g. 'result.address.*'. Repeatable.")
@click.option("--max-gap", type=click.IntRange(0, 5), default=1, show_default=True,
              help="Unrelated calls allowed between two steps of an occurrence.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Per-call timeout in seconds.")
@click.option("--effects", type=click.Path(dir_okay=False, exists=True), default=None,
              help="TOML/JSON file of side-effect classes (default: effects.toml/json beside the library).")
@click.option("--no-store", is_flag=True, help="Only report; leave the library as it is.")
@db_option
@library_option
@json_option
@quiet_option
def validate(names, tools, all_, status, sessions, allow_writes, fresh_tools, ignore, max_gap, timeout, effects,
             no_store, db, library_path, as_json, quiet) -> None:
    """Replay workflows on their logged occurrences and compare every call and result with the log.

    Without NAME (or with --all) every workflow in the library is validated.

    Example: chainmine validate get_user_then_each_get_reservation --tools tau_airline/tools.py
    """
    if names and all_:
        raise click.UsageError("give workflow NAMEs or --all, not both")
    lib = WorkflowLibrary(common.library_path(library_path))
    if not lib.path.exists():
        raise LibraryFileError(f"no library at {lib.path}; mine with `chainmine mine --save` first")
    if not no_store:
        with file_lock(lib.path, LOCK_CHECK_S):  # fail now, not after minutes of replaying
            pass
    con = connect(db, read_only=True)
    try:
        progress = common.stderr_console() if show_progress(quiet) else None
        result = validate_library(
            con, lib, list(names) or None, list(tools), status=status, store=not no_store,
            on_done=(lambda name: progress.print(f"validated {escape(name)}")) if progress else None,
            sessions=sessions, allow_writes=allow_writes, max_gap=max_gap, effects=effects or overrides_beside(lib.path),
            fresh=True if fresh_tools else None, timeout=timeout, ignore=list(ignore))
    finally:
        con.close()
    doc = result.to_dict()
    doc["stored"] = None if no_store or not result.reports else str(lib.path)
    output(doc, as_json, _render)
