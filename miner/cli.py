"""The ``chainmine`` command line: one console script, one module per command.

Errors that come from bad input (:data:`chainmine.miner.errors.USER_ERRORS`) print one
line on stderr and exit 1; usage errors exit 2 (click's convention).
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from chainmine.miner.errors import USER_ERRORS

log = logging.getLogger(__name__)

# (module under chainmine.miner.commands, attribute holding the click command or group)
COMMANDS = [
    ("demo", "demo"),
    ("generate", "generate"),
    ("ingest", "ingest"),
    ("stats", "stats"),
    ("export", "export"),
    ("mine", "mine"),
    ("library", "library"),
    ("recommend", "recommend"),
    ("evaluate", "evaluate"),
    ("run", "run"),
    ("validate", "validate"),
    ("runs", "runs"),
    ("dashboard", "dashboard"),
    ("mcp", "mcp"),
]


class UserError(click.ClickException):
    """A bad-input error shown as one line on stderr with exit code 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class ChainmineGroup(click.Group):
    """A click group that turns :data:`USER_ERRORS` into one-line :class:`UserError` exits.

    Command modules are imported when a command is looked up, so one command
    does not pay for importing every other one (pandas, Streamlit, mcp ...).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {name for name, _ in COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        attr = dict(COMMANDS).get(name)
        if name not in self.commands and attr is not None:
            try:
                self.add_command(getattr(importlib.import_module(f"chainmine.miner.commands.{name}"), attr))
            except ModuleNotFoundError as exc:  # a command whose module is not there yet
                if exc.name != f"chainmine.miner.commands.{name}":
                    raise
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            log.debug("command failed", exc_info=True)
            message = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
            raise UserError(message) from exc


@click.group(cls=ChainmineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="chainmine")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug) on stderr.")
def cli(verbose: int) -> None:
    """Mine AI-agent tool-call logs for recurring tool chains and turn them into workflows."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")



def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (click's standalone mode handles exit codes)."""
    try:
        cli.main(args=argv, prog_name="chainmine")
    except BrokenPipeError:  # e.g. `chainmine library export | head`
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
