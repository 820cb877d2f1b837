"""One chain search over a store: its engine, its occurrence tables, and occurrence sampling.

:class:`ChainSearch` keeps the temporary occurrence tables of a search so
synthesis can sample occurrences of the surviving chains afterwards
(:meth:`ChainSearch.sample_events`); :class:`StoreEngine` is the DuckDB engine
with what a search needs of a store. :func:`chainmine.miner.chains.mine.find_chains`
runs the selection on top.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import duckdb

from chainmine.miner.chains.engine import DuckEngine, engine_of
from chainmine.miner.chains.events import prepare_events
from chainmine.miner.chains.keys import KeyCodec
from chainmine.miner.chains.model import Chain
from chainmine.miner.chains.params import MiningParams
from chainmine.miner.chains.search import EventSummary, Support, drop_tables, occurrence_relation
from chainmine.miner.origins import count_calls

log = logging.getLogger(__name__)

SAMPLE_WINDOW = 2048
"""Consecutive calls (by rowid) that sampling takes or leaves together: one DuckDB
vector, the unit a scan decompresses."""
SAMPLE_SPREAD = 32
"""Windows a sample spans at least: no more than ``size / SAMPLE_SPREAD`` occurrences come from one."""
MIX_PRIME = 2_147_483_647
"""The modulus of :func:`mix` (2**31 - 1): every product it forms stays within a signed 64-bit integer."""


def mix(x: str, idiv: Callable[[str, str], str] = lambda a, b: f"{a} // {b}") -> str:
    """SQL scrambling the integer ``x`` into ``0 .. 2**31 - 2`` with arithmetic alone.

    Engines hash differently (DuckDB's ``hash`` is not Spark's ``xxhash64``), so
    what must come out the same on every engine (which windows of the log a sample
    reads) is scrambled by this instead: an affine step, a square (not affine, so
    neighbouring windows land far apart) and a fold of high digits into low ones,
    each modulo :data:`MIX_PRIME`. ``x`` should be a column name: it is repeated.

    Examples
    --------
    >>> import duckdb
    >>> duckdb.sql(f"SELECT {mix('w')} AS h FROM range(3) t(w)").fetchall()
    [(680800491,), (1698876538,), (764763037,)]
    """
    p = MIX_PRIME
    a = f"((({x}) % {p} + {p}) % {p})"
    b = f"(({a}) * 48271 + 11) % {p}"
    c = f"(({b}) * ({b}) + 40503) % {p}"
    return f"((({c}) * 69621 + {idiv(f'({c})', '64')}) % {p})"


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
        """The :class:`~chainmine.miner.chains.chain_search.ChainSearch` of one search on this engine."""
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

    def clock(self) -> tuple[int, int] | None:
        """``(first, span)`` of the events' start times in whole epoch milliseconds; None when none has one."""
        if "clock" not in self.cache:
            lo, hi = self.engine.one("SELECT min(st), max(st) FROM _cm_ev")
            self.cache["clock"] = None if lo is None else (math.floor(lo), math.ceil(hi) - math.floor(lo))
        return self.cache["clock"]

    def place(self, st: str, ref: str, calls: int) -> str:
        """SQL numbering stretches of the log of about ``calls`` calls: by start time ``st``, else by ``ref``.

        Times are the same on every engine, so where the log has them the stretches
        (and every sample drawn by them) are too; a log without times is cut by the
        engine's own reference to its calls (rowids in DuckDB: consecutive stored calls).
        In DuckDB, calls without a time get negative numbers, apart from the timed ones.
        """
        by_ref = f"-1 - {self.engine.idiv(ref, str(int(calls)))}"
        clock = self.clock()
        if clock is None:
            return by_ref
        first, span = clock
        width = max(1, span * int(calls) // max(1, self.summary.calls))
        return f"coalesce(CAST(floor(({st} - {first}) / {width}) AS BIGINT), {by_ref})"

    def sample_events(self, chains: Sequence[Chain], size: int) -> list[tuple]:
        """Events of up to ``size`` sampled occurrences of each chain, deterministic.

        Returns rows ``(chain_index, variant_index, sid, occ_start, spos, epos,
        tool_id, rid, rids)`` ordered by chain, occurrence and position: every
        event between an occurrence's first and last step (gap events included).

        Occurrences are drawn by windows of about :data:`SAMPLE_WINDOW` calls (see
        :func:`sample_plan` and :meth:`place`): reading the sampled calls' arguments
        and results then decompresses a few stretches of the log instead of all of
        it. Windows are ranked by :func:`mix` and occurrences within one by the MD5
        of their session id and position, so a log with times gives the same sample
        on DuckDB and on Spark.

        Notes
        -----
        One query per chain length; a filter on windows thins the occurrences of very
        frequent chains to about ``4 * size`` before the per-chain ``row_number``, and
        only those few are looked up for their session ids.
        """
        levels = self._select(chains, size)
        if not levels:
            return []
        engine = self.engine
        window = self.place("o.st", "o.r0", SAMPLE_WINDOW)

        def draw(target: str, levels: list[int]) -> None:
            parts = [f"""SELECT * FROM (
                    SELECT *, {mix('win', engine.idiv)} AS wh FROM (
                        SELECT s.cid, s.variant, s.cap, s.modulus, o.sid, o.spos, o.epos, o.r0, {window} AS win
                        FROM {self._occurrences(int(level))} o JOIN _cm_sel s ON o.key = s.key
                        WHERE s.level = {int(level)}) w) m
                WHERE wh % modulus = 0""" for level in levels]
            engine.table("_cm_cand", " UNION ALL ".join(parts))
            self.name_sessions("_cm_cand")
            engine.table(target, f"""SELECT cid, variant, sid, spos, epos FROM (
                SELECT *, row_number() OVER (PARTITION BY cid, win ORDER BY pick, variant, epos) <= cap AS taken
                FROM (SELECT c.*, md5(concat(n.session_id, ':', CAST(c.spos AS STRING))) AS pick
                      FROM _cm_cand c JOIN _cm_names n ON n.r0 = c.r0) p) t
                WHERE taken
                QUALIFY row_number() OVER (PARTITION BY cid ORDER BY wh, win, pick, variant, epos) <= {int(size)}""")
            engine.drop(["_cm_cand", "_cm_names"])

        draw("_cm_smp", levels)
        # Occurrences bunched in few windows can all be thinned away: draw those chains again unthinned.
        drawn = dict(engine.rows("SELECT cid, count(*) FROM _cm_smp GROUP BY cid"))
        short = [cid for cid, chain in enumerate(chains) if drawn.get(cid, 0) < min(size, chain.frequency)]
        if short:
            picked = f"cid IN ({', '.join(str(c) for c in short)})"
            engine.table("_cm_sel", f"SELECT key, cid, variant, level, CAST(1 AS BIGINT) AS modulus, "
                                    f"CAST({int(size)} AS BIGINT) AS cap FROM _cm_sel WHERE {picked}")
            draw("_cm_redraw", sorted({len(chains[cid].tools) for cid in short}))
            cols = "cid, variant, sid, spos, epos"
            engine.table("_cm_drawn", f"SELECT {cols} FROM _cm_smp WHERE NOT {picked} UNION ALL SELECT {cols} FROM _cm_redraw")
            engine.table("_cm_smp", "SELECT * FROM _cm_drawn")
            engine.drop(["_cm_redraw", "_cm_drawn"])
        return self._sampled_events()

    def name_sessions(self, table: str) -> None:
        """``_cm_names(r0, session_id)``: the session id of each first call ``r0`` of ``table``.

        The store reads them by rowid, which touches only the stretches sampled.
        """
        rids = [r[0] for r in self.engine.rows(f"SELECT DISTINCT r0 FROM {table}")]
        self.engine.table("_cm_names", "SELECT rowid AS r0, session_id FROM calls "
                                       "WHERE rowid IN (SELECT unnest($r::BIGINT[]))", {"r": rids})

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
        return self.engine.rows(f"""
            SELECT sid, t, rid, rids FROM _cm_ev WHERE sid IN ({self.screened_sessions(modulus, stretch)})
            ORDER BY sid, spos""")

    def screened_sessions(self, modulus: int, stretch: int) -> str:
        """SQL selecting the ``sid`` of the sessions the flow screen reads (see :meth:`screen_events`):
        those whose first call's stretch of about ``stretch`` calls (:meth:`place`) mixes to a multiple of ``modulus``."""
        place = self.place("st", "rid", stretch)
        return (f"SELECT sid FROM (SELECT sid, {place} AS win FROM _cm_ev WHERE spos = 1) f "
                f"WHERE {mix('win', self.engine.idiv)} % {int(modulus)} = 0")

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
