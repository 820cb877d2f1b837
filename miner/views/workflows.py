"""Workflows on the dashboard: mining suggestions, tables, parameter evidence, and reviewing them.

Reviewing a suggestion saves it through the library first (merge by
signature, which may give it a free name or find it already there), then
applies the review to the library's entry, as ``chainmine mine --save``
followed by ``chainmine library accept`` would.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable, Sequence

from chainmine.library.effects import overrides_beside
from chainmine.library.errors import ReviewError
from chainmine.library.evidence import replay_evidence
from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner.safety import resolve_effects
from chainmine.library.search import SearchHit
from chainmine.library.store import WorkflowLibrary
from chainmine.library.templates import iter_references
from chainmine.miner.chains.params import MiningParams
from chainmine.miner.estimator import ChainMiner
from chainmine.miner.views.connections import read_connection

log = logging.getLogger(__name__)

MINING_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(MiningParams)}
"""The miner's default thresholds (what ``chainmine mine`` uses), for the form's initial values."""


def mine_suggestions(db: str | os.PathLike, library: str | os.PathLike | None = None,
                     **params: Any) -> list[WorkflowTemplate]:
    """Mine the store for suggested workflows, best first (``params`` as for ``chainmine mine``).

    When ``library`` names an existing library file, its reviewed workflows
    teach the miner how to categorise new ones.

    Examples
    --------
    >>> import tempfile
    >>> from chainmine.miner.store import connect
    >>> db = Path(tempfile.mkdtemp()) / "t.duckdb"; connect(db).close()
    >>> mine_suggestions(db, min_frequency=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.MiningError: min_frequency must be at least 1, got 0
    """
    known = library if library is not None and Path(library).is_file() else None
    with read_connection(db) as con:
        miner = ChainMiner(**params).fit(con, library=known)
    return list(miner.workflows_)


def workflow_row(wf: WorkflowTemplate, score: float | None = None) -> dict[str, Any]:
    """One table row summarising a workflow and its evidence from the logs.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep, WorkflowStats
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")],
    ...                       stats=WorkflowStats(frequency=9, sessions=4, success_rate=0.75, score=2.5))
    >>> row = workflow_row(wf); row["tools"], row["frequency"], row["score"]
    ('t', 9, 2.5)
    """
    stats = wf.stats.model_dump() if wf.stats else {}
    return {
        "name": wf.name, "status": wf.status, "category": wf.category,
        "tools": " → ".join(wf.tools), "steps": len(wf.steps), "inputs": ", ".join(wf.inputs),
        "frequency": stats.get("frequency"), "sessions": stats.get("sessions"),
        "success_rate": stats.get("success_rate"), "score": stats.get("score") if score is None else score,
        "replay_pass_rate": (replay_evidence(wf) or {}).get("pass_rate"),
    }


def hit_rows(hits: Iterable[SearchHit]) -> list[dict[str, Any]]:
    """Table rows for library search hits (the text score when a query ranked them).

    Examples
    --------
    >>> hit_rows([])
    []
    """
    return [workflow_row(h.workflow, h.score) for h in hits]


def facets(workflows: Iterable[WorkflowTemplate]) -> dict[str, list[str]]:
    """The tools, tool-name patterns and categories present, sorted, for filter widgets.

    A pattern ``prefix_*`` is offered when at least two tools share that prefix
    (``github_list_issues``, ``github_create_pr`` → ``github_*``).

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", category="ops", steps=[WorkflowStep(id="a", tool_name="gh_pr"),
    ...                                                      WorkflowStep(id="b", tool_name="gh_issue")])
    >>> facets([wf])
    {'tools': ['gh_issue', 'gh_pr'], 'patterns': ['gh_*'], 'categories': ['ops']}
    """
    workflows = list(workflows)
    tools = sorted({t for wf in workflows for t in wf.tools})
    prefixes = Counter(t.split("_", 1)[0] for t in tools if "_" in t.strip("_"))
    return {"tools": tools, "patterns": sorted(f"{p}_*" for p, n in prefixes.items() if n >= 2),
            "categories": sorted({wf.category for wf in workflows})}


def parameter_evidence(wf: WorkflowTemplate) -> list[dict[str, Any]]:
    """Every step parameter with how the miner explained its value: bound, constant or input.

    ``source`` is the template or literal, ``support`` the share of observed
    calls that agree; parameters without mined evidence say so.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep, ParameterSource
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t",
    ...     parameters={"x": "{{uid}}", "n": 5}, sources={"x": ParameterSource(kind="input", source="uid", support=1.0)})])
    >>> [(r["parameter"], r["kind"]) for r in parameter_evidence(wf)]
    [('x', 'input'), ('n', 'constant')]
    """
    rows = []
    for step in wf.steps:
        for param, value in step.parameters.items():
            src = step.sources.get(param)
            if src is not None:
                kind, source, support = src.kind, src.source, src.support
            else:
                kind = "template" if any(True for _ in iter_references(value)) else "constant"
                source, support = None, None
            rows.append({"step": step.id, "tool": step.tool_name, "parameter": param, "value": as_text(value),
                         "kind": kind, "source": as_text(source), "support": support})
    return rows


def step_effects(wf: WorkflowTemplate, library_path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Each step's side-effect class and where it comes from, as a table.

    Steps without a stored class are classified like the runner does without
    tools at hand: the override file beside ``library_path``, else the verbs of
    the tool's name (MCP annotations count once the workflow runs or is served).

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="get_user"),
    ...                                        WorkflowStep(id="b", tool_name="cancel_reservation")])
    >>> [(r["step"], r["effect"], r["source"]) for r in step_effects(wf)]
    [('a', 'read', 'name'), ('b', 'destructive', 'name')]
    """
    resolved = resolve_effects(wf, None, overrides_beside(library_path))
    return [{"step": s.id, "tool": s.tool_name, "effect": s.effect, "source": s.effect_source}
            for s in resolved.steps]


