"""Level-wise search for frequent tool chains, set-wise in DuckDB.

Two steps, both whole-table SQL:

1. :func:`build_events` orders each session's calls once (``miner.store.ORDER_BY``)
   and collapses a run of consecutive calls of one tool into one *event*
   (``a, b, b, b, c`` becomes ``a, b, c``; the run's calls are kept for
   synthesis). An event knows its first and last call position inside the
   session, so "the next event" is a plain equi-join on positions.
2. :func:`search_levels` grows occurrences Apriori-style: the occurrences of a
   frequent chain of length ``k`` are extended by joining the event that starts
   right after them (or after up to ``max_gap`` unrelated calls), the new
   chains are counted, and only the frequent ones (that the caller's
   ``extend`` rule accepts) are extended again. Work is proportional to what
   survives each level.

Temporary tables (per connection): ``_cm_ev`` events, ``_cm_occ{k}``
occurrences of length ``k``, ``_cm_freq{k}`` frequent keys with their supports,
``_cm_grow{k}`` the keys extended to length ``k + 1``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

import duckdb

from miner.chains.keys import KeyCodec
from miner.store import ORDER_BY

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class EventSummary:
    """Sizes of the event table built by :func:`build_events`.

    Examples
    --------
    >>> EventSummary(calls=10, events=8, max_tool_id=3, has_cost=False).events
    8
    """

    calls: int
    events: int
    max_tool_id: int
    has_cost: bool


_CALLS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _cm_calls AS
SELECT hash(session_id) AS sid, rowid AS rid, tool_id, success,
       coalesce(cost, 0.0) AS cost, coalesce(duration_ms, 0.0) AS dur,
       epoch_ms(ts)::DOUBLE AS ts_ms,
       row_number() OVER w AS pos,
       lag(tool_id) OVER w IS DISTINCT FROM tool_id AS run_first,
       lead(tool_id) OVER w IS DISTINCT FROM tool_id AS run_last
FROM calls
WINDOW w AS (PARTITION BY hash(session_id) ORDER BY {ORDER_BY})
"""

# Runs of one call (most events) are copied as they are; only the calls of
# longer runs need a second ordered pass to be numbered and grouped.
_EVENTS_SQL = """
CREATE OR REPLACE TEMP TABLE _cm_ev AS
SELECT sid, pos AS spos, pos AS epos, tool_id AS t, success AS ok, 1 AS n, cost,
       ts_ms AS st, ts_ms + dur AS et, dur, rid, NULL::BIGINT[] AS rids
FROM _cm_calls WHERE run_first AND run_last
UNION ALL
SELECT sid, min(pos), max(pos), any_value(tool_id), bool_and(success), count(*)::INTEGER,
       sum(cost), min(ts_ms), max(ts_ms + dur), sum(dur), arg_min(rid, pos), list(rid ORDER BY pos)
FROM (SELECT *, sum(run_first::INTEGER) OVER (PARTITION BY sid ORDER BY pos) AS run
      FROM _cm_calls WHERE NOT (run_first AND run_last))
GROUP BY sid, run
"""


def toy_store(pattern: str, sessions: int) -> duckdb.DuckDBPyConnection:
    """An in-memory store of ``sessions`` sessions, each calling the one-letter tools of ``pattern`` in order.

    For examples and quick experiments.

    Examples
    --------
    >>> toy_store("ab", 3).execute("SELECT count(*) FROM calls").fetchall()
    [(6,)]
    """
    from miner.store import init_schema

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


def build_events(con: duckdb.DuckDBPyConnection) -> EventSummary:
    """Create the ``_cm_ev`` table of collapsed, ordered events from ``calls``.

    Parameters
    ----------
    con : an open store connection (read-only is fine: only temp tables are written).

    Returns
    -------
    EventSummary
        Counts of calls and events, the largest tool id and whether any call has a cost.

    Examples
    --------
    >>> build_events(toy_store("abbb", 1)).events
    2

    Notes
    -----
    One partitioned sort of the calls, O(N log N) for N calls, plus a second
    small pass over the calls that belong to runs of two or more.
    """
    started = time.perf_counter()
    con.execute(_CALLS_SQL)
    con.execute(_EVENTS_SQL)
    calls, has_cost = con.execute("SELECT count(*), bool_or(cost <> 0) FROM _cm_calls").fetchone()
    con.execute("DROP TABLE _cm_calls")
    events, max_tool = con.execute("SELECT count(*), coalesce(max(t), 0) FROM _cm_ev").fetchone()
    log.info("events: %d calls -> %d events in %.2fs", calls, events, time.perf_counter() - started)
    return EventSummary(int(calls), int(events), int(max_tool), bool(has_cost))


