"""Level-wise search for frequent tool chains, set-wise in DuckDB.

Reads the ordered, collapsed events of :mod:`chainmine.miner.chains.events` (``_cm_ev``,
one session after another in call order) and grows occurrences Apriori-style:
the occurrences of a frequent chain of length ``k`` are extended by the event
that starts right after them (or after up to ``max_gap`` unrelated calls), the
new chains are counted, and only the frequent ones that the caller's
``extend`` rule accepts are extended again.

Two ways to find "the next event", both whole-table SQL:

* **by position** (the first levels, where every event starts an occurrence):
  the events are read side by side with themselves shifted by 1, 2, ...
  rows (``POSITIONAL JOIN ... OFFSET``), one shift pattern per way of skipping
  gap events; nothing is hashed and nothing is written, the occurrences stay a
  view that is counted straight away;
* **by key** (deeper levels, where few occurrences survive): the surviving
  occurrences are materialised and hash-joined with the events on
  ``(session, position)``.

Temporary objects (per connection): ``_cm_occ{k}`` occurrences of length ``k``
(a view or a table; ``r0`` is the first call's rowid, for sampling nearby calls),
``_cm_keep{k}`` the stored occurrences of the keys a keyed next level extends
(the whole level is then dropped),
``_cm_sh{n}`` the events shifted by ``n`` rows,
``_cm_freq{k}`` frequent keys with their supports, ``_cm_grow{k}`` the keys
extended to length ``k + 1``.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass
from typing import Callable

import duckdb

from chainmine.miner.chains.engine import DuckEngine, engine_of
from chainmine.miner.chains.events import EventSummary, prepare_events
from chainmine.miner.chains.keys import KeyCodec

log = logging.getLogger(__name__)

__all__ = ["EventSummary", "Support", "build_events", "drop_tables", "occurrence_relation", "search_levels",
           "toy_store"]

MAX_SHIFT_PATTERNS = 2
"""Levels needing at most this many shift patterns are searched by position."""
MAX_GAP_SHIFTED = 1
"""Largest ``max_gap`` searched by position."""


@dataclass(frozen=True)
class Support:
    """Evidence for one chain key, counted over all its occurrences.

    Examples
    --------
    >>> Support(level=2, frequency=10, sessions=8, successes=9).success_rate
    0.9
    """

    level: int
    frequency: int
    sessions: int
    successes: int
    avg_calls: float = 0.0
    avg_cost: float | None = None
    avg_duration_ms: float | None = None

    @property
    def success_rate(self) -> float:
        """Share of occurrences in which every call succeeded."""
        return self.successes / self.frequency if self.frequency else 0.0


def toy_store(pattern: str, sessions: int) -> duckdb.DuckDBPyConnection:
    """An in-memory store of ``sessions`` sessions, each calling the one-letter tools of ``pattern`` in order.

    For examples and quick experiments.

    Examples
    --------
    >>> toy_store("ab", 3).execute("SELECT count(*) FROM calls").fetchall()
    [(6,)]
    """
    from chainmine.miner.store import init_schema

    con = duckdb.connect()
    init_schema(con)
    letters = sorted(set(pattern))
    con.execute("INSERT INTO tools SELECT i + 1, t FROM (SELECT unnest($t::VARCHAR[]) AS t, "
                "generate_subscripts($t::VARCHAR[], 1) - 1 AS i)", {"t": letters})
    con.execute("""INSERT INTO calls (id, session_id, seq, tool_id, success)
        SELECT s * $n + k, 's' || s, k, list_position($t::VARCHAR[], $p[k + 1]), true
        FROM range($sessions) a(s), range($n) b(k)""",
                {"t": letters, "p": list(pattern), "n": len(pattern), "sessions": sessions})
    return con



def build_events(con: duckdb.DuckDBPyConnection, include_runs: bool = False) -> EventSummary:
    """Make ``_cm_ev`` hold the ordered, collapsed events (see :func:`chainmine.miner.chains.events.prepare_events`).

    Examples
    --------
    >>> build_events(toy_store("abbb", 1)).events
    2
    """
    return prepare_events(con, include_runs)


MAX_LITERAL_KEYS = 2000
"""Key sets up to this size are written into the query as literals (DuckDB then hashes the
small set, not the occurrences); larger ones are read from their ``_cm_grow{k}`` table."""


def _members(k: int, keys: list[str]) -> str:
    """SQL set of the keys grown at level ``k``, for ``x IN <set>``."""
    if not keys or len(keys) > MAX_LITERAL_KEYS:
        return f"(SELECT key FROM _cm_grow{k})"
    return "(" + ", ".join(keys) + ")"


def shift_patterns(k: int, max_gap: int) -> list[tuple[int, ...]]:
    """Row offsets of steps 2..k from the first step, for every way of skipping up to ``max_gap`` events per junction.

    Examples
    --------
    >>> shift_patterns(3, 1)
    [(1, 2), (1, 3), (2, 3), (2, 4)]

    Notes
    -----
    ``(max_gap + 1) ** (k - 1)`` patterns.
    """
    return [tuple(itertools.accumulate(steps)) for steps in itertools.product(range(1, max_gap + 2), repeat=k - 1)]


def by_position(k: int, max_gap: int, engine: DuckEngine = DuckEngine) -> bool:
    """Whether level ``k`` is searched by position (few shift patterns, no duplicate paths).

    With a gap of two or more, two paths from one start can spell the same
    chain, which only the keyed search removes.

    Examples
    --------
    >>> [by_position(k, 1) for k in (2, 3, 4)], by_position(6, 0), by_position(2, 2)
    ([True, False, False], True, False)
    """
    return engine.positional and k >= 2 and max_gap <= MAX_GAP_SHIFTED and \
        (max_gap + 1) ** (k - 1) <= MAX_SHIFT_PATTERNS


@dataclass(frozen=True)
class _Payload:
    """Which per-event figures occurrences must carry (the others are constant or unused)."""

    cost: bool
    dur: bool

    def columns(self) -> list[str]:
        return ["sid", "spos", "epos", "t", "ok", "et"] + ["cost"] * self.cost + ["dur"] * self.dur

    def extra(self, prefix: str = "") -> str:
        """``, cost, dur`` as far as they are carried (a constant column still costs memory per row)."""
        return "".join(f", {prefix}{c}" for c in ("cost", "dur") if getattr(self, c))


def _payload(engine: DuckEngine) -> _Payload:
    # Summed durations only matter where a start time is missing (else end - start is used).
    cost, dur = engine.one("SELECT coalesce(bool_or(cost <> 0), false), coalesce(bool_or(st IS NULL), false) "
                           "FROM _cm_ev")
    return _Payload(bool(cost), bool(dur))


def _make_shifts(engine: DuckEngine, offsets: set[int], payload: _Payload) -> None:
    """Narrow copies of the events shifted up by each offset, read side by side with ``_cm_ev``.

    Plain tables let DuckDB scan them in lockstep (a positional scan) instead of
    buffering a shifted subquery for every pattern of every query.
    """
    if not offsets:
        return
    con = engine.con
    cols = ", ".join(payload.columns())
    con.execute("SET preserve_insertion_order = true")
    for off in sorted(offsets):
        con.execute(f"CREATE OR REPLACE TEMP TABLE _cm_sh{off} AS SELECT {cols} FROM _cm_ev OFFSET {off}")
    # Nothing else depends on row order; keeping it would make DuckDB buffer results.
    con.execute("SET preserve_insertion_order = false")


def _pattern_sql(offsets: tuple[int, ...], codec: KeyCodec, max_gap: int, payload: _Payload,
                 grown: str, tools: str) -> str:
    """Occurrences following one shift pattern: the start event and the events ``offsets`` rows later."""
    k = len(offsets) + 1
    sides = ["_cm_ev e0"] + [f"_cm_sh{off} e{j}" for j, off in enumerate(offsets, 1)]
    prefix = codec.start_sql("e0.t")
    for j in range(1, k - 1):
        prefix = f"({codec.extend_sql(prefix, f'e{j}.t')})"
    key = codec.extend_sql(prefix, f"e{k - 1}.t")
    gaps = " AND ".join(f"e{j}.spos - e{j - 1}.epos - 1 <= {max_gap}" for j in range(1, k))
    total = lambda col: " + ".join(f"e{j}.{col}" for j in range(k))  # noqa: E731
    extra = (f", {total('cost')} AS cost" if payload.cost else "") + (f", {total('dur')} AS dur" if payload.dur else "")
    return f"""SELECT e0.sid, e0.spos, e{k - 1}.epos, e0.rid AS r0, {key} AS key,
               {' AND '.join(f'e{j}.ok' for j in range(k))} AS ok,
               {total('epos')} - ({total('spos')}) + {k} AS n, e0.st, e{k - 1}.et{extra}
        FROM {' POSITIONAL JOIN '.join(sides)}
        WHERE e{k - 1}.sid = e0.sid AND {gaps}{_member_test(prefix, grown)}{_member_test(f"e{k - 1}.t", tools)}"""


def _member_test(expr: str, members: str) -> str:
    """`` AND expr IN members``, or nothing when ``members`` is everything (``""``)."""
    return f" AND {expr} IN {members}" if members else ""


def _position_level_sql(k: int, codec: KeyCodec, max_gap: int, payload: _Payload, grown: str, tools: str,
                        table: bool) -> str:
    body = "\nUNION ALL\n".join(_pattern_sql(p, codec, max_gap, payload, grown, tools)
                                 for p in shift_patterns(k, max_gap))
    return f"CREATE OR REPLACE TEMP {'TABLE' if table else 'VIEW'} _cm_occ{k} AS {body}"


def _key_level_sql(engine: DuckEngine, k: int, source: str, codec: KeyCodec, max_gap: int, payload: _Payload,
                   grown: str, tools: str) -> str:
    extra = (", o.cost + e.cost AS cost" if payload.cost else "") + (", o.dur + e.dur AS dur" if payload.dur else "")
    body = f"""
        SELECT o.sid, o.spos, e.epos, o.r0, {codec.extend_sql('o.key', 'e.t')} AS key,
               o.ok AND e.ok AS ok, o.n + e.n AS n, o.st, e.et{extra}
        FROM (SELECT sid, spos, r0, key, ok, n, st{payload.extra()},
                     -- INTEGER like spos: a join on mixed types casts every event
                     CAST(epos + 1 + g AS INTEGER) AS nxt
              FROM (SELECT *, {engine.offsets(max_gap + 1)} AS g
                    FROM {source} WHERE true{_member_test('key', grown)}) u) o
        JOIN _cm_ev e ON e.sid = o.sid AND e.spos = o.nxt
        WHERE true{_member_test('e.t', tools)}"""
    if max_gap >= 2:
        # Two same-tool events can then both lie within reach; keep the tightest match.
        body = f"SELECT * FROM ({body}) QUALIFY row_number() OVER (PARTITION BY sid, spos, key ORDER BY epos) = 1"
    return body


_SUPPORT_SQL = """
SELECT key, count(*) AS f, {sessions} AS s, count_if(ok) AS ok_n,
       avg(n) AS calls, {cost} AS cost, avg(et - st) AS e2e, {dur} AS dur