def as_text(value: Any) -> str | None:
    """A value as table text: strings as they are, anything else as compact JSON.

    Examples
    --------
    >>> as_text({"a": [1, 2]}), as_text("x"), as_text(None)
    ('{"a": [1, 2]}', 'x', None)
    """
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def library_entries(library: WorkflowLibrary, workflows: Sequence[WorkflowTemplate]
                    ) -> list[WorkflowTemplate | None]:
    """The library's entry for each mined workflow (same signature), or None where it is not saved.

    Examples
    --------
    >>> import tempfile
    >>> from chainmine.library.model import WorkflowStep
    >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
    >>> library_entries(lib, [WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])])
    [None]

    Notes
    -----
    O(L + W) signatures for L library entries and W workflows.
    """
    by_signature: dict[str, WorkflowTemplate] = {}
    for entry in library.list_all():
        by_signature.setdefault(entry.signature(), entry)
        if entry.origin_signature:
            by_signature.setdefault(entry.origin_signature, entry)
    return [by_signature.get(wf.signature()) for wf in workflows]


def save_suggestion(library: WorkflowLibrary, wf: WorkflowTemplate) -> WorkflowTemplate:
    """Merge ``wf`` into the library (as suggested unless already there) and return its entry.

    Examples
    --------
    >>> import tempfile
    >>> from chainmine.library.model import WorkflowStep
    >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
    >>> wf = WorkflowTemplate(name="w", source="mined", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> save_suggestion(lib, wf).status, save_suggestion(lib, wf).name
    ('suggested', 'w')
    """
    report = library.merge_suggestions([wf])
    return library.get(report.outcomes[0].name)


def edit_suggestion(library: WorkflowLibrary, wf: WorkflowTemplate, *, name: str | None = None,
                    category: str | None = None, description: str | None = None) -> WorkflowTemplate:
    """Save mined ``wf`` through the library and rename/re-describe its entry there.

    Fields left ``None`` (or unchanged) are kept.

    Examples
    --------
    >>> import tempfile
    >>> from chainmine.library.model import WorkflowStep
    >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
    >>> wf = WorkflowTemplate(name="w", source="mined", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> edit_suggestion(lib, wf, name="lookup", category="ops", description="d").name
    'lookup'
    """
    entry = save_suggestion(library, wf)
    wanted = {"name": name.strip() if name else None, "category": category.strip() if category else None,
              "description": description}
    changes = {k: v for k, v in wanted.items() if v is not None and v != getattr(entry, k)}
    return library.edit(entry.name, **changes) if changes else entry


def review_suggestion(library: WorkflowLibrary, wf: WorkflowTemplate, status: str, *, reason: str | None = None,
                      name: str | None = None, category: str | None = None,
                      description: str | None = None) -> WorkflowTemplate:
    """Save mined ``wf`` through the library (with any edits), then accept or reject it there.

    A suggestion whose library entry was already reviewed the other way is
    not flipped silently: :class:`chainmine.library.errors.ReviewError` says how to
    reopen it.

    Examples
    --------
    >>> import tempfile
    >>> from chainmine.library.model import WorkflowStep
    >>> lib = WorkflowLibrary(os.path.join(tempfile.mkdtemp(), "w.json"))
    >>> wf = WorkflowTemplate(name="w", source="mined", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> review_suggestion(lib, wf, "accepted", name="lookup").status, lib.get("lookup").status
    ('accepted', 'accepted')
    """
    opposite = {"accepted": "rejected", "rejected": "accepted"}[status]
    entry = save_suggestion(library, wf)
    if entry.status == opposite:
        raise ReviewError(f"this workflow is already {opposite} in the library as {entry.name!r}; reopen it "
                          f"on the Library page (or `chainmine library reopen {entry.name}`) first")
    entry = edit_suggestion(library, wf, name=name, category=category, description=description)
    if status == "accepted":
        return library.accept(entry.name)
    return library.reject(entry.name, reason=reason or None)
