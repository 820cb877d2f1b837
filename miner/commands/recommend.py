"""``chainmine recommend``: library workflows likely to start after a session's calls so far."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from chainmine.library.store import WorkflowLibrary
from chainmine.miner.commands import common
from chainmine.miner.commands.common import db_option, include_runs_option, json_option, library_option, output
from chainmine.miner.recommend import recommend as recommend_workflows
from chainmine.miner.recommend import session_prefix
from chainmine.miner.store import connect


@click.command()
@click.option("--tools", "tools", metavar="A,B,...", default=None,
              help="Tools the session has called so far, oldest first, comma-separated ('' = a new session).")
@click.option("--session", "session_id", metavar="ID", default=None,
              help="Take the calls of this stored session as the prefix.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="How many to show.")
@click.option("--include-suggested", is_flag=True, help="Also rank workflows not reviewed yet.")
@click.option("--agent", metavar="NAME", default=None,
              help="The agent asking (default with --session: the session's agent).")
@include_runs_option
@db_option
@library_option
@json_option
def recommend(tools, session_id, top, include_suggested, agent, include_runs, db, library_path, as_json) -> None:
    """Rank library workflows by how likely they are to start next.

    Example: chainmine recommend --tools get_user_details --top 3
    """
    if (tools is None) == (session_id is None):
        raise click.UsageError("pass exactly one of --tools A,B,... or --session ID")
    con = connect(db, read_only=True)
    try:
        if session_id is not None:
            prefix, session_agent = session_prefix(con, session_id)
            agent = agent if agent is not None else session_agent
        else:
            prefix = tools.split(",")
        result = recommend_workflows(prefix, WorkflowLibrary(common.library_path(library_path)), con=con,
                                     top=top, include_suggested=include_suggested, agent=agent,
                                     include_runs=include_runs)
    finally:
        con.close()
    if result.note:
        click.echo(f"note: {result.note}", err=True)
    output([r.to_dict() for r in result], as_json, _render)


def _render(rows: list[dict], console: Console) -> None:
    if not rows:
        console.print("no recommendation")
        return
    table = Table("#", "workflow", "score", "tools", "reason", title="Likely next workflows")
    for i, row in enumerate(rows, 1):
        table.add_row(str(i), row["workflow"], f"{row['score']:.3f}", " → ".join(row["tools"]), row["reason"])
    console.print(table)
