"""The CLI frame: bad input is one line on stderr and exit 1; usage errors exit 2."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from chainmine.miner.cli import ChainmineGroup
from chainmine.miner.errors import StoreError
from chainmine.library.errors import NotFoundError


@click.group(cls=ChainmineGroup)
def app():
    pass


@app.command()
@click.argument("kind")
def boom(kind):
    if kind == "store":
        raise StoreError("database x is broken: run chainmine ingest")
    if kind == "library":
        raise NotFoundError("no workflow 'abc'; did you mean 'abd'?\nsecond line is dropped")
    raise RuntimeError("a real bug")


@pytest.mark.parametrize("kind, message", [
    ("store", "error: database x is broken: run chainmine ingest\n"),
    ("library", "error: no workflow 'abc'; did you mean 'abd'?\n"),
])
def test_user_errors_are_one_line_and_exit_1(kind, message):
    result = CliRunner().invoke(app, ["boom", kind])
    assert result.exit_code == 1
    assert result.stderr == message
    assert result.stdout == ""


def test_bugs_are_not_disguised_as_user_errors():
    result = CliRunner().invoke(app, ["boom", "bug"])
    assert isinstance(result.exception, RuntimeError)


def test_usage_errors_exit_2():
    from chainmine.miner.cli import cli
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2


def test_tables_never_cut_the_names_users_copy_into_the_next_command():
    import io

    from rich.table import Table

    from chainmine.miner.commands.common import CliConsole

    table = Table("name", "status", "description")
    table.add_row("get_user_then_each_get_reservation", "suggested", "a long description " * 5)
    buffer = io.StringIO()
    CliConsole(file=buffer, width=60).print(table)
    assert "get_user_then_each_get_reservation" in buffer.getvalue()