FROM _cm_occ{k} GROUP BY key
HAVING count(*) >= $min_f AND {sessions} >= $min_s
"""
# Telling one session from several needs no distinct count; exact counts are
# taken later for the few chains that are suggested.
_FEW_SESSIONS = "CASE WHEN min(sid) = max(sid) THEN 1 ELSE 2 END"
_ALL_SESSIONS = "count(DISTINCT sid)"


def search_levels(con: duckdb.DuckDBPyConnection | DuckEngine, codec: KeyCodec, *, min_frequency: int,
                  min_sessions: int, max_length: int, max_gap: int,
                  extend: Callable[[tuple[int, ...], dict], bool] | None = None) -> dict:
    """Find every chain of up to ``max_length`` events meeting both supports.

    Requires :func:`build_events` to have run on ``con``.

    Parameters
    ----------
    con : the connection holding ``_cm_ev``, or the engine (:mod:`chainmine.miner.chains.engine`) holding it.
    codec : how tool sequences are packed into keys.
    min_frequency, min_sessions : support thresholds (occurrences, distinct sessions).
        With ``min_sessions <= 2`` a support's ``sessions`` is only 1 or 2 (one
        session or several); see :meth:`~chainmine.miner.chains.chain_search.ChainSearch.session_counts`.
    max_length : longest chain, in steps.
    max_gap : unrelated calls allowed between two consecutive steps.
    extend : ``extend(tools, frequency)`` decides whether a frequent chain is grown
        further (``frequency`` maps every chain counted so far to its occurrences);
        by default every frequent chain is.

    Returns
    -------
    dict
        ``{hashable key: (tool ids, Support)}`` for every frequent chain of length >= 1.

    Examples
    --------
    >>> con = toy_store("ab", 4)
    >>> summary = build_events(con)
    >>> found = search_levels(con, KeyCodec.for_tools(2, 3), min_frequency=3, min_sessions=2,
    ...                       max_length=3, max_gap=0)
    >>> sorted((tools, s.frequency) for tools, s in found.values())
    [((1,), 4), ((1, 2), 4), ((2,), 4)]

    Notes
    -----
    A level searched by position costs one scan of the events per shift
    pattern and one ``GROUP BY``; a keyed level one hash join of the surviving
    occurrences with the events and one ``GROUP BY``: O(sum over levels of
    surviving occurrences), never a loop per call.
    """
    engine = engine_of(con)
    params = {"min_f": min_frequency, "min_s": min_sessions}
    payload = _payload(engine)
    shifted = {off for k in range(2, max_length + 1) if by_position(k, max_gap, engine)
               for p in shift_patterns(k, max_gap) for off in p}
    _make_shifts(engine, shifted, payload)
    engine.view("_cm_occ1", f"""
        SELECT sid, spos, epos, rid AS r0, {codec.start_sql('t')} AS key, ok, n, st, et{payload.extra()}
        FROM _cm_ev""")
    sessions = _FEW_SESSIONS if min_sessions <= 2 else _ALL_SESSIONS
    support_sql = _SUPPORT_SQL.format(k="{k}", sessions=sessions, cost="avg(cost)" if payload.cost else "0.0",
                                      dur="avg(dur)" if payload.dur else "NULL::DOUBLE")
    found: dict = {}
    frequency: dict[tuple[int, ...], int] = {}
    grown_sql = tools_sql = ""
    for k in range(1, max_length + 1):
        started = time.perf_counter()
        if by_position(k, max_gap, engine):
            # Counted straight from the shifted scans, never stored whole.
            engine.run(_position_level_sql(k, codec, max_gap, payload, grown_sql, tools_sql, table=False))
        elif k > 1:
            engine.table(f"_cm_occ{k}", _key_level_sql(engine, k, _kept(engine, k - 1), codec, max_gap, payload,
                                                         grown_sql, tools_sql))
        engine.table(f"_cm_freq{k}", support_sql.format(k=k), params)
        rows = engine.rows(f"SELECT key, f, s, ok_n, calls, cost, e2e, dur FROM _cm_freq{k}")
        if k == 1 and len(rows) < engine.one("SELECT count(DISTINCT t) FROM _cm_ev")[0]:
            tools_sql = "(" + ", ".join(str(codec.decode(r[0], 1)[0]) for r in rows) + ")" if rows else "(NULL)"
        for key, f, s, ok_n, calls, cost, e2e, dur in rows:
            duration = e2e if e2e is not None else dur
            tools = codec.decode(key, k)
            frequency[tools] = int(f)
            found[codec.hashable(key)] = (tools, Support(
                k, int(f), int(s), int(ok_n), float(calls or 0.0),
                None if cost is None else float(cost),
                None if duration is None else max(float(duration), 0.0)))
        grown = rows
        if extend is not None and k < max_length:
            grown = [r for r in rows if extend(codec.decode(r[0], k), frequency)]
        texts = [codec.to_text(r[0]) for r in grown]
        engine.frame(f"_cm_grow{k}", {"key": (codec.sql_type, texts)})
        # At level 1 every frequent tool grows: no test needed when that is every tool.
        grown_sql = tools_sql if k == 1 else _members(k, texts)
        if grown and 1 < k < max_length and not by_position(k + 1, max_gap, engine):
            positional = by_position(k, max_gap, engine)
            _keep_growing(engine, k, grown_sql, positional, drop_shifts=shifted if positional and k == 2 else set())
        log.info("level %d: %d frequent chains, %d grown, in %.2fs", k, len(rows), len(grown),
                 time.perf_counter() - started)
        if not grown:
            break
    return found


def _kept(engine: DuckEngine, level: int) -> str:
    """The relation holding the occurrences of level ``level``'s grown keys (the source of the next level)."""
    return f"_cm_keep{level}" if level > 1 and engine.exists(f"_cm_keep{level}") else f"_cm_occ{level}"


