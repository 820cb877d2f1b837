"""``chainmine ingest``: load tool-call logs (every supported format) into the store."""

from __future__ import annotations

import contextlib
from typing import Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Column, Table

from chainmine.miner.commands.common import db_option, json_option, output, quiet_option, show_progress, stderr_console
from chainmine.miner.errors import IngestError
from chainmine.miner.ingest import FORMATS, ingest_paths, list_rejects
from chainmine.miner.ingest.report import nothing_stored
from chainmine.miner.ingest.redact import KEY_ENV
from chainmine.miner.store import connect

TOP_REASONS = 5
SHOWN_REJECTS = 50


@contextlib.contextmanager
def _progress_bar(quiet: bool, total: int) -> Iterator:
    if not show_progress(quiet):
        yield None
        return
    bar = Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                   console=stderr_console(), transient=True)
    with bar:
        task = bar.add_task("", total=total)
        yield lambda path, done, _total: bar.update(task, completed=done, description=path)


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--format", "fmt", type=click.Choice(("auto",) + FORMATS), default="auto", show_default=True,
              help="Log format; auto detects it per file (first records, else the tool calls of the whole file).")
@click.option("--session-gap", "session_gap", type=click.FloatRange(min=0, min_open=True), default=1800.0,
              show_default=True, metavar="S",
              help="Idle seconds that start a new session for rows without a session_id.")
@click.option("--redact", is_flag=True,
              help="Mask e-mails, bearer tokens, API keys and card numbers in args/results before storing.")
@click.option("--redact-key", envvar=KEY_ENV, default=None, metavar="K",
              help=f"HMAC key for --redact tokens (default ${KEY_ENV}, else a key kept in the database).")
@click.option("--map", "columns", default=None, metavar="FIELD=COLUMN,...",
              help="Rename source columns onto canonical fields (e.g. tool=fn,session_id=conv_id); "
                   "the files are then read as canonical records.")
@click.option("--show-rejects", is_flag=True, help="List the rejected rows (source, line, reason).")
@db_option
@json_option
@quiet_option
def ingest(paths, fmt, session_gap, redact, redact_key, columns, show_rejects, db, as_json, quiet) -> None:
    """Load tool-call logs: canonical JSONL/JSON/CSV/Parquet, OpenAI Chat or Responses,
    Anthropic Messages, OpenTelemetry GenAI spans, LangSmith runs, Langfuse observations,
    OpenInference (Phoenix) spans, Claude Code transcripts, MCP client spans. Use - for
    stdin; .gz is fine.

    Bad rows are kept in the rejects table with a reason; re-ingesting a file adds nothing.
    An ingest that stores no call and rejects every record exits 1.

    Example: chainmine ingest data/samples/canonical.jsonl data/samples/otel.jsonl --show-rejects
    """
    con = connect(db)
    try:
        with _progress_bar(quiet, len(paths)) as progress:
            report = ingest_paths(con, paths, format=fmt, session_gap_s=session_gap, redact=redact,
                                  redact_key=redact_key, progress=progress, columns=columns)
        data = report.to_dict()
        if show_rejects:
            data["rejects"] = list_rejects(con, SHOWN_REJECTS, ingest_ids=report.ingest_ids)
    finally:
        con.close()
    output(data, as_json, _render)
    failed = nothing_stored(report)
    if failed is not None:  # the rejects are kept (see --show-rejects), but nothing was loaded: exit 1
        raise IngestError(failed)


def _render(data: dict, console: Console) -> None:
    table = Table(Column("file", overflow="fold"), "format", "accepted", "rejected", "duplicates", "sessions",
                  title="Ingest")
    for f in data["files"]:
        table.add_row(f["path"], f["format"], str(f["accepted"]), str(f["rejected"]), str(f["duplicates"]),
                      str(f["sessions"]))
    if len(data["files"]) > 1:
        table.add_section()
        table.add_row("total", "", str(data["accepted"]), str(data["rejected"]), str(data["duplicates"]),
                      str(data["sessions"]), style="bold")
    console.print(table)
    if data.get("skipped"):
        console.print(f"skipped {data['skipped']} records that are no tool call (LLM runs, chain spans, ...)",
                      highlight=False)
    if data.get("paired_by_position"):
        console.print(f"results paired by position (reused or missing call ids): {data['paired_by_position']}",
                      highlight=False)
    reasons = list(data.get("reject_reasons", {}).items())
    if reasons:
        top = ", ".join(f"{reason} ({n})" for reason, n in reasons[:TOP_REASONS])
        more = f", +{len(reasons) - TOP_REASONS} more" if len(reasons) > TOP_REASONS else ""
        console.print(f"top reject reasons: {top}{more}", highlight=False)
    if "rejects" in data:
        _render_rejects(data["rejects"], data["rejected"], console)


def _render_rejects(rejects: list[dict], total: int, console: Console) -> None:
    if not rejects:
        console.print("no rejected rows")
        return
    title = "Rejected rows" + (f" (first {len(rejects)} of {total})" if total > len(rejects) else "")
    table = Table("source", "line", "reason", "raw", title=title)
    for r in rejects:
        table.add_row(r["source"], str(r["line"]), r["reason"], (r["raw"] or "")[:80])
    console.print(table)
