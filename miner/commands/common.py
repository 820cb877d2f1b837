"""Options and output helpers shared by every command.

Every command takes ``--db`` (env ``CHAINMINE_DB``) and/or ``--library`` (env
``CHAINMINE_LIBRARY``) where relevant, ``--json`` for one machine-readable
document on stdout, and ``--quiet`` to hide progress (progress also hides when
stderr is not a terminal).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import click
from rich.console import Console
from rich.table import Table

DEFAULT_LIBRARY = "workflows.json"

db_option = click.option(
    "--db", "db", type=click.Path(dir_okay=False), default=None,
    help="DuckDB file (default: $CHAINMINE_DB or ./chainmine.duckdb).")
library_option = click.option(
    "--library", "library_path", type=click.Path(dir_okay=False), default=None,
    help="Workflow library JSON file (default: $CHAINMINE_LIBRARY or ./workflows.json).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Hide progress output.")


def trace_options(command: Callable) -> Callable:
    """``--trace-file``, ``--otlp-endpoint`` and ``--trace-content/--no-trace-content`` for a command that runs workflows.

    Examples
    --------
    >>> cmd = trace_options(click.command()(lambda **kw: None))
    >>> sorted(p.name for p in cmd.params)
    ['otlp_endpoint', 'trace_content', 'trace_file']
    """
    for option in reversed((
            click.option("--trace-file", "trace_file", type=click.Path(dir_okay=False), default=None,
                         help="Append runs as OpenTelemetry GenAI spans (OTLP/JSON lines) to this file; "
                              "`chainmine ingest` reads it back as runs."),
            click.option("--otlp-endpoint", "otlp_endpoint", metavar="URL", default=None,
                         help="Send run spans to this OTLP/HTTP collector (base URL, e.g. http://127.0.0.1:4318; "
                              "default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or $OTEL_EXPORTER_OTLP_ENDPOINT)."),
            click.option("--trace-content/--no-trace-content", "trace_content", default=True, show_default=True,
                         help="Put tool arguments, results and run inputs on the spans (secret inputs are "
                              "always masked)."))):
        command = option(command)
    return command


include_runs_option = click.option(
    "--include-runs", is_flag=True,
    help="Also count the calls of recorded workflow runs (left out by default; `chainmine runs` shows them).")


def library_path(value: str | None) -> str:
    """The library path: ``value``, else ``$CHAINMINE_LIBRARY``, else ``./workflows.json``.

    Examples
    --------
    >>> library_path("lib.json")
    'lib.json'
    """
    return value or os.environ.get("CHAINMINE_LIBRARY") or DEFAULT_LIBRARY


IDENTIFIER_HEADERS = frozenset({"name", "workflow", "run", "step", "tool", "from", "to", "file", "source"})
"""Table columns holding names a user copies into the next command: never cut."""


def keep_identifiers_whole(table: Table, limit: int = 64) -> Table:
    """Stop rich from cutting names and ids with an ellipsis when a table is squeezed.

    Identifier columns get a minimum width of their longest value (up to
    ``limit``) and fold rather than cut anything longer; other columns keep
    rich's own layout.

    Examples
    --------
    >>> t = Table("name", "note"); t.add_row("get_user_then_each_get_reservation", "x")
    >>> keep_identifiers_whole(t).columns[0].min_width
    34
    """
    for column in table.columns:
        if str(column.header).strip().lower() in IDENTIFIER_HEADERS:
            column.overflow = "fold"
            longest = max((len(str(cell)) for cell in column._cells), default=0)
            column.min_width = min(max(longest, column.min_width or 0), limit)
            column.no_wrap = True
    return table


class CliConsole(Console):
    """A console that keeps identifiers whole in every table it prints."""

    def print(self, *objects, **kwargs) -> None:  # noqa: D102 - same as Console.print
        for obj in objects:
            if isinstance(obj, Table):
                keep_identifiers_whole(obj)
        super().print(*objects, **kwargs)


def stdout_console() -> Console:
    """A rich console on stdout; 160 columns when piped, unless ``$COLUMNS`` says otherwise."""
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    return CliConsole(soft_wrap=False, width=None if wide else 160)


def stderr_console() -> Console:
    """A rich console on stderr for progress and notes."""
    return Console(stderr=True)


def show_progress(quiet: bool) -> bool:
    """True when progress may be drawn: not ``--quiet`` and stderr is a terminal.

    Examples
    --------
    >>> show_progress(True)
    False
    """
    return not quiet and sys.stderr.isatty()


def emit_json(data: Any) -> None:
    """Print ``data`` as one JSON document on stdout.

    Examples
    --------
    >>> emit_json({"a": 1})
    {
      "a": 1
    }
    """
    click.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return str(value)


def output(data: Any, as_json: bool, render: Callable[[Any, Console], None]) -> None:
    """Print ``data`` as JSON when ``as_json``, else through ``render`` on stdout."""
    if as_json:
        emit_json(data)
    else:
        render(data, stdout_console())