def _keep_growing(engine: DuckEngine, k: int, grown_sql: str, positional: bool,
                  drop_shifts: set[int]) -> None:
    """Store only the occurrences of level ``k`` that the next (keyed) level extends.

    The full level is then dropped: its other occurrences belong to chains that are
    not grown, which are rarely suggested and then drawn again on demand (see
    :func:`occurrence_relation`). A level counted by position keeps its view until
    the shifted copies it reads are dropped (they are needed by nothing else).
    """
    engine.table(f"_cm_keep{k}", f"SELECT * FROM _cm_occ{k} WHERE true{_member_test('key', grown_sql)}")
    if drop_shifts:
        engine.drop([f"_cm_occ{k}"] + [f"_cm_sh{off}" for off in sorted(drop_shifts)])
    elif not positional:
        engine.drop([f"_cm_occ{k}"])


def occurrence_relation(con: duckdb.DuckDBPyConnection | DuckEngine, codec: KeyCodec, level: int, keys: str,
                        max_gap: int) -> str:
    """A relation holding every occurrence of the chains of length ``level`` whose keys ``keys`` lists.

    ``keys`` is SQL yielding one ``key`` column (written by this package). After a
    search, level ``level``'s occurrences are whole (``_cm_occ{level}``), or only
    those of its grown keys are stored (``_cm_keep{level}``); the occurrences of
    other keys are then drawn again from the level below into ``_cm_pick{level}``.

    Examples
    --------
    >>> con = toy_store("abc", 4)
    >>> _ = build_events(con)
    >>> _ = search_levels(con, KeyCodec.for_tools(3, 3), min_frequency=3, min_sessions=2, max_length=3, max_gap=1)
    >>> rel = occurrence_relation(con, KeyCodec.for_tools(3, 3), 2, "(SELECT 6 AS key)", 1)
    >>> con.execute(f"SELECT count(*) FROM {rel} WHERE key = 6").fetchone()[0]
    4

    Notes
    -----
    A lookup, or one keyed join restricted to the prefixes of the missing keys.
    """
    engine = engine_of(con)
    keep, whole = f"_cm_keep{level}", f"_cm_occ{level}"
    if not engine.exists(keep):
        return whole
    missing = f"(SELECT key FROM {keys} WHERE key NOT IN (SELECT key FROM _cm_grow{level}))"
    if not engine.one(f"SELECT count(*) FROM {missing}")[0]:
        return keep
    if engine.exists(whole):
        return whole
    payload = _payload(engine)
    prefixes = f"(SELECT DISTINCT {codec.prefix_sql('key', engine)} FROM {missing})"
    tools = f"(SELECT DISTINCT {codec.last_sql('key')} FROM {missing})"
    engine.table("_cm_extra", _key_level_sql(engine, level, _kept(engine, level - 1), codec, max_gap, payload,
                                             prefixes, tools))
    engine.table(f"_cm_pick{level}", f"SELECT * FROM {keep} UNION ALL SELECT * FROM _cm_extra WHERE key IN {missing}")
    engine.drop(["_cm_extra"])
    return f"_cm_pick{level}"


def drop_tables(con: duckdb.DuckDBPyConnection | DuckEngine, max_length: int) -> None:
    """Drop the temporary tables and views of a search (safe to call twice).

    Examples
    --------
    >>> drop_tables(duckdb.connect(), 3)
    """
    names = [f"_cm_{kind}{k}" for k in range(1, max_length + 1) for kind in ("occ", "keep", "pick", "freq", "grow")]
    names += [f"_cm_sh{off}" for off in range(1, (max_length - 1) * (MAX_GAP_SHIFTED + 1) + 1)]
    engine_of(con).drop(names + ["_cm_tools", "_cm_calls", "_cm_ev"])
