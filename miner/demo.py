"""The end-to-end demo behind ``chainmine demo``.

Generate sample logs → ingest them → mine → save the suggestions to a
library → accept the best one the demo tools can run → run it → report. Every
stage calls the same public function the matching CLI command uses, so the
demo is also a smoke test of the whole product. Re-running it in the same
folder is safe: ingest then adds nothing (content-hash ids) and saving
suggestions only refreshes their stats.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from chainmine.library.model import WorkflowTemplate
from chainmine.library.store import WorkflowLibrary
from chainmine.miner.errors import MiningError

log = logging.getLogger(__name__)

DEMO_TOOLS = "chainmine.miner.generate.tools"
"""The Python tool registry the demo runs against (it behaves like the generated logs)."""


@dataclass
class DemoReport:
    """What each demo stage did, and where its files are."""

    folder: str
    db: str
    library: str
    logs: str
    generated: dict[str, Any] = field(default_factory=dict)
    ingested: dict[str, Any] = field(default_factory=dict)
    mined: list[dict[str, Any]] = field(default_factory=list)
    saved: dict[str, Any] = field(default_factory=dict)
    accepted: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the ``demo --json`` document)."""
        return dict(self.__dict__)


def example_inputs(wf: WorkflowTemplate) -> dict[str, Any]:
    """Inputs for ``wf`` taken from the example values mining recorded.

    Examples
    --------
    >>> from chainmine.library.model import InputSpec, WorkflowStep
    >>> wf = WorkflowTemplate(name="w", inputs={"user_id": InputSpec(example="u1")},
    ...                       steps=[WorkflowStep(id="a", tool_name="t", parameters={"x": "{{user_id}}"})])
    >>> example_inputs(wf)
    {'user_id': 'u1'}
    """
    return {name: spec.example if spec.example is not None else spec.default
            for name, spec in wf.inputs.items() if spec.example is not None or spec.default is not None}


def pick_runnable(workflows: list[WorkflowTemplate], tools: set[str]) -> WorkflowTemplate | None:
    """The best-ranked workflow whose tools all exist and whose inputs all have examples.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep
    >>> wf = WorkflowTemplate(name="w", steps=[WorkflowStep(id="a", tool_name="t")])
    >>> pick_runnable([wf], {"t"}).name, pick_runnable([wf], set())
    ('w', None)
    """
    for wf in workflows:
        needed = {s.tool_name for s in wf.steps}
        if needed <= tools and all(name in example_inputs(wf) or not spec.required
                                   for name, spec in wf.inputs.items()):
            return wf
    return None


def run_demo(folder: str | Path = "chainmine-demo", *, sessions: int = 3000, seed: int = 7,
             stage: Callable[[str], None] | None = None) -> DemoReport:
    """Run every stage of the demo in ``folder`` and return what happened.

    ``stage`` is called with a short label before each stage (the CLI shows it
    as progress).

    Examples
    --------
    >>> import tempfile
    >>> report = run_demo(tempfile.mkdtemp(), sessions=300)  # doctest: +SKIP
    >>> report.run["status"]  # doctest: +SKIP
    'completed'
    """
    from chainmine.library.runner.loading import load_registry
    from chainmine.miner import ChainMiner
    from chainmine.miner.generate import generate_logs
    from chainmine.miner.ingest import ingest_paths
    from chainmine.miner.run_store import run_named_workflow
    from chainmine.miner.store import connect

    note = stage or (lambda _label: None)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    report = DemoReport(folder=str(root), db=str(root / "chainmine.duckdb"),
                        library=str(root / "workflows.json"), logs=str(root / "agent_logs.jsonl"))

    note("generating sample agent logs")
    if not Path(report.logs).exists():
        report.generated = generate_logs(report.logs, sessions=sessions, seed=seed).to_dict()
    else:
        report.generated = {"path": report.logs, "reused": True}

    note("ingesting them into DuckDB")
    con = connect(report.db)
    try:
        report.ingested = ingest_paths(con, [report.logs]).to_dict()
        note("mining recurring tool chains")
        miner = ChainMiner().fit(con)
    finally:
        con.close()
    workflows = list(miner.workflows_)
    if not workflows:
        raise MiningError("the demo logs produced no suggestions; this is a bug, please report it")
    report.mined = [_summary(wf) for wf in workflows]

    note("saving suggestions to the library")
    library = WorkflowLibrary(report.library)
    report.saved = library.merge_suggestions(workflows).to_dict()

    with load_registry(DEMO_TOOLS) as registry:
        available = set(registry.names())
    stored = {wf.signature(): wf for wf in library.list_all()}
    ranked = [stored.get(wf.signature(), wf) for wf in workflows]
    choice = pick_runnable(ranked, available)
    if choice is None:
        raise MiningError("no suggested workflow can run against the demo tools")
    if choice.status != "accepted":
        library.accept(choice.name, force=True)
    report.accepted = choice.name
    report.inputs = example_inputs(choice)

    note(f"running {choice.name}")
    pairs = [f"{k}={json.dumps(v)}" for k, v in report.inputs.items()]
    result = run_named_workflow(choice.name, [DEMO_TOOLS], library_path=report.library, db=report.db,
                                input_pairs=pairs, confirm=True)  # the demo tools change nothing real
    report.run = result.to_dict()
    report.run.setdefault("inputs", report.inputs)
    return report


def _summary(wf: WorkflowTemplate) -> dict[str, Any]:
    stats = wf.stats.model_dump() if wf.stats else {}
    return {"name": wf.name, "tools": wf.tools, "frequency": stats.get("frequency"),
            "sessions": stats.get("sessions"), "success_rate": stats.get("success_rate"),
            "score": stats.get("score"), "map_tools": [s.tool_name for s in wf.steps if s.map_over]}
