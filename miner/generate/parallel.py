"""Make a log's batches in worker processes and hand them back in order.

Batches are independent (each has its own random streams), so workers can
make them in any order; ``imap`` returns them in batch order and the parent
writes them and adds up the ground truth, so the file is byte-identical to
one made in a single process. On Linux workers are forked (cheap, and
``__main__`` need not be importable); they touch nothing of the parent but
the generator's own modules.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from typing import Any, Callable, Iterator

from chainmine.miner.generate.engine import BATCH_SESSIONS, LogGenerator
from chainmine.miner.generate.writer import encode_batch

log = logging.getLogger(__name__)

MIN_BATCHES_FOR_WORKERS = 50
"""Logs of fewer batches are made in this process: workers only pay off on large logs."""

_WORKER: dict[str, Any] = {}


def default_workers(batches: int) -> int:
    """Worker processes for a log of ``batches`` batches: two on a multi-core machine for large logs, else one.

    Examples
    --------
    >>> default_workers(3)
    1
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 if batches >= MIN_BATCHES_FOR_WORKERS and cores >= 2 else 1


def _init(sessions: int, seed: int, scenario: str, fmt: str) -> None:
    _WORKER["gen"] = LogGenerator(sessions=sessions, seed=seed, scenario=scenario)
    _WORKER["fmt"] = fmt


def _make(index: int) -> tuple[Any, int, dict[str, Any]]:
    gen: LogGenerator = _WORKER["gen"]
    gen.start_counting()
    batch = gen.batch(index)
    return encode_batch(batch, _WORKER["fmt"]), len(batch), gen.truth_state()


def encoded_batches(gen: LogGenerator, fmt: str, workers: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> Iterator[tuple[Any, int]]:
    """Yield ``(payload, calls)`` per batch in order, made by ``workers`` processes (1: this one).

    When the iterator is exhausted, ``gen.truth()`` holds the ground truth.

    Examples
    --------
    >>> gen = LogGenerator(sessions=30, seed=1)
    >>> sum(n for _, n in encoded_batches(gen, "jsonl", workers=1)) == gen.truth()["generator"]["calls"]
    True

    Notes
    -----
    O(C) work split over the workers; the parent only writes and adds counts.
    """
    workers = default_workers(gen.batch_count) if workers is None else max(1, workers)
    done = 0
    if workers == 1:
        for batch in gen.batches():
            yield encode_batch(batch, fmt), len(batch)
            done += 1
            if progress is not None:
                progress(min(gen.sessions, done * BATCH_SESSIONS), gen.sessions)
        return
    log.info("generating %d batches with %d worker processes", gen.batch_count, workers)
    gen.start_counting()
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with context.Pool(workers, initializer=_init, initargs=(gen.sessions, gen.seed, gen.scenario.name, fmt)) as pool:
        for payload, calls, state in pool.imap(_make, range(gen.batch_count)):
            gen.count_batch(calls, state)
            yield payload, calls
            done += 1
            if progress is not None:
                progress(min(gen.sessions, done * BATCH_SESSIONS), gen.sessions)
    gen.finish_counting()

