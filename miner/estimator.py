"""Python API of the miner: an estimator, and the pattern-detector convention.

:class:`ChainMiner` is the estimator (parameters in ``__init__``, checked in
:meth:`~ChainMiner.fit`, results in ``chains_`` and ``workflows_``).
:class:`PatternDetector` keeps the shape code written for other agent-workflow
miners expects: ``analyze_logs(logs)`` returns detected sequences and
``suggest_workflow(pattern)`` the workflow for one of them.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb

from chainmine.library.effects import EffectOverrides, load_overrides
from chainmine.library.model import WorkflowTemplate
from chainmine.miner.chains.mine import find_chains
from chainmine.miner.chains.model import Chain
from chainmine.miner.chains.params import DEFAULT_MAX_GAP, MiningParams
from chainmine.miner.errors import MiningError
from chainmine.miner.store import init_schema
from chainmine.miner.synthesis.build import PROBE_SAMPLE, dataflow_edges, synthesise
from chainmine.miner.synthesis.categories import CategoryClassifier, classifier_from_library
from chainmine.miner.synthesis.screen import flow_screen

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "spark")
"""Where the chain search runs: the DuckDB store, or Spark over canonical Parquet."""


def _library_workflows(library: Any) -> list:
    if library is None:
        return []
    if isinstance(library, (str, os.PathLike)):
        from chainmine.library.store import WorkflowLibrary

        return WorkflowLibrary(library).list_all()
    if hasattr(library, "list_all"):
        return library.list_all()
    return list(library)


class ChainMiner:
    """Mine recurring, reliable tool chains and synthesise them into workflows.

    Parameters are those of :class:`~chainmine.miner.chains.params.MiningParams`
    (``keep_all`` is the CLI's ``--all``); they are validated by :meth:`fit`.
    ``include_runs`` also mines the calls of recorded workflow runs, which are
    left out by default (see :mod:`chainmine.miner.origins`).

    Attributes
    ----------
    chains_ : list of Chain
        The mined chains, best first.
    workflows_ : list of WorkflowTemplate
        One suggested workflow per chain, same order.
    stats_ : dict
        How many chains each stage kept (frequent, reliable, cohesive, closed) and
        how many were left out because their workflow was invalid (``invalid``).
    left_out_ : list of str
        Why each ``invalid`` chain was left out.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("INSERT INTO tools VALUES (1, 'get_user'), (2, 'get_orders')")
    >>> _ = con.execute("INSERT INTO calls (id, session_id, seq, tool_id, success, args, result) "
    ...     "SELECT i, 's' || (i // 2), i, 1 + i % 2, true, "
    ...     "CASE WHEN i % 2 = 0 THEN json_object('user', 'u' || (i // 2)) "
    ...     "ELSE json_object('user', 'u' || (i // 2)) END, NULL FROM range(10) t(i)")
    >>> miner = ChainMiner(min_frequency=3).fit(con)
    >>> miner.workflows_[0].name, miner.workflows_[0].steps[1].parameters
    ('get_user_then_get_orders', {'user': '{{user}}'})
    """

    def __init__(self, min_frequency: int = 3, min_sessions: int = 2, min_success_rate: float = 0.8,
                 min_success_low: float = 0.0, min_confidence: float = 0.5, min_length: int = 2,
                 max_length: int = 6, max_gap: int = DEFAULT_MAX_GAP, closure: float = 0.9,
                 keep_all: bool = False, sample_size: int = 200, top: int | None = None,
                 min_one_call: float = 0.5, min_outcome: float = 0.0, include_runs: bool = False,
                 effects: Any = None, engine: str = "duckdb", spark_master: str | None = None,
                 spark_progress: bool = False):
        self.min_frequency = min_frequency
        self.min_sessions = min_sessions
        self.min_success_rate = min_success_rate
        self.min_success_low = min_success_low
        self.min_confidence = min_confidence
        self.min_length = min_length
        self.max_length = max_length
        self.max_gap = max_gap
        self.closure = closure
        self.keep_all = keep_all
        self.sample_size = sample_size
        self.top = top
        self.min_one_call = min_one_call
        self.min_outcome = min_outcome
        self.include_runs = include_runs
        self.effects = effects
        self.engine = engine
        self.spark_master = spark_master
        self.spark_progress = spark_progress

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters as a dict."""
        return {f.name: getattr(self, f.name) for f in fields(MiningParams)}

    def fit(self, con: Any, library: Any = None) -> "ChainMiner":
        """Mine the store behind ``con``; ``library`` (path, WorkflowLibrary or workflows) trains categories.

        With ``engine="spark"``, ``con`` is canonical Parquet (a folder, file or glob, as
        ``chainmine export --format parquet`` writes) searched on Spark at ``spark_master``
        (``local[N]``, a cluster URL or ``sc://host:port``; see :mod:`chainmine.miner.lake.spark`).
        Raises :class:`~chainmine.miner.errors.MiningError` for out-of-range parameters or an empty store.
        """
        params = MiningParams(**self.get_params()).check()
        if self.engine not in ENGINES:
            raise MiningError(f"engine must be one of {', '.join(ENGINES)}, not {self.engine!r}")
        if self.engine == "spark" and isinstance(con, (str, os.PathLike)):
            from chainmine.miner.lake.spark import LakeEngine, spark_session

            con = LakeEngine(spark_session(self.spark_master, progress=self.spark_progress), con)
        classifier = classifier_from_library(_library_workflows(library)) if library is not None else None
        probe = min(PROBE_SAMPLE, params.sample_size)
        overrides = self.effects if isinstance(self.effects, EffectOverrides) else load_overrides(self.effects)
        # The best chains are known only once their workflows are: ``top`` applies after synthesis.
        search = find_chains(con, replace(params, top=None),
                             dataflow=lambda s, cands, weak: dataflow_edges(s, cands, weak, probe),
                             screen=lambda s: flow_screen(s).likely)
        try:
            chains, workflows = synthesise(search, search.chains, sample_size=params.sample_size,
                                           classifier=classifier, overrides=overrides, params=params)
            self.chains_, self.workflows_ = chains[:params.top], workflows[:params.top]
        finally:
            search.close()
        self.stats_ = dict(search.stats)
        self.left_out_ = list(search.notes.get("invalid", []))
        self.classifier_: CategoryClassifier | None = classifier
        return self


@dataclass(frozen=True)
class MineReport:
    """What :func:`mine_store` found, and what ``save`` merged into the library.

    Examples
    --------
    >>> MineReport((), (), {"frequent": 0}).to_json()
    []
    """

    workflows: tuple[WorkflowTemplate, ...]
    chains: tuple[Chain, ...]
    stats: dict[str, int]
    saved: Any = None
    library: str | None = None
    left_out: tuple[str, ...] = ()

    def to_json(self) -> list[dict[str, Any]]:
        """The ``mine --json`` document: workflow dicts, best first."""
        return [wf.to_dict() for wf in self.workflows]


def mine_store(db: str | os.PathLike | None = None, *, library: str | os.PathLike | None = None,
               save: bool = False, source: str | os.PathLike | None = None, **params: Any) -> MineReport:
    """Mine the store at ``db`` (opened read-only) and optionally save the suggestions.

    Parameters
    ----------
    db : DuckDB file (default ``$CHAINMINE_DB`` or ``./chainmine.duckdb``).
    library : workflow library file; when it exists its categorised workflows
        train the category classifier, and ``save`` merges the suggestions into it.
    save : merge the workflows into ``library`` as ``suggested``
        (:meth:`chainmine.library.store.WorkflowLibrary.merge_suggestions`).
    source : canonical Parquet to mine instead of ``db`` (with ``engine="spark"``).
    **params : :class:`ChainMiner` parameters.

    Examples
    --------
    >>> import os, tempfile
    >>> from chainmine.miner.store import connect
    >>> path = os.path.join(tempfile.mkdtemp(), "m.duckdb"); connect(path).close()
    >>> mine_store(path)
    Traceback (most recent call last):
    ...
    chainmine.miner.errors.EmptyStoreError: no tool calls yet: run chainmine ingest
    """
    from chainmine.library.store import WorkflowLibrary
    from chainmine.miner.store import connect

    miner = ChainMiner(**params)
    lib = WorkflowLibrary(library) if library is not None else None
    known = lib if lib is not None and lib.path.exists() else None
    if miner.engine == "spark":
        if source is None:
            raise MiningError("the spark engine mines Parquet: pass --source DIR (chainmine export --format parquet)")
        miner.fit(source, library=known)
    else:
        con = connect(db, read_only=True)
        # DuckDB may draw a progress bar on stdout during long queries, which would corrupt --json.
        con.execute("SET enable_progress_bar = false")
        try:
            miner.fit(con, library=known)
        finally:
            con.close()
    saved = lib.merge_suggestions(miner.workflows_) if save and lib is not None else None
    return MineReport(tuple(miner.workflows_), tuple(miner.chains_), dict(miner.stats_), saved,
                      None if lib is None else str(lib.path), tuple(miner.left_out_))


@dataclass(frozen=True)
class ToolSequence:
    """A detected sequence of tool calls with its evidence.

    Examples
    --------
    >>> ToolSequence(("a", "b"), 5, 4, 1.0, 120.0).tools
    ('a', 'b')
    """

    tools: tuple[str, ...]
    frequency: int
    sessions: int
    success_rate: float
    avg_duration_ms: float | None
    success_rate_low: float = 0.0
    parallel_groups: tuple[tuple[int, ...], ...] = ()

    @classmethod
    def from_chain(cls, chain: Chain) -> "ToolSequence":
        """The sequence view of a mined :class:`Chain`."""
        return cls(chain.tools, chain.frequency, chain.sessions, chain.success_rate, chain.avg_duration_ms,
                   chain.success_rate_low, chain.parallel_groups)


def load_logs(logs: Any) -> duckdb.DuckDBPyConnection:
    """A store connection holding ``logs``: a connection (returned as is), a DataFrame or a list of dicts.

    Records use the canonical shape (and its aliases); they are ingested into an
    in-memory store with the regular ingest, so validation and rejects apply.

    Examples
    --------
    >>> con = load_logs([{"session_id": "s", "tool": "a", "seq": 1}, {"session_id": "s", "tool": "b", "seq": 2}])
    >>> con.execute("SELECT count(*) FROM calls").fetchone()[0]
    2
    """
    if isinstance(logs, duckdb.DuckDBPyConnection):
        return logs
    import pandas as pd  # only this entry point needs it; keeps `chainmine mine` start-up short

    if isinstance(logs, pd.DataFrame):
        frame = logs
    elif isinstance(logs, Iterable) and not isinstance(logs, (str, bytes, dict)):
        frame = pd.DataFrame(list(logs))
    else:
        raise MiningError("logs must be a list of call records (dicts), a pandas DataFrame or a DuckDB "
                          f"connection to a chainmine store, not {type(logs).__name__}")
    from chainmine.miner.ingest import ingest_paths

    con = duckdb.connect()
    init_schema(con)
    if frame.empty:
        return con
    with tempfile.TemporaryDirectory(prefix="chainmine-logs-") as tmp:
        path = Path(tmp) / "logs.jsonl"
        frame.to_json(path, orient="records", lines=True, date_format="iso", default_handler=str)
        ingest_paths(con, [path], format="canonical")
    return con


class PatternDetector:
    """Detect recurring tool sequences in agent logs and suggest workflows for them.

    Parameters
    ----------
    min_frequency, min_success_rate, min_sessions : support and reliability thresholds.
    **options : any other :class:`ChainMiner` parameter (``max_gap``, ``min_confidence`` ...).

    Examples
    --------
    >>> logs = [{"session_id": f"s{i}", "seq": k, "tool": t, "args": {"id": f"u{i}"}}
    ...         for i in range(4) for k, t in enumerate(["find_user", "get_orders"])]
    >>> detector = PatternDetector(min_frequency=3)
    >>> [(s.tools, s.frequency) for s in detector.analyze_logs(logs)]
    [(('find_user', 'get_orders'), 4)]
    >>> detector.suggest_workflow(detector.sequences_[0]).steps[1].parameters
    {'id': '{{id}}'}
    """

    def __init__(self, min_frequency: int = 3, min_success_rate: float = 0.8, min_sessions: int = 2,
                 **options: Any):
        self.min_frequency = min_frequency
        self.min_success_rate = min_success_rate
        self.min_sessions = min_sessions
        self.options = options

    def analyze_logs(self, logs: Any, library: Any = None) -> list[ToolSequence]:
        """Mine ``logs`` (see :func:`load_logs`) and return the detected sequences, best first."""
        try:
            miner = ChainMiner(min_frequency=self.min_frequency, min_success_rate=self.min_success_rate,
                               min_sessions=self.min_sessions, **self.options)
        except TypeError as exc:
            raise MiningError(f"unknown PatternDetector option: {exc}; use ChainMiner's parameter names") from None
        self.miner_ = miner.fit(load_logs(logs), library=library)
        self.sequences_ = [ToolSequence.from_chain(c) for c in self.miner_.chains_]
        return list(self.sequences_)

    def suggest_workflow(self, pattern: ToolSequence | Chain | Sequence[str]) -> WorkflowTemplate:
        """The suggested workflow for a detected sequence (or its tool names)."""
        if not hasattr(self, "miner_"):
            raise MiningError("no sequences yet: call analyze_logs(logs) first")
        tools = tuple(pattern.tools if hasattr(pattern, "tools") else pattern)
        for chain, wf in zip(self.miner_.chains_, self.miner_.workflows_):
            if tools == chain.tools or tools in chain.variants:
                return wf
        raise MiningError(f"no detected sequence {' -> '.join(tools)}; pick one returned by analyze_logs")
