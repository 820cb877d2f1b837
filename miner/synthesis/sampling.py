"""Sample occurrences of mined chains with the arguments and results of their calls.

The sample is drawn in SQL (:meth:`chainmine.miner.chains.chain_search.ChainSearch.sample_events`)
and deterministic; only the sampled calls are read and parsed here, so this
bounded Python loop never touches the whole log.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from chainmine.miner.chains.chain_search import ChainSearch
from chainmine.miner.chains.model import Chain
from chainmine.miner.synthesis.values import parse_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRecord:
    """One logged call as synthesis sees it (``args``/``result`` parsed from JSON).

    Examples
    --------
    >>> CallRecord("s1", {"id": 1}, "ok", True, 12.0, None, None).args
    {'id': 1}
    """

    session_id: str
    args: Any
    result: Any
    success: bool
    duration_ms: float | None
    cost: float | None
    ts_ms: float | None
    rid: int = -1
    """How the search's events refer to the call (``rowid`` or a hash of ``id``; -1 when built by hand)."""


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a chain: the calls of each step, in the chain's step order.

    A step holds several calls when the tool was called repeatedly in a row.

    Examples
    --------
    >>> c = CallRecord("s1", {}, None, True, None, None, None)
    >>> Occurrence("s1", ((c,), (c, c))).calls
    3
    """

    session_id: str
    steps: tuple[tuple[CallRecord, ...], ...]
    start: tuple[int, int] | None = None
    """``(session hash, position of the first call)`` in the search's events, when sampled from a store."""

    @property
    def calls(self) -> int:
        """Number of calls in the occurrence."""
        return sum(len(s) for s in self.steps)


def _loads(text: Any) -> Any:
    if text is None:
        return None
    try:
        return parse_text(json.loads(text)) if isinstance(text, str) else text
    except ValueError:
        return text


def fetch_calls(search: ChainSearch, rids: Sequence[int]) -> dict[int, CallRecord]:
    """Read and parse the calls with the given row ids (one query; parsed calls are cached on ``search``).

    Examples
    --------
    >>> fetch_calls.__name__
    'fetch_calls'
    """
    cache: dict[int, CallRecord] = search.cache.setdefault("calls", {})
    missing = sorted({int(r) for r in rids} - cache.keys())
    if missing:
        # Events refer to calls by rowid or by a hash of their id (see chainmine.miner.chains.events).
        ref = search.summary.ref
        rows = search.con.execute(
            f"SELECT {ref}, session_id, args::VARCHAR, result::VARCHAR, success, duration_ms, cost, "
            f"epoch_ms(ts)::DOUBLE FROM calls WHERE {ref} IN (SELECT unnest($rids::BIGINT[]))",
            {"rids": missing}).fetchall()
        for rid, session, args, result, ok, dur, cost, ts in rows:
            cache[int(rid)] = CallRecord(session, _loads(args), _loads(result), bool(ok),
                                         None if dur is None else float(dur),
                                         None if cost is None else float(cost), ts, int(rid))
    return {int(r): cache[int(r)] for r in rids if int(r) in cache}


def call_refs(rid: Any, rids: Sequence[Any] | None) -> list[int]:
    """The calls of an event as integers: every call of a run, else the one call.

    Examples
    --------
    >>> call_refs("7", None), call_refs(3, ["3", "4"])
    ([7], [3, 4])
    """
    return [int(r) for r in rids] if rids is not None else [int(rid)]


def _match(events: list[tuple], tool_ids: Sequence[int], max_gap: int) -> list[int] | None:
    """Indices of ``events`` that spell ``tool_ids`` with at most ``max_gap`` calls between steps."""

    def walk(i: int, step: int) -> list[int] | None:
        if step == len(tool_ids):
            return []
        start = i + 1 if step else 0
        for j in range(start, len(events)):
            if step and events[j][0] - events[i][1] - 1 > max_gap:
                break
            if events[j][2] == tool_ids[step]:
                rest = walk(j, step + 1)
                if rest is not None:
                    return [j] + rest
            if not step:
                break
        return None

    return walk(0, 0)


def step_positions(chain: Chain, variant: int) -> list[int]:
    """For each position of variant ``variant``, the index of its step in ``chain.tools``.

    Variants share slot boundaries, so a position maps to the step of the same
    tool inside the same slot.

    Examples
    --------
    >>> c = Chain(("a", "b", "c"), 4, 2, 1.0, 0.5, None, None, 3.0, 1.0, parallel_groups=((1, 2),),
    ...           variants=(("a", "b", "c"), ("a", "c", "b")))
    >>> step_positions(c, 1)
    [0, 2, 1]
    """
    order = chain.variants[variant] if chain.variants else chain.tools
    out = []
    for slot in chain.slot_indices:
        for pos in slot:
            out.append(next(i for i in slot if chain.tools[i] == order[pos]))
    return out


def sample_occurrences(search: ChainSearch, chains: Sequence[Chain], size: int) -> list[list[Occurrence]]:
    """Up to ``size`` occurrences of each chain, with their calls, in a stable order.

    Parameters
    ----------
    search : the search that found ``chains`` (its temporary tables must still exist).
    chains : chains from that search.
    size : occurrences per chain.

    Returns
    -------
    list of list of Occurrence
        One list per chain, in the order of ``chains``.

    Examples
    --------
    >>> sample_occurrences.__name__
    'sample_occurrences'

    Notes
    -----
    Two queries in all; O(size * k) Python work per chain of k steps.
    """
    rows = search.sample_events(chains, size)
    refs = [call_refs(row[7], row[8]) for row in rows]
    records = fetch_calls(search, [r for run in refs for r in run])
    grouped: dict[tuple, list[tuple]] = defaultdict(list)
    order: list[tuple] = []
    for (cid, variant, sid, occ, spos, epos, tool, _, _), run in zip(rows, refs):
        key = (cid, variant, sid, occ)
        if key not in grouped:
            order.append(key)
        grouped[key].append((spos, epos, tool, run))
    out: list[list[Occurrence]] = [[] for _ in chains]
    for cid, variant, sid, occ in order:
        chain = chains[cid]
        names = chain.variants[variant] if chain.variants else chain.tools
        ids = [search.tool_ids[t] for t in names]
        events = grouped[(cid, variant, sid, occ)]
        picked = _match(events, ids, search.params.max_gap)
        if picked is None:
            log.debug("occurrence of %s at %s could not be matched", names, occ)
            continue
        steps: list[tuple[CallRecord, ...]] = [()] * len(chain.tools)
        for pos, (event_idx, step) in enumerate(zip(picked, step_positions(chain, variant))):
            steps[step] = tuple(records[r] for r in events[event_idx][3] if r in records)
        if any(not s for s in steps):
            continue
        out[cid].append(Occurrence(steps[0][0].session_id, tuple(steps), (int(sid), int(occ))))
    return out
