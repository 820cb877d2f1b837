"""Synthetic agent tool-call logs with planted workflows, noise, failures and ground truth.

>>> import tempfile, os, json
>>> out = os.path.join(tempfile.mkdtemp(), "logs.jsonl")
>>> report = generate_logs(out, sessions=50, seed=7)
>>> truth = json.load(open(report.truth_path))
>>> truth["generator"]["calls"] == report.calls == sum(1 for _ in open(out))
True

``generate_records`` yields the same rows as dicts (tests, benchmarks);
:mod:`chainmine.miner.generate.tools` exposes the demo tools behind every result.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from chainmine.miner.generate.engine import Batch, LogGenerator
from chainmine.miner.generate.parallel import encoded_batches
from chainmine.miner.generate.scenarios import DEFAULT_SCENARIO, SCENARIOS, Scenario
from chainmine.miner.generate.spec import GenerateError
from chainmine.miner.generate.writer import FIELDS, resolve_format, truth_path_for, write_encoded, write_truth

log = logging.getLogger(__name__)

DEFAULT_SESSIONS = 2000
DEFAULT_SEED = 7


@dataclass(frozen=True)
class GenerateReport:
    """What :func:`generate_logs` wrote.

    Examples
    --------
    >>> GenerateReport("a.jsonl", "a.truth.json", "jsonl", 1, 2, 1, 3, 7, "mixed", 0.1).to_dict()["calls"]
    2
    """

    path: str
    truth_path: str
    format: str
    sessions: int
    calls: int
    workflows: int
    occurrences: int
    seed: int
    scenario: str
    seconds: float
    planted: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        data = asdict(self)
        data["planted"] = list(self.planted)
        return data


def generate_logs(out: str | os.PathLike, sessions: int = DEFAULT_SESSIONS, seed: int = DEFAULT_SEED,
                  scenario: str = DEFAULT_SCENARIO, *, format: str | None = None,
                  truth: str | os.PathLike | None = None, workers: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> GenerateReport:
    """Write synthetic logs to ``out`` and their ground truth beside them.

    Parameters
    ----------
    out : path
        ``.jsonl``, ``.csv`` (either may end ``.gz``) or ``.parquet`` (``format`` overrides the suffix).
    sessions, seed, scenario
        How many sessions, the random seed (same seed, same bytes) and the
        scenario name (:data:`SCENARIOS`).
    truth : path, optional
        Where the ground truth goes; default ``<out without suffix>.truth.json``.
    workers : int, optional
        Processes making batches (default: two from 50,000 sessions on a
        multi-core machine, else one); the output is the same for any number.
    progress : callable, optional
        Called as ``progress(sessions_done, sessions_total)`` after each batch.

    Returns
    -------
    GenerateReport

    Examples
    --------
    >>> import tempfile, os
    >>> r = generate_logs(os.path.join(tempfile.mkdtemp(), "d.parquet"), sessions=10, scenario="devops")
    >>> r.format, r.truth_path.endswith("d.truth.json")
    ('parquet', True)

    Notes
    -----
    O(C) time for C calls, split over the workers, and O(batch) memory per
    process: batches are written as they are made.
    """
    fmt, gz = resolve_format(out, format)
    truth_path = Path(truth) if truth is not None else truth_path_for(out)
    if Path(truth_path).resolve() == Path(out).resolve():
        raise GenerateError(f"the truth file would overwrite the log {out}; pass another --truth")
    started = time.perf_counter()
    gen = LogGenerator(sessions=sessions, seed=seed, scenario=scenario)
    calls = write_encoded(encoded_batches(gen, fmt, workers, progress), out, fmt, gz)
    document = gen.truth()
    write_truth(document, truth_path)
    seconds = time.perf_counter() - started
    log.info("wrote %d calls to %s in %.1fs", calls, out, seconds)
    return GenerateReport(path=str(out), truth_path=str(truth_path), format=fmt + (".gz" if gz else ""),
                          sessions=sessions, calls=calls, workflows=len(document["workflows"]),
                          occurrences=sum(w["occurrences"] for w in document["workflows"]),
                          seed=seed, scenario=gen.scenario.name, seconds=round(seconds, 3),
                          planted=tuple({k: w[k] for k in ("name", "domain", "reliable", "tools", "occurrences",
                                                           "sessions", "success_rate")}
                                        for w in document["workflows"]))


def generate_records(sessions: int = DEFAULT_SESSIONS, seed: int = DEFAULT_SEED, scenario: str = DEFAULT_SCENARIO,
                     *, annotate: bool = False) -> Iterator[dict[str, Any]]:
    """Yield the generated calls as canonical record dicts, in file order.

    With ``annotate=True`` each record also has a ``"_planted"`` key: ``None``
    for a stray call, else ``{"workflow", "occurrence", "step", "item", "retry"}``.
    The values equal what :func:`generate_logs` writes for the same arguments.
    Equal results may be one shared object (tool results are memoised): copy
    before changing them.

    Examples
    --------
    >>> rows = list(generate_records(sessions=5, seed=1, scenario="research"))
    >>> sorted(rows[0]) == sorted(FIELDS)
    True
    """
    for batch in LogGenerator(sessions=sessions, seed=seed, scenario=scenario, annotate=annotate).batches():
        columns = [getattr(batch, f) for f in FIELDS]
        if annotate:
            for values, planted in zip(zip(*columns), batch.planted):
                record = dict(zip(FIELDS, values))
                record["_planted"] = planted
                yield record
        else:
            for values in zip(*columns):
                yield dict(zip(FIELDS, values))


__all__ = ["Batch", "DEFAULT_SCENARIO", "FIELDS", "GenerateError", "GenerateReport", "LogGenerator", "SCENARIOS",
           "Scenario", "generate_logs", "generate_records", "truth_path_for"]
