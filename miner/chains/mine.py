"""Find the chains worth suggesting: frequent, reliable, cohesive, merged and closed.

:func:`find_chains` runs the whole selection on a
:class:`~chainmine.miner.chains.chain_search.ChainSearch`, which keeps the
temporary occurrence tables so synthesis can sample occurrences of the
surviving chains afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

import duckdb

from chainmine.miner.chains.chain_search import ChainSearch, DataflowCheck, search_engine
from chainmine.miner.chains.model import Chain, slot_positions, wilson_lower
from chainmine.miner.chains.params import MiningParams
from chainmine.miner.chains.redundancy import closed_mask, connected, insertion_ratios, junction_confidence
from chainmine.miner.chains.search import Support, search_levels
from chainmine.miner.chains.variants import frequent_patterns, rival_pairs, search_floor, variant_growth
from chainmine.miner.errors import EmptyStoreError

log = logging.getLogger(__name__)

def _passes_success(p: MiningParams, successes: int, n: int) -> bool:
    return n > 0 and successes / n >= p.min_success_rate and wilson_lower(successes, n) >= p.min_success_low


def growth_rule(min_confidence: float, likely: Callable[[int, int], bool] | None = None
                ) -> Callable[[tuple, dict], bool]:
    """Which frequent chains the level-wise search keeps growing.

    A chain grows when its newest junction could be part of a workflow: the
    chain before it usually goes on to the new step, or the new step is
    usually reached from it (both at ``min_confidence``), or it usually goes on
    to the last two steps in one order or the other (they may commute), or
    ``likely(earlier tool, new tool)`` says some earlier step passes it data. Two workflows or a stray
    call side by side fail all four, so their many coincidental continuations
    are never counted; this is what keeps the search proportional to the real
    workflows rather than to every juxtaposition in the log.

    Examples
    --------
    >>> rule = growth_rule(0.5)
    >>> f = {(1,): 100, (2,): 100, (3,): 100, (1, 2): 90, (2, 3): 10, (3, 2): 9}
    >>> rule((1, 2), f), rule((2, 3), f)
    (True, False)

    Notes
    -----
    O(k) per chain of k steps.
    """
    def extend(tools: tuple, frequency: dict) -> bool:
        if len(tools) < 2:
            return True
        f = frequency[tools]
        if f >= min_confidence * frequency.get(tools[:-1], f) or f >= min_confidence * frequency.get(tools[-1:], f):
            return True
        swapped = frequency.get(tools[:-2] + (tools[-1], tools[-2]), 0)
        if swapped and f + swapped >= min_confidence * frequency.get(tools[:-1], f + swapped):
            return True
        return likely is not None and any(likely(t, tools[-1]) for t in tools[:-1])

    return extend


def find_chains(con: duckdb.DuckDBPyConnection, params: MiningParams | None = None, *,
                dataflow: DataflowCheck | None = None,
                screen: Callable[["ChainSearch"], Callable[[int, int], bool]] | None = None) -> ChainSearch:
    """Mine the chains worth suggesting, ranked best first.

    Stages: frequent chains (both supports, the frequency counted over a
    chain's orders together; only chains passing :func:`growth_rule` are grown,
    see :func:`~chainmine.miner.chains.variants.variant_growth`) -> order variants grouped
    into patterns with parallel slots, kept when their orders together are
    frequent -> reliable (success rate and its Wilson lower bound) -> cohesive
    (no inner step is a stray call, and every junction passes ``min_confidence``
    with the Wilson 95% lower bound of its share (see
    :func:`~chainmine.miner.chains.redundancy.junction_confidence`) or, when ``dataflow``
    is given, has data flowing across it; the chain must stay in one piece, see
    :func:`~chainmine.miner.chains.redundancy.connected`) -> closed against every
    frequent pattern (unless ``keep_all``) ->
    ranked by :func:`chainmine.miner.chains.model.chain_score` -> occurrences two chains
    both hold left to the better-ranked one (unless ``keep_all``; see
    :mod:`chainmine.miner.chains.variants`) -> ``top``.

    Parameters
    ----------
    con : store connection (read-only is enough), or an engine holding the calls
        (:class:`chainmine.miner.lake.spark.LakeEngine` mines Parquet on Spark).
    params : thresholds; validated here.
    dataflow : callback judging the junctions that fail ``min_confidence``.
    screen : ``screen(search)`` returns ``likely(tool_id, tool_id)``, whether the
        first tool was seen passing data to the second; it steers :func:`growth_rule`.

    Raises
    ------
    MiningError
        A parameter is out of range, or the store holds no calls.

    Examples
    --------
    >>> from chainmine.miner.chains.search import toy_store
    >>> [c.tools for c in find_chains(toy_store("ab", 5)).chains]
    [('a', 'b')]

    Notes
    -----
    The SQL search dominates (see :func:`chainmine.miner.chains.search.search_levels`);
    the selection is O(C * 2^k) over C frequent chains of at most k steps.
    """
    p = (params or MiningParams()).check()
    engine = search_engine(con)
    if engine.count_calls(p.include_runs) == 0:
        runs = 0 if p.include_runs else engine.count_calls(include_runs=True)
        raise EmptyStoreError("no tool calls yet: run chainmine ingest" if not runs else
                              f"no logged tool calls, only {runs} from workflow runs: ingest logs, "
                              "or pass --include-runs to mine the runs")
    summary = engine.prepare_events(p.include_runs)
    codec = engine.codec(summary.max_tool_id, p.max_length)
    names = dict(engine.tool_names())
    search = engine.new_search(p, codec, summary, {v: k for k, v in names.items()})
    likely = screen(search) if screen is not None else None
    # Orders of one workflow are counted apart; the search goes low enough to see every order
    # that could merge, and only grows the rarer ones while their family is frequent.
    found = search_levels(engine, codec, min_frequency=search_floor(p.min_frequency), min_sessions=p.min_sessions,
                          max_length=p.max_length, max_gap=p.max_gap,
                          extend=variant_growth(p.min_frequency, growth_rule(p.min_confidence, likely)))
    supports = {tools: s for tools, s in found.values()}
    frequency = {tools: s.frequency for tools, s in supports.items()}
    patterns = frequent_patterns(frequency, p.min_length, p.min_frequency)
    search.stats["frequent"] = len(patterns)

    cands = [(m, sl) for m, sl in patterns
             if _passes_success(p, sum(supports[t].successes for t in m), sum(frequency[t] for t in m))]
    search.stats["reliable"] = len(cands)
    # A step found between two others in few of their occurrences is a stray call.
    cands = [(m, sl) for m, sl in cands if min(insertion_ratios(sl, frequency), default=1.0) >= p.min_confidence]
    chains, failing = [], []
    for members, slots in cands:
        conf = junction_confidence(slots, frequency)
        low = junction_confidence(slots, frequency, lower=True)
        chains.append(_chain(search, members, slots, supports, min(conf, default=1.0), names))
        failing.append({i for i, c in enumerate(low, 1) if c < p.min_confidence})
    weak = [n for n, f in enumerate(failing) if f]
    if weak and dataflow is not None:
        flows = dataflow(search, [chains[n] for n in weak], [failing[n] for n in weak])
        for n, edges in zip(weak, flows):
            if connected(slot_positions(chains[n]), failing[n], edges):
                chains[n] = replace(chains[n], dataflow_junctions=tuple(sorted(failing[n])))
                failing[n] = set()
    chains = [c for c, f in zip(chains, failing) if not f]
    search.stats["cohesive"] = len(chains)
    if not p.keep_all:
        chains = _closed(search, chains, patterns, frequency)
    search.stats["closed"] = len(chains)
    chains = [replace(c, sessions=n) for c, n in zip(chains, search.session_counts(chains))]
    chains.sort(key=lambda c: (-c.score, -c.frequency, c.tools))
    if not p.keep_all:
        chains = _share_occurrences(search, chains, names)
        chains.sort(key=lambda c: (-c.score, -c.frequency, c.tools))
    search.chains = chains[:p.top] if p.top else chains
    log.info("chains: %s", search.stats)
    return search


def _closed(search: ChainSearch, chains: list[Chain], patterns: list, frequency: dict[tuple, int]) -> list[Chain]:
    """Closed chains; every frequent pattern may absorb them.

    A longer chain that holds nearly all occurrences of a shorter one makes the
    shorter one redundant even when it is not suggested itself (for example
    because its last step often fails).
    """
    p = search.params
    judged = [(tuple(tuple(search.tool_ids[x] for x in s) for s in c.slots), c.frequency) for c in chains]
    absorbers = [(slots, sum(frequency[t] for t in members)) for members, slots in patterns
                 if len(members[0]) > p.min_length]
    mask = closed_mask(judged, p.closure, min_length=p.min_length, max_gap=p.max_gap, absorbers=absorbers)
    return [c for c, keep in zip(chains, mask) if keep]


def _share_occurrences(search: ChainSearch, chains: list[Chain], names: dict[int, str]) -> list[Chain]:
    """Chains (ranked) that never count one occurrence twice: the better-ranked chain keeps a shared one.

    See :mod:`chainmine.miner.chains.variants`. A chain that gave some up is recounted on
    the rest and kept only if it still meets the thresholds.
    """
    p = search.params
    slots = [tuple(tuple(search.tool_ids[x] for x in s) for s in c.slots) for c in chains]
    involved = sorted({i for pair in rival_pairs(slots, p.max_gap) for i in pair})
    if not involved:
        return chains
    local = {g: n for n, g in enumerate(involved)}
    counts = search.shared_occurrences([chains[i] for i in involved])
    shared = {(involved[a], involved[b]) for (a, b), n in counts.items() if n}
    kept: list[int] = []
    out = []
    for i, chain in enumerate(chains):
        rivals = [k for k in kept if (k, i) in shared]
        if rivals:
            search.stats["recounted"] = search.stats.get("recounted", 0) + 1
            sups, sessions = search.recount(local[i], chain, [local[k] for k in rivals])
            chain = _recounted(search, chain, sups, sessions, names)
            if chain is None:
                continue
        kept.append(i)
        out.append(chain)
    log.info("shared occurrences: %d chains recounted, %d dropped", search.stats.get("recounted", 0),
             len(chains) - len(out))
    return out


def _recounted(search: ChainSearch, chain: Chain, sups: list[Support], sessions: int,
               names: dict[int, str]) -> Chain | None:
    p = search.params
    ok, n = sum(s.successes for s in sups), sum(s.frequency for s in sups)
    if n < p.min_frequency or sessions < p.min_sessions or not _passes_success(p, ok, n):
        return None
    members = tuple(tuple(search.tool_ids[t] for t in v) for v in chain.variants)
    slots = tuple(tuple(search.tool_ids[t] for t in s) for s in chain.slots)
    fresh = _chain(search, members, slots, dict(zip(members, sups)), chain.confidence, names)
    return replace(fresh, sessions=sessions, dataflow_junctions=chain.dataflow_junctions)


def _chain(search: ChainSearch, members: tuple, slots: tuple, supports: dict[tuple, Support],
           confidence: float, names: dict[int, str]) -> Chain:
    """The :class:`Chain` of a pattern: figures summed (counts) or frequency-weighted (averages)."""
    sups = [supports[t] for t in members]
    freq = sum(s.frequency for s in sups)
    ok = sum(s.successes for s in sups)
    groups, pos = [], 0
    for slot in slots:
        if len(slot) > 1:
            groups.append(tuple(range(pos, pos + len(slot))))
        pos += len(slot)

    def weighted(attr: str) -> float | None:
        vals = [(getattr(s, attr), s.frequency) for s in sups if getattr(s, attr) is not None]
        return sum(v * f for v, f in vals) / sum(f for _, f in vals) if vals else None

    return Chain(tuple(names[t] for t in members[0]), frequency=freq, sessions=sups[0].sessions,
                 success_rate=ok / freq, success_rate_low=wilson_lower(ok, freq),
                 avg_duration_ms=weighted("avg_duration_ms"),
                 avg_cost=weighted("avg_cost") if search.summary.has_cost else None,
                 avg_calls=weighted("avg_calls") or 0.0, confidence=confidence, parallel_groups=tuple(groups),
                 variants=tuple(tuple(names[x] for x in t) for t in members),
                 keys=tuple(search.codec.encode(t) for t in members))
