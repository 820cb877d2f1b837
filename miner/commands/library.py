"""``chainmine library ...``: review, edit, search, import and export workflows.

Each subcommand opens :class:`chainmine.library.store.WorkflowLibrary` on ``--library``
(env ``CHAINMINE_LIBRARY``, default ``./workflows.json``), calls one method
and prints a rich table, or one JSON document with ``--json``.

Review flow: ``suggested → accepted | rejected``. ``accept --force`` accepts a
rejected workflow, ``reject --force`` rejects an accepted one, and ``reopen``
puts a decided workflow back to ``suggested``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from chainmine.library.evidence import (DEFAULT_MIN_PASS_RATE, disagreement_text, replay_evidence, replay_text,
                              replay_warning)
from chainmine.library.store.atomic import atomic_write_text
from chainmine.library.merge import MergeReport
from chainmine.library.model import STATUSES, WorkflowTemplate
from chainmine.library.review import parse_assignments, parse_unsets
from chainmine.library.schema import library_json_schema
from chainmine.library.search import SearchHit
from chainmine.library.store import WorkflowLibrary
from chainmine.miner.commands.common import emit_json, json_option, library_option, library_path, output

log = logging.getLogger(__name__)

status_choice = click.Choice(STATUSES)


def _open(path: str | None) -> WorkflowLibrary:
    return WorkflowLibrary(library_path(path))


@click.group()
def library() -> None:
    """Review and manage the workflow library (a JSON file).

    Review flow: suggested -> accepted | rejected. `accept --force` accepts a
    rejected workflow, `reject --force` rejects an accepted one, `reopen` puts
    a decided workflow back to suggested.

    Example: chainmine library search --query "create pull request" --tool 'github_*'
    """


# -- rendering ---------------------------------------------------------------------------------

def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _table(hits: list[SearchHit], with_score: bool, console: Console, empty: str) -> None:
    if not hits:
        console.print(empty)
        return
    table = Table(show_lines=False)
    for column in ("name", "status", "category", "tools", "frequency", "success") + (("score",) if with_score else ()):
        table.add_column(column, justify="right" if column in ("frequency", "success", "score") else "left")
    for wf, score in hits:
        row = [escape(wf.name), wf.status, escape(wf.category), escape(" → ".join(wf.tools)),
               str(wf.stats.frequency) if wf.stats else "-",
               _percent(wf.stats.success_rate if wf.stats else None)]
        if with_score:
            row.append("-" if score is None else f"{score:.3f}")
        table.add_row(*row)
    console.print(table)


def _value(v: Any) -> str:
    return escape(json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else repr(v))


def _step_options(step) -> str:
    defaults = type(step)(id=step.id, tool_name=step.tool_name)
    shown = []
    if step.depends_on:
        shown.append("after " + ", ".join(step.depends_on))
    for option in ("map_over", "condition", "max_retries", "retry_delay", "backoff", "timeout", "fallback_tool",
                   "max_concurrency", "allow_partial", "cost_estimate"):
        value = getattr(step, option)
        if value != getattr(defaults, option):
            shown.append(f"{option}={value}")
    return escape(f"  ({'; '.join(shown)})") if shown else ""


def render_workflow(wf: WorkflowTemplate, console: Console, library_path: str | None = None) -> None:
    """Print one workflow as a tree: header, inputs, steps with parameters, evidence.

    Examples
    --------
    >>> from chainmine.library.builder import WorkflowBuilder
    >>> render_workflow(WorkflowBuilder("w").add_step("a", "t", x=1).build(), Console(width=60))
    w  suggested · v1 · manual · general
    └── steps
        └── a → t  [write]
            └── x = 1
    """
    from chainmine.miner.views.workflows import step_effects  # the views pull in the miner; only `show` needs them

    effects = {row["step"]: row for row in step_effects(wf, library_path)}
    tree = Tree(f"[bold]{escape(wf.name)}[/]  {wf.status} · v{wf.version} · {wf.source} · {escape(wf.category)}")
    if wf.description:
        tree.add(escape(wf.description))
    if wf.tags:
        tree.add("tags: " + escape(", ".join(wf.tags)))
    if wf.replaces:
        tree.add(f"would replace: {escape(wf.replaces)}")
    if wf.review_note:
        tree.add(f"review note: {escape(wf.review_note)}")
    if wf.inputs:
        inputs = tree.add("inputs")
        for name, spec in wf.inputs.items():
            example = f" (example {_value(spec.example)})" if spec.example is not None else ""
            inputs.add(f"{escape(name)}: {spec.type}{example}")
    steps = tree.add("steps")
    for step in wf.steps:
        effect = effects[step.id]["effect"]
        mark = {"read": "[green]", "destructive": "[bold red]"}.get(effect, "[yellow]")
        node = steps.add(f"[bold]{escape(step.id)}[/] → {escape(step.tool_name)}  {mark}\\[{effect}][/]"
                         f"{_step_options(step)}")
        for param, value in step.parameters.items():
            node.add(f"{escape(param)} = {_value(value)}")
        if step.compensation:
            node.add(f"undo: {escape(step.compensation.tool_name)} {_value(step.compensation.parameters)}")
    if wf.stats:
        s = wf.stats
        parts = [f"frequency {s.frequency}", f"sessions {s.sessions}", f"success {_percent(s.success_rate)}"]
        if s.avg_duration_ms is not None:
            parts.append(f"avg {s.avg_duration_ms:.0f} ms")
        tree.add("evidence: " + ", ".join(parts))
    replay = replay_text(wf, with_disagreement=False)
    if replay:
        node = tree.add(escape(replay))
        first = disagreement_text((replay_evidence(wf) or {}).get("first_disagreement"))
        if first:
            node.add("first disagreement: " + escape(first))
    console.print(tree)


def _render_report(report: MergeReport, console: Console) -> None:
    console.print(f"{report.added} added ({report.renamed} renamed), {report.updated} updated, "
                  f"{report.unchanged} unchanged, {report.skipped_rejected} matched a rejected workflow")
    for o in report.outcomes:
        extra = f" (was {o.incoming_name})" if o.renamed else ""
        extra += f", would replace {o.replaces}" if o.action == "added" and o.replaces else ""
        console.print(f"  {o.action:<16} {escape(o.name)}{escape(extra)}")


# -- commands ----------------------------------------------------------------------------------

@library.command("list")
@library_option
@json_option
@click.option("--status", type=status_choice, default=None, help="Only workflows with this status.")
def list_cmd(library_path: str | None, as_json: bool, status: str | None) -> None:
    """List workflows (sorted by name).

    Example: chainmine library list --status suggested
    """
    workflows = _open(library_path).list_all(status=status)
    output([wf.to_dict() for wf in workflows], as_json,
           lambda _, c: _table([SearchHit(wf) for wf in workflows], False, c, "no workflows"))


@library.command("search")
@library_option
@json_option
@click.option("--query", "-q", default=None, help="Free text, e.g. 'create pull request'.")
@click.option("--tool", default=None, help="A tool the workflow calls; globs like 'github_*' work.")
@click.option("--category", default=None, help="Only this category.")
@click.option("--status", type=status_choice, default=None, help="Only this status.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N results.")
def search_cmd(library_path, as_json, query, tool, category, status, limit) -> None:
    """Search workflows; with --query the best match comes first and carries a score.

    Example: chainmine library search --query "create pull request" --status accepted
    """
    hits = _open(library_path).search(query=query, category=category, tool_name=tool, status=status, limit=limit)
    output([h.to_dict() for h in hits], as_json,
           lambda _, c: _table(hits, query is not None, c, "no matching workflows"))


@library.command("show")
@library_option
@json_option
@click.argument("name")
def show(library_path, as_json, name) -> None:
    """Show one workflow: inputs, steps with parameters and options, evidence.

    Example: chainmine library show lookup_user_reservations
    """
    lib = _open(library_path)
    wf = lib.get(name)
    output(wf.to_dict(), as_json, lambda _, c: render_workflow(wf, c, lib.path))


def _review(library_path, as_json, names, status, force=False, reason=None) -> list[WorkflowTemplate]:
    changed = _open(library_path).review(names, status, force=force, reason=reason)
    output([wf.to_dict() for wf in changed], as_json,
           lambda _, c: c.print(f"{status}: " + escape(", ".join(wf.name for wf in changed))))
    return changed


@library.command("accept")
@library_option
@json_option
@click.option("--force", is_flag=True, help="Also accept workflows that were rejected.")
@click.option("--min-pass-rate", type=click.FloatRange(0, 1), default=DEFAULT_MIN_PASS_RATE, show_default=True,
              help="Warn when a workflow's replay pass rate (chainmine validate) is below this, or missing.")
@click.argument("names", nargs=-1, required=True)
def accept(library_path, as_json, force, min_pass_rate, names) -> None:
    """Accept suggested workflows so they can run (all or none).

    A workflow without replay evidence, or with a low pass rate, is accepted
    with a warning on stderr.

    Example: chainmine library accept lookup_user_reservations open_pr
    """
    changed = _review(library_path, as_json, names, "accepted", force=force)
    for wf in changed:  # only once accepted: a refused accept stays one error line
        warning = replay_warning(wf, min_pass_rate)
        if warning:
            click.echo(f"warning: {warning}", err=True)


@library.command("reject")
@library_option
@json_option
@click.option("--reason", default=None, help="Why; kept as the review note.")
@click.option("--force", is_flag=True, help="Also reject workflows that were accepted.")
@click.argument("names", nargs=-1, required=True)
def reject(library_path, as_json, reason, force, names) -> None:
    """Reject suggested workflows; re-mining never brings them back.

    Example: chainmine library reject flaky_chain --reason "one-off migration"
    """
    _review(library_path, as_json, names, "rejected", force=force, reason=reason)


@library.command("reopen")
@library_option
@json_option
@click.argument("names", nargs=-1, required=True)
def reopen(library_path, as_json, names) -> None:
    """Put accepted or rejected workflows back to suggested.

    Example: chainmine library reopen flaky_chain
    """
    _review(library_path, as_json, names, "suggested")


@library.command("edit")
@library_option
@json_option
@click.argument("name")
@click.option("--name", "new_name", default=None, help="Rename the workflow.")
@click.option("--description", default=None, help="New description.")
@click.option("--category", default=None, help="New category.")
@click.option("--tags", default=None, help="Comma-separated tags (replaces the list; '' clears it).")
@click.option("--set", "sets", multiple=True, metavar="STEP.PARAM=VALUE",
              help="Set a step parameter; VALUE is JSON when it parses, else text. Repeatable.")
@click.option("--unset", "unsets", multiple=True, metavar="STEP.PARAM", help="Drop a step parameter. Repeatable.")
@click.option("--option", "options", multiple=True, metavar="STEP.OPTION=VALUE",
              help="Set a step option (max_retries, timeout, condition, ...); null resets it. Repeatable.")
def edit(library_path, as_json, name, new_name, description, category, tags, sets, unsets, options) -> None:
    """Edit a workflow; its version goes up by one.

    Example: chainmine library edit lookup --set get_user.user_id='{{uid}}' --option get_user.max_retries=3
    """
    changes: dict[str, Any] = {k: v for k, v in (("name", new_name), ("description", description),
                                                 ("category", category)) if v is not None}
    if tags is not None:
        changes["tags"] = [t.strip() for t in tags.split(",") if t.strip()]
    if sets:
        changes["parameters"] = parse_assignments(sets, "--set")
    if unsets:
        changes["unset"] = parse_unsets(unsets)
    if options:
        changes["options"] = parse_assignments(options, "--option")
    if not changes:
        raise click.UsageError("nothing to change: give --name, --description, --category, --tags, "
                               "--set, --unset or --option")
    wf = _open(library_path).edit(name, **changes)
    output(wf.to_dict(), as_json, lambda _, c: c.print(f"{escape(wf.name)} is now version {wf.version}"))


@library.command("remove")
@library_option
@json_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.argument("name")
def remove(library_path, as_json, yes, name) -> None:
    """Delete a workflow from the library (re-mining may suggest it again; reject to prevent that).

    Example: chainmine library remove old_chain --yes
    """
    lib = _open(library_path)
    lib.get(name)
    if not yes:
        click.confirm(f"remove workflow {name!r} from {lib.path}?", abort=True, err=True)
    wf = lib.remove(name)
    output({"removed": wf.name}, as_json, lambda _, c: c.print(f"removed {escape(wf.name)}"))


@library.command("export")
@library_option
@json_option
@click.option("--status", type=status_choice, default=None, help="Only workflows with this status.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write here instead of stdout.")
def export(library_path, as_json, status, out) -> None:
    """Export workflows as a library file (JSON) to stdout or --out.

    Example: chainmine library export --status accepted --out accepted.json
    """
    lib = _open(library_path)
    if out is not None and Path(out).resolve() == lib.path.resolve():
        raise click.BadParameter("--out must not be the library itself; pick another file", param_hint="--out")
    text = lib.export_text(status=status)
    if out is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
        click.echo(f"wrote {out}", err=True)


@library.command("import")
@library_option
@json_option
@click.option("--keep-status", is_flag=True, help="Keep the statuses in the file (default: suggested).")
@click.argument("file", type=click.Path(dir_okay=False))
def import_cmd(library_path, as_json, keep_status, file) -> None:
    """Import a library file, a list of workflows or one workflow; all are checked before any is saved.

    Example: chainmine library import shared.json --keep-status
    """
    report = _open(library_path).import_file(file, keep_status=keep_status)
    output(report.to_dict(), as_json, lambda _, c: _render_report(report, c))


@library.command("schema")
@json_option
def schema(as_json) -> None:
    """Print the JSON Schema of a library file.

    Example: chainmine library schema > workflows.schema.json
    """
    emit_json(library_json_schema())
