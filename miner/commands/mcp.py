"""``chainmine mcp serve``: serve accepted workflows to agents as Model Context Protocol tools.

Each accepted workflow of the library becomes one MCP tool; a call runs it
through the runner against the ``--tools`` registries (Python modules or
files, or other MCP servers, which makes chainmine a proxy in front of them)
and records the run in the DuckDB store like ``chainmine run`` does. The
server speaks stdio by default (what MCP clients launch), or streamable HTTP
on 127.0.0.1 with ``--http``. Everything it says goes to stderr: on stdio,
stdout belongs to the protocol.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

import click

from chainmine.library.serve.transport import HttpAddress, parse_http_address
from chainmine.miner.commands import common
from chainmine.miner.commands.common import db_option, library_option, trace_options
from chainmine.miner.run_store import DuckDBRecorder
from chainmine.miner.store import connect, resolve_db_path

if TYPE_CHECKING:
    from chainmine.library.serve.mcp_server import WorkflowServer

LOCK_WAIT_S = 10.0
"""How long a run waits for another chainmine process to release the database."""


def duckdb_recorder_opener(db: str | None):
    """A factory opening a :class:`~chainmine.miner.run_store.DuckDBRecorder` on ``db`` (closed with its connection).

    The server opens it for each run only, so other chainmine commands can use
    the database between runs; a run waits up to :data:`LOCK_WAIT_S` for one
    that holds it.

    Examples
    --------
    >>> import tempfile, os
    >>> opener = duckdb_recorder_opener(os.path.join(tempfile.mkdtemp(), "c.duckdb"))
    >>> with opener() as recorder:
    ...     recorder.load_run("nope") is None
    True
    """
    path = resolve_db_path(db)

    @contextlib.contextmanager
    def open_recorder() -> Iterator[DuckDBRecorder]:
        con = connect(path, lock_retry_s=LOCK_WAIT_S)
        try:
            recorder = DuckDBRecorder(con)
            yield recorder
            recorder.close()
        finally:
            con.close()

    return open_recorder


def _announce(library: str, http: HttpAddress | None):
    def announce(server: "WorkflowServer") -> None:
        names = sorted(server.catalog.workflows)
        where = http.url if http else "stdio"
        shown = ", ".join(names) if names else "none yet (accepted workflows appear as they are accepted)"
        click.echo(f"chainmine MCP server on {where}: {len(names)} workflows from {library}: {shown}", err=True)

    return announce


@click.group()
def mcp() -> None:
    """Serve accepted workflows to agents over the Model Context Protocol."""


@mcp.command("serve")
@library_option
@db_option
@click.option("--tools", "tools", multiple=True, required=True, metavar="MODULE|FILE.py|'mcp:CMD ARGS'",
              help="Where the workflows' tools come from: a module path, a .py file, or an MCP server "
                   "command. Repeatable.")
@click.option("--http", "http", metavar="HOST:PORT", default=None,
              help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (HOST defaults to 127.0.0.1).")
@click.option("--allow-remote", is_flag=True,
              help="Allow --http on an address other than loopback (anyone reaching it can run workflows).")
@click.option("--poll", "poll", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Seconds between library checks that notify clients of new or removed workflows (0: off; "
                   "lists and calls always see the current library).")
@click.option("--max-concurrency", type=click.IntRange(min=1), default=10, show_default=True,
              help="Tool calls in flight at once within one run.")
@click.option("--effects", "effects", type=click.Path(dir_okay=False, exists=True), default=None,
              help="TOML/JSON file mapping tool names or globs to read, write or destructive "
                   "(default: effects.toml or effects.json beside the library).")
@trace_options
def serve(library_path: str | None, db: str | None, tools: tuple[str, ...], http: str | None,
          allow_remote: bool, poll: float, max_concurrency: int, effects: str | None, trace_file: str | None,
          otlp_endpoint: str | None, trace_content: bool) -> None:
    """Serve every accepted workflow as an MCP tool (stdio, or --http on 127.0.0.1).

    Example: chainmine mcp serve --tools "mcp:python airline_server.py" --library workflows.json
    """
    # The MCP SDK takes seconds to import; loading it here keeps every other command quick.
    from chainmine.library.serve.app import serve_workflows

    address = parse_http_address(http, allow_remote=allow_remote) if http else None
    library = common.library_path(library_path)
    serve_workflows(library, tools, open_recorder=duckdb_recorder_opener(db), http=address,
                    poll_interval=poll or None, max_concurrency=max_concurrency, effects=effects,
                    on_start=_announce(library, address), trace_file=trace_file, otlp_endpoint=otlp_endpoint,
                    trace_content=trace_content)