def _level_sql(k: int, codec: KeyCodec, max_gap: int) -> str:
    parts = []
    for d in range(max_gap + 1):
        parts.append(f"""
            SELECT o.sid, o.spos, e.epos, {codec.extend_sql('o.key', 'e.t')} AS key,
                   o.ok AND e.ok AS ok, o.n + e.n AS n, o.cost + e.cost AS cost,
                   o.st, e.et, o.dur + e.dur AS dur
            FROM _cm_occ{k - 1} o JOIN _cm_ev e ON e.sid = o.sid AND e.spos = o.epos + {1 + d}
            WHERE o.key IN (SELECT key FROM _cm_grow{k - 1}) AND e.t IN (SELECT t FROM _cm_tools)""")
    body = "\nUNION ALL\n".join(parts)
    if max_gap >= 2:
        # Two same-tool events can then both lie within reach; keep the tightest match.
        body = f"SELECT * FROM ({body}) QUALIFY row_number() OVER (PARTITION BY sid, spos, key ORDER BY epos) = 1"
    return f"CREATE OR REPLACE TEMP TABLE _cm_occ{k} AS {body}"


_SUPPORT_SQL = """
CREATE OR REPLACE TEMP TABLE _cm_freq{k} AS
SELECT key, count(*) AS f, {sessions} AS s, count_if(ok) AS ok_n,
       avg(n) AS calls, avg(cost) AS cost, avg(et - st) AS e2e, avg(dur) AS dur
FROM _cm_occ{k} GROUP BY key
HAVING count(*) >= $min_f AND {sessions} >= $min_s
"""
# Telling one session from several needs no distinct count; exact counts are
# taken later for the few chains that are suggested.
_FEW_SESSIONS = "CASE WHEN min(sid) = max(sid) THEN 1 ELSE 2 END"
_ALL_SESSIONS = "count(DISTINCT sid)"


def search_levels(con: duckdb.DuckDBPyConnection, codec: KeyCodec, *, min_frequency: int,
                  min_sessions: int, max_length: int, max_gap: int,
                  extend: Callable[[tuple[int, ...], dict], bool] | None = None) -> dict:
    """Find every chain of up to ``max_length`` events meeting both supports.

    Requires :func:`build_events` to have run on ``con``.

    Parameters
    ----------
    con : the connection holding ``_cm_ev``.
    codec : how tool sequences are packed into keys.
    min_frequency, min_sessions : support thresholds (occurrences, distinct sessions).
        With ``min_sessions <= 2`` a support's ``sessions`` is only 1 or 2 (one
        session or several); see :meth:`~miner.chains.mine.ChainSearch.session_counts`.
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
    Level ``k`` costs one hash join of the surviving occurrences of length
    ``k - 1`` with the events (``max_gap + 1`` equi-joins) and one ``GROUP BY``:
    O(sum over levels of surviving occurrences), never a loop per call.
    """
    params = {"min_f": min_frequency, "min_s": min_sessions}
    con.execute(f"""CREATE OR REPLACE TEMP VIEW _cm_occ1 AS
        SELECT sid, spos, epos, {codec.start_sql('t')} AS key, ok, n, cost, st, et, dur FROM _cm_ev""")
    found: dict = {}
    frequency: dict[tuple[int, ...], int] = {}
    for k in range(1, max_length + 1):
        started = time.perf_counter()
        if k > 1:
            con.execute(_level_sql(k, codec, max_gap))
        con.execute(_SUPPORT_SQL.format(k=k, sessions=_FEW_SESSIONS if min_sessions <= 2 else _ALL_SESSIONS),
                    params)
        if k == 1:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _cm_tools AS SELECT "
                        f"{'key[1]' if codec.kind == 'LIST' else 'key'}::INTEGER AS t FROM _cm_freq1")
        rows = con.execute(f"SELECT key, f, s, ok_n, calls, cost, e2e, dur FROM _cm_freq{k}").fetchall()
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
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _cm_grow{k} AS
            SELECT CAST(x AS {codec.sql_type}) AS key FROM unnest($keys::VARCHAR[]) u(x)""",
                    {"keys": [codec.to_text(r[0]) for r in grown]})
        log.info("level %d: %d frequent chains, %d grown, in %.2fs", k, len(rows), len(grown),
                 time.perf_counter() - started)
        if not grown:
            break
    return found


def drop_tables(con: duckdb.DuckDBPyConnection, max_length: int) -> None:
    """Drop the temporary tables of a search (safe to call twice).

    Examples
    --------
    >>> drop_tables(duckdb.connect(), 3)
    """
    con.execute("DROP VIEW IF EXISTS _cm_occ1")
    for k in range(2, max_length + 1):
        con.execute(f"DROP TABLE IF EXISTS _cm_occ{k}")
    for k in range(1, max_length + 1):
        con.execute(f"DROP TABLE IF EXISTS _cm_freq{k}")
        con.execute(f"DROP TABLE IF EXISTS _cm_grow{k}")
    for name in ("_cm_ev", "_cm_tools", "_cm_calls"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
