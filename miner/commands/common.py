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

DEFAULT_LIBRARY = "workflows.json"

db_option = click.option(
    "--db", "db", type=click.Path(dir_okay=False), default=None,
    help="DuckDB file (default: $CHAINMINE_DB or ./chainmine.duckdb).")
library_option = click.option(
    "--library", "library_path", type=click.Path(dir_okay=False), default=None,
    help="Workflow library JSON file (default: $CHAINMINE_LIBRARY or ./workflows.json).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Hide progress output.")


def library_path(value: str | None) -> str:
    """The library path: ``value``, else ``$CHAINMINE_LIBRARY``, else ``./workflows.json``.

    Examples
    --------
    >>> library_path("lib.json")
    'lib.json'
    """
    return value or os.environ.get("CHAINMINE_LIBRARY") or DEFAULT_LIBRARY


def stdout_console() -> Console:
    """A rich console on stdout (plain text when stdout is not a terminal)."""
    return Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)


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
