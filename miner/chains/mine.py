"""Find the chains worth suggesting: frequent, reliable, cohesive, merged and closed.

:func:`find_chains` runs the whole selection; :class:`ChainSearch` keeps the
temporary occurrence tables so synthesis can sample occurrences of the
surviving chains afterwards (:meth:`ChainSearch.sample_events`).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import duckdb

from chainmine.miner.chains.engine import DuckEngine, engine_of
from chainmine.miner.chains.events import prepare_events
from chainmine.miner.chains.keys import KeyCodec
from chainmine.miner.chains.model import Chain, slot_positions, wilson_lower
from chainmine.miner.chains.params import MiningParams
from chainmine.miner.chains.redundancy import closed_mask, connected, insertion_ratios, junction_confidence
from chainmine.miner.chains.search import (EventSummary, Support, drop_tables, occurrence_relation,
                                 search_levels)
from chainmine.miner.chains.variants import frequent_patterns, rival_pairs, search_floor, variant_growth
from chainmine.miner.errors import EmptyStoreError
from chainmine.miner.origins import count_calls

log = logging.getLogger(__name__)

SAMPLE_WINDOW = 2048
"""Consecutive calls (by rowid) that sampling takes or leaves together: one DuckDB
vector, the unit a scan decompresses."""
SAMPLE_SPREAD = 32
"""Windows a sample spans at least: no more than ``size / SAMPLE_SPREAD`` occurrences come from one."""


def sample_plan(calls: int, occurrences: int, size: int) -> tuple[int, int]:
    """``(modulus, cap)`` for sampling ``size`` of ``occurrences`` spread over ``calls``.

    Windows of :data:`SAMPLE_WINDOW` calls are kept when the hash of their number
    is divisible by ``modulus`` (so that about ``4 * size`` occurrences remain),
    and at most ``cap`` occurrences are taken from each. Every chain ranks windows
    by the same hash, so the samples of frequent chains come from the same few
    windows of the log, while each still spans :data:`SAMPLE_SPREAD` of them.

    Examples
    --------
    >>> sample_plan(10_000_000, 50_000, 200), sample_plan(1_000_000, 50_000, 200)
    ((36, 6), (3, 6))
    >>> sample_plan(1_000_000, 100, 200)
    (1, 6)

    Notes
    -----
    O(1).
    """
    cap = max(1, size // SAMPLE_SPREAD)
    windows = max(1, -(-int(calls) // SAMPLE_WINDOW))
    holding = max(1, min(int(occurrences), windows))
    per_window = min(cap, max(int(occurrences) / windows, 1.0))
    return max(1, int(holding * per_window // (4 * size))), cap


DataflowCheck = Callable[["ChainSearch", list[Chain], list[set[int]]], list[set[tuple[int, int]]]]
"""Given candidate chains and the weak junctions of each, return the ``(earlier, later)`` step
pairs (indices into ``Chain.tools``) between which data flows."""


class StoreEngine(DuckEngine):
    """A search over a DuckDB store: :class:`DuckEngine` plus the store's events, codec and search.

    Examples
    --------
    >>> from chainmine.miner.chains.search import toy_store
    >>> search_engine(toy_store("ab", 3)).count_calls()
    6
    """

    def count_calls(self, include_runs: bool = False) -> int:
        """Calls to mine: logged ones, plus those of recorded runs when ``include_runs``."""
        return count_calls(self.con, include_runs)

    def prepare_events(self, include_runs: bool = False) -> Any:
        """Make ``_cm_ev`` the events of the calls; returns their :class:`~chainmine.miner.chains.events.EventSummary`."""
        return prepare_events(self.con, include_runs)

    def codec(self, max_tool_id: int, max_length: int) -> Any:
        """The key codec for this many tools and steps (see :class:`~chainmine.miner.chains.keys.KeyCodec`)."""
        return KeyCodec.for_tools(max_tool_id, max_length)

    def new_search(self, params: Any, codec: Any, summary: Any, tool_ids: dict[str, int]) -> Any:
        """The :class:`~chainmine.miner.chains.mine.ChainSearch` of one search on this engine."""
        return ChainSearch(self.con, params, codec, summary, tool_ids, engine=self)


def search_engine(con: Any) -> DuckEngine:
    """The engine a search runs on: ``con`` itself when it brings its own (Spark), else a store's.

    Examples
    --------
    >>> type(search_engine(duckdb.connect())).__name__
    'StoreEngine'
    """
    if isinstance(con, DuckEngine) and type(con) is not DuckEngine:
        return con
    return StoreEngine(con.con if isinstance(con, DuckEngine) else con)


@dataclass
class ChainSearch:
    """The outcome of :func:`find_chains` plus what sampling needs.

    ``chains`` are ranked best first; ``stats`` counts what each stage kept and
    ``notes`` says why chains were left out where a count alone does not.
    Call :meth:`close` to drop the temporary tables.

    Examples
    --------
    >>> ChainSearch.close.__doc__
    'Drop the temporary tables of this search.'

    """

    con: duckdb.DuckDBPyConnection
    params: MiningParams
    codec: KeyCodec
    summary: EventSummary
    tool_ids: dict[str, int]
    chains: list[Chain] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    """Scratch space for synthesis (parsed calls, screens) shared across samples of this search."""
    engine: DuckEngine | None = field(default=None, repr=False)
    """Where the occurrences live (default: DuckDB on ``con``); ``con`` holds the calls synthesis reads."""

    def __post_init__(self) -> None:
        if self.engine is None:
            self.engine = engine_of(self.con)

    def _select(self, chains: Sequence[Chain], size: int = 1) -> list[int]:
        """Register the keys of ``chains`` in ``_cm_sel``; return the chain lengths present."""
        sel = []
        for cid, chain in enumerate(chains):
            modulus, cap = sample_plan(self.summary.calls, chain.frequency, size)
            for vid, key in enumerate(chain.keys):
                sel.append((self.codec.to_text(key), cid, vid, len(chain.tools), modulus, cap))
        if not sel:
            return []
        cols = list(zip(*sel))
        types = (self.codec.sql_type, "INTEGER", "INTEGER", "INTEGER", "BIGINT", "BIGINT")
        names = ("key", "cid", "variant", "level", "modulus", "cap")
        self.engine.frame("_cm_sel", {n: (t, c) for n, t, c in zip(names, types, cols)})
        return sorted(set(cols[3]))

    def _occurrences(self, level: int) -> str:
        """The relation holding every occurrence of the selected chains of length ``level``."""
        return occurrence_relation(self.engine, self.codec, level, f"(SELECT key FROM _cm_sel WHERE level = {int(level)})",
                                   self.params.max_gap)

    def session_counts(self, chains: Sequence[Chain]) -> list[int]:
        """Exact distinct sessions of each chain, order variants together (one query per chain length).

        The search itself only checks "one session or several" when ``min_sessions``
        is at most 2, which saves a ``count(DISTINCT)`` over every occurrence.
        """
        counts = [0] * len(chains)
        for level in self._select(chains):
            rows = self.engine.rows(f"""SELECT s.cid, count(DISTINCT o.sid) FROM {self._occurrences(level)} o
                JOIN _cm_sel s ON o.key = s.key WHERE s.level = $level GROUP BY s.cid""", {"level": level})
            for cid, n in rows:
                counts[cid] = int(n)
        return counts

    def sample_events(self, chains: Sequence[Chain], size: int) -> list[tuple]:
        """Events of up to ``size`` sampled occurrences of each chain, deterministic.

        Returns rows ``(chain_index, variant_index, sid, occ_start, spos, epos,
        tool_id, rid, rids)`` ordered by chain, occurrence and position: every
        event between an occurrence's first and last step (gap events included).

        Occurrences are drawn by windows of consecutive calls (see
        :func:`sample_plan`): reading the sampled calls' arguments and results
        then decompresses a few stretches of the log instead of all of it.

        Notes
        -----
        One query per chain length; a hash filter on windows thins the occurrences
        of very frequent chains to about ``4 * size`` before the per-chain ``row_number``.
        """
        levels = self._select(chains, size)
        if not levels:
            return []
        engine = self.engine
        window = engine.idiv("o.r0", str(SAMPLE_WINDOW))

        def draw(target: str, sel: str, levels: list[int]) -> None:
            parts = [f"""SELECT cid, variant, sid, spos, epos FROM (
                    SELECT s.cid, s.variant, o.sid, o.spos, o.epos, o.r0, {engine.hash(window)} AS wh,
                           row_number() OVER (PARTITION BY s.cid, {window}
                                              ORDER BY {engine.hash('o.r0')}, o.sid, o.spos) <= s.cap AS taken
                    FROM {self._occurrences(int(level))} o JOIN {sel} s ON o.key = s.key
                    WHERE s.level = {int(level)} AND {engine.hash(window)} % s.modulus = 0)
                WHERE taken
                QUALIFY row_number() OVER (PARTITION BY cid ORDER BY wh, r0, sid, spos) <= {int(size)}"""
                     for level in levels]
            engine.table(target, " UNION ALL ".join(parts))

        draw("_cm_smp", "_cm_sel", levels)
        # Occurrences bunched in few windows can all be thinned away: draw those chains again unthinned.
        drawn = dict(engine.rows("SELECT cid, count(*) FROM _cm_smp GROUP BY cid"))
        short = [cid for cid, chain in enumerate(chains) if drawn.get(cid, 0) < min(size, chain.frequency)]
        if short:
            picked = f"cid IN ({', '.join(str(c) for c in short)})"
            engine.table("_cm_sel", f"SELECT key, cid, variant, level, CAST(1 AS BIGINT) AS modulus, "
                                    f"CAST({int(size)} AS BIGINT) AS cap FROM _cm_sel WHERE {picked}")
            draw("_cm_redraw", "_cm_sel", sorted({len(chains[cid].tools) for cid in short}))
            engine.table("_cm_drawn", f"SELECT * FROM _cm_smp WHERE NOT {picked} UNION ALL SELECT * FROM _cm_redraw")
            engine.table("_cm_smp", "SELECT * FROM _cm_drawn")
            engine.drop(["_cm_redraw", "_cm_drawn"])
        return self._sampled_events()

    def _sampled_events(self) -> list[tuple]:
        """The events of the occurrences in ``_cm_smp``, as :meth:`sample_events` returns them."""
        return self.engine.rows(f"""
            SELECT m.cid, m.variant, m.sid, m.spos, e.spos, e.epos, e.t, e.rid, e.rids
            FROM _cm_smp m JOIN _cm_ev e ON e.sid = m.sid AND e.spos >= m.spos AND e.spos <= m.epos
            ORDER BY m.cid, {self.engine.hash('m.sid', 'm.spos')}, m.sid, m.spos, e.spos""")

    def screen_events(self, modulus: int, stretch: int) -> list[tuple]:
        """``(sid, tool id, rid, rids)`` of every event of the sessions whose first call's window of
        ``stretch`` calls hashes to a multiple of ``modulus``, by session and position (see
        :func:`chainmine.miner.synthesis.screen.flow_screen`)."""
        window = self.engine.idiv("rid", str(int(stretch)))
        return self.engine.rows(f"""
            SELECT sid, t, rid, rids FROM _cm_ev
            WHERE sid IN (SELECT sid FROM _cm_ev WHERE spos = 1 AND {self.engine.hash(window)} % {int(modulus)} = 0)
            ORDER BY sid, spos""")

    def shared_occurrences(self, chains: Sequence[Chain]) -> dict[tuple[int, int], int]:
        """Occurrences two of ``chains`` both hold (same session, same first and last call), by index pair.

        The shared occurrences stay in ``_cm_shared`` for :meth:`recount`.

        Notes
        -----
        One pass over the occurrences of ``chains`` (one relation per length, see :meth:`_occurrences`).
        """
        levels = self._select(chains)
        parts = " UNION ALL ".join(f"""SELECT o.sid, o.spos, o.epos, s.cid FROM {self._occurrences(level)} o
            JOIN _cm_sel s ON o.key = s.key WHERE s.level = {int(level)}""" for level in levels)
        self.engine.table("_cm_shared", f"""
            SELECT sid, spos, epos, {self.engine.render('set_list', 'cid')} AS cids FROM ({parts}) u
            GROUP BY sid, spos, epos HAVING count(DISTINCT cid) > 1""")
        out: dict[tuple[int, int], int] = {}
        for cids, n in self.engine.rows("SELECT cids, count(*) FROM _cm_shared GROUP BY cids"):
            for pair in itertools.combinations(cids, 2):
                out[pair] = out.get(pair, 0) + int(n)
        return out

    def recount(self, cid: int, chain: Chain, rivals: Sequence[int]) -> tuple[list[Support], int]:
        """Supports of each order of ``chain`` (index ``cid`` in the last :meth:`shared_occurrences`)
        without the occurrences it shares with chains ``rivals``, and its distinct sessions."""
        level = len(chain.tools)
        source = self._occurrences(level)
        # Occurrences carry cost and summed duration only when the log has them.
        have = self.engine.columns(source)
        cost, dur = ("avg(o.cost)" if "cost" in have else "NULL"), ("avg(o.dur)" if "dur" in have else "NULL")
        rows = self.engine.rows(f"""
            SELECT s.variant, count(*), count_if(o.ok), avg(o.n), {cost}, avg(o.et - o.st), {dur},
                   count(DISTINCT o.sid)
            FROM {source} o JOIN _cm_sel s ON o.key = s.key
            WHERE s.cid = $cid AND NOT EXISTS (SELECT 1 FROM _cm_shared x WHERE x.sid = o.sid
                AND x.spos = o.spos AND x.epos = o.epos AND {self.engine.render('overlaps', 'x.cids', self.engine.int_list(rivals))})
            GROUP BY GROUPING SETS ((s.variant), ())""", {"cid": cid})
        by_variant = {r[0]: r for r in rows if r[0] is not None}
        out = []
        for vid in range(len(chain.keys)):
            r = by_variant.get(vid)
            if r is None:
                out.append(Support(level, 0, 0, 0))
                continue
            duration = r[5] if r[5] is not None else r[6]
            out.append(Support(level, int(r[1]), int(r[7]), int(r[2]), float(r[3] or 0.0),
                               None if r[4] is None else float(r[4]),
                               None if duration is None else max(float(duration), 0.0)))
        return out, next((int(r[7]) for r in rows if r[0] is None), 0)

    def close(self) -> None:
        """Drop the temporary tables of this search."""
        drop_tables(self.engine, self.params.max_length)
        self.engine.drop(["_cm_sel", "_cm_smp", "_cm_shared"])


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
