"""The ordered, collapsed event table the chain search reads.

An *event* is a run of consecutive calls of one tool inside a session
(``a, b, b, b, c`` is three events ``a, b, c``); the run's calls are kept for
synthesis. Events are stored one session after another, in call order, so the
search can pair an event with the next ones by position (``POSITIONAL JOIN``)
instead of joining on keys.

Ordering ten million calls into events is the most expensive step of mining,
so a writable store keeps them in the ``events`` table: :func:`refresh_events`
rebuilds the events of the sessions an ingest touched, once its calls are
committed, and records in ``meta`` how many calls they cover. The table holds
logged calls only: the calls of ``chainmine run`` (``origin = 'run'``, see
:mod:`chainmine.miner.origins`) never enter it, and since the watermark counts logged
calls only, recording a run leaves the table fresh. Mining with runs included
builds its events in a temporary table instead.
:func:`prepare_events` then uses the table when that count matches ``calls``
and the order is intact, and otherwise (old databases, calls added by hand, a
refresh that never ran) builds the same events in a temporary table.

Columns: ``sid`` (hash of ``session_id``), ``spos``/``epos`` (first and last
call position in the session, from 1), ``t`` (tool id), ``ok`` (every call
succeeded), ``n`` (calls), ``cost``, ``st``/``et`` (start and end in epoch ms),
``dur`` (summed duration), ``rid`` (the first call) and ``rids`` (every call of
a run of two or more, else NULL). Calls are referred to by their ``rowid``:
reading a few thousand sampled calls by rowid lets DuckDB skip every row group
and vector that holds none of them, where any computed key would decompress the
``args``/``result`` of every call. Rowids of rows appended inside a transaction
are provisional until it commits, which is why the refresh runs after the commit.
chainmine never deletes calls; should rows be deleted by hand, a checkpoint may
compact row groups and renumber rowids, so the watermark holds the count and the
largest rowid, and a few events are looked up by rowid before the table is trusted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import duckdb

from chainmine.miner.chains.engine import DuckEngine, drop_temp
from chainmine.miner.errors import StoreError
from chainmine.miner.origins import calls_where, count_calls
from chainmine.miner.store import ORDER_BY, transaction

log = logging.getLogger(__name__)

EVENTS = "events"
"""The stored event table."""
SCRATCH = "_cm_ev"
"""The name the search reads events under (a view of :data:`EVENTS` or a temporary table)."""
WATERMARK = "events_calls"
"""``meta`` key: ``<format>:<calls>:<largest rowid>`` the stored events were built for. Rowids
only change when a checkpoint compacts row groups after deletes, which changes one of them."""
SPOT_CHECKS = 64
"""Events whose calls are looked up by rowid before the stored table is trusted."""
STORED_REF = "rowid"
"""How stored events refer to calls (see the module docstring)."""
FORMAT = "3"
"""Version of the stored table's layout, kept with the watermark; another version is rebuilt
(version 1 referred to calls by a hash of their id, version 2 held the calls of runs too)."""
LOGGED = "WHERE " + calls_where(False)
"""The ``where`` of :func:`build_sql` for the stored table: logged calls only."""
PROVISIONAL_ROWID = 36_028_797_018_960_000
"""DuckDB numbers rows appended by an open transaction from here (its ``MAX_ROW_ID``) until it commits."""

_COLUMNS = "sid, spos, epos, t, ok, n, cost, st, et, dur, rid, rids"

# Runs of one call (most events) are copied as they are; only the calls of
# longer runs need a second ordered pass to be grouped.
_BUILD_SQL = """
WITH c AS (
    SELECT {hash_sid} AS sid, {ref} AS rid, tool_id, success,
           coalesce(cost, 0.0) AS cost, coalesce(duration_ms, 0.0) AS dur,
           {ts_ms} AS ts_ms,
           row_number() OVER w AS pos,
           lag(tool_id) OVER w IS DISTINCT FROM tool_id AS run_first,
           lead(tool_id) OVER w IS DISTINCT FROM tool_id AS run_last
    FROM calls {where}
    WINDOW w AS (PARTITION BY {hash_sid} ORDER BY {order})
)
SELECT sid, CAST(pos AS INTEGER) AS spos, CAST(pos AS INTEGER) AS epos, tool_id AS t, success AS ok, 1 AS n, cost,
       ts_ms AS st, ts_ms + dur AS et, dur, rid, {no_rids} AS rids
FROM c WHERE run_first AND run_last
UNION ALL
SELECT sid, CAST(min(pos) AS INTEGER), CAST(max(pos) AS INTEGER), any_value(tool_id), bool_and(success),
       CAST(count(*) AS INTEGER), sum(cost), min(ts_ms), max(ts_ms + dur), sum(dur), min_by(rid, pos),
       {rids}
FROM (SELECT *, sum(CAST(run_first AS INTEGER)) OVER (PARTITION BY sid ORDER BY pos) AS run
      FROM c WHERE NOT (run_first AND run_last))
GROUP BY sid, run
{order_events}"""

EVENTS_DDL = f"""
CREATE TABLE IF NOT EXISTS {EVENTS} (
    sid UBIGINT NOT NULL, spos INTEGER NOT NULL, epos INTEGER NOT NULL, t INTEGER NOT NULL,
    ok BOOLEAN NOT NULL, n INTEGER NOT NULL, cost DOUBLE, st DOUBLE, et DOUBLE, dur DOUBLE,
    rid BIGINT NOT NULL, rids BIGINT[]
)
"""


@dataclass(frozen=True)
class EventSummary:
    """Sizes of the events the search reads, and how they refer to calls.

    ``ref`` is the SQL expression over ``calls`` that ``rid``/``rids`` hold (always
    ``rowid`` now; kept so readers need not know). ``stored`` says whether the
    stored table was fresh enough to be used.

    Examples
    --------
    >>> EventSummary(calls=10, events=8, max_tool_id=3, has_cost=False).events
    8
    """

    calls: int
    events: int
    max_tool_id: int
    has_cost: bool
    ref: str = "rowid"
    stored: bool = False


def build_sql(ref: str = "rowid", where: str = "", engine: Any = DuckEngine) -> str:
    """The query producing events from ``calls`` (optionally filtered by ``where``), in stored order.

    ``ref`` is how events refer to calls (``"rowid"``); ``where`` is SQL written by
    this package, never user text; ``engine`` the dialect (:mod:`chainmine.miner.chains.engine`).
    Only DuckDB keeps the events in stored order (the positional search needs it).

    Examples
    --------
    >>> "PARTITION BY hash(session_id)" in build_sql()
    True
    """
    return _BUILD_SQL.format(ref=ref, where=where, order=ORDER_BY, hash_sid=engine.hash("session_id"),
                             ts_ms=engine.epoch_ms("ts"), no_rids=engine.render("null_list", "BIGINT"),
                             rids=engine.render("ordered_list", "rid", "pos"),
                             order_events="ORDER BY sid, spos" if engine.positional else "")


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
                       [name]).fetchone()[0] > 0


def refresh_events(con: duckdb.DuckDBPyConnection, sessions: str, column: str = "session_id", *,
                   rebuild: bool = True) -> bool:
    """Rebuild, in one transaction of its own, the stored events of the sessions in ``sessions.column``.

    Call it after the transaction that stored the calls has committed (see the
    module docstring); inside one it raises :class:`~chainmine.miner.errors.StoreError`.
    ``sessions`` is a table, view or parenthesised query written by the caller
    (never user text). When the stored events did not cover every call before (a
    database from before this table, calls inserted by hand, a refresh that was
    interrupted), every session is rebuilt; with ``rebuild=False`` the table is then
    left stale instead (``mine`` builds its own events), for callers that must stay quick.
    Returns whether the table now covers every call.

    Parameters
    ----------
    con : a writable store connection with no open transaction.
    sessions : relation holding the touched session ids.
    column : its session id column.
    rebuild : allow rebuilding every session's events when the table was not fresh.

    Examples
    --------
    >>> from chainmine.miner.chains.search import toy_store
    >>> con = toy_store("abb", 2)
    >>> refresh_events(con, "(SELECT 's1' AS session_id)")
    True
    >>> con.execute("SELECT count(*), sum(n) FROM events").fetchone()
    (4, 6)

    Notes
    -----
    One partitioned sort of the touched sessions' calls: O(m log m) for their
    m calls, plus an O(N) scan of ``calls`` to find them.
    """
    started = time.perf_counter()
    if _calls_mark(con)[1] >= PROVISIONAL_ROWID:
        raise StoreError("refresh_events must run after the calls are committed (their rowids are provisional "
                         "inside a transaction)")
    with transaction(con):
        mark = con.execute("SELECT value FROM meta WHERE key = ?", [WATERMARK]).fetchone()
        if mark is not None and not mark[0].startswith(FORMAT + ":"):
            if not rebuild:
                return False
            con.execute(f"DROP TABLE IF EXISTS {EVENTS}")
        con.execute(EVENTS_DDL)
        stored = con.execute(f"SELECT count(*) FROM {EVENTS}").fetchone()[0]
        if stored:
            con.execute(f"DELETE FROM {EVENTS} WHERE sid IN (SELECT DISTINCT hash({column}) FROM {sessions})")
            con.execute(f"INSERT INTO {EVENTS} " + build_sql(
                STORED_REF, f"{LOGGED} AND session_id IN (SELECT DISTINCT {column} FROM {sessions})"))
        total, top = _calls_mark(con)
        covered = con.execute(f"SELECT coalesce(sum(n), 0) FROM {EVENTS}").fetchone()[0]
        if covered != total:
            # Calls outside the touched sessions were never turned into events.
            if not rebuild:
                return False
            con.execute(f"DELETE FROM {EVENTS}")
            con.execute(f"INSERT INTO {EVENTS} " + build_sql(STORED_REF, LOGGED))
        con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [WATERMARK, _mark_text(total, top)])
    log.info("events refreshed for %d calls in %.2fs", total, time.perf_counter() - started)
    return True


def refresh_after_commit(con: duckdb.DuckDBPyConnection, sessions: str, column: str = "session_id", *,
                         rebuild: bool = True) -> bool:
    """:func:`refresh_events`, where failing only costs speed: the next ``mine`` builds the events itself.

    For callers whose own work (stored calls) is already committed and must not be
    reported as failed because of the miner's cache. Returns whether the table is fresh.

    Examples
    --------
    >>> from chainmine.miner.chains.search import toy_store
    >>> refresh_after_commit(toy_store("ab", 1), "(SELECT 's0' AS session_id)")
    True
    """
    try:
        return refresh_events(con, sessions, column, rebuild=rebuild)
    except (duckdb.Error, StoreError) as exc:
        log.warning("the miner's event table was not refreshed (%s); the next mine rebuilds it",
                    str(exc).splitlines()[0])
        return False


def _calls_mark(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """``(number of logged calls, their largest rowid)``: both change when logged rows are added, deleted
    or renumbered; calls of runs do not count."""
    n, top = con.execute(f"SELECT count(*), coalesce(max(rowid), -1) FROM calls {LOGGED}").fetchone()
    return int(n), int(top)


def _mark_text(calls: int, top: int) -> str:
    return f"{FORMAT}:{calls}:{top}"


def _spot_check(con: duckdb.DuckDBPyConnection) -> bool:
    """A few stored events still name, by rowid, a call of their session and tool."""
    events = con.execute(f"SELECT rid, sid, t FROM {EVENTS} WHERE rid % 9973 = 1 LIMIT {SPOT_CHECKS}").fetchall() \
        or con.execute(f"SELECT rid, sid, t FROM {EVENTS} LIMIT {SPOT_CHECKS}").fetchall()
    if not events:
        return True
    found = dict((r, (s, t)) for r, s, t in con.execute(
        "SELECT rowid, hash(session_id), tool_id FROM calls WHERE rowid IN (SELECT unnest($r::BIGINT[]))",
        {"r": [e[0] for e in events]}).fetchall())
    return all(found.get(r) == (s, t) for r, s, t in events)


def _stored_usable(con: duckdb.DuckDBPyConnection, calls: int) -> bool:
    """The stored table covers exactly the calls, still points at them, and keeps each session's events
    contiguous and in order."""
    if not _table_exists(con, EVENTS):
        return False
    mark = con.execute("SELECT value FROM meta WHERE key = ?", [WATERMARK]).fetchone()
    if mark is None or mark[0] != _mark_text(*_calls_mark(con)) or not _spot_check(con):
        return False
    # Pairing by position needs each session's events contiguous and gap-free: one
    # positional pass checks that and the coverage together.
    broken, switches, covered, sessions = con.execute(f"""
        SELECT count(*) FILTER (WHERE s2 = sid AND p2 <> epos + 1), count(*) FILTER (WHERE s2 <> sid),
               coalesce(sum(n), 0), count(*) FILTER (WHERE spos = 1)
        FROM {EVENTS} POSITIONAL JOIN (SELECT sid AS s2, spos AS p2 FROM {EVENTS} OFFSET 1)""").fetchone()
    return covered == calls and broken == 0 and switches == max(sessions - 1, 0)


def events_fresh(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``mine`` can use the stored event table as it is (else it builds its own events).

    Examples
    --------
    >>> from chainmine.miner.chains.search import toy_store
    >>> con = toy_store("ab", 2)
    >>> events_fresh(con), refresh_events(con, "(SELECT 's0' AS session_id)"), events_fresh(con)
    (False, True, True)

    Notes
    -----
    A few O(1) lookups, a spot check of a few events, and one positional pass over the events.
    """
    return _stored_usable(con, count_calls(con))


def prepare_events(con: duckdb.DuckDBPyConnection, include_runs: bool = False) -> EventSummary:
    """Make ``_cm_ev`` the events of the logged calls: a view of the stored table when fresh, else a temporary build.

    Parameters
    ----------
    con : a store connection (read-only is fine: only temporary objects are written).
    include_runs : also the calls of recorded runs (always a temporary build when there are any).

    Examples
    --------
    >>> from chainmine.miner.chains.search import toy_store
    >>> s = prepare_events(toy_store("abbb", 1))
    >>> s.events, s.calls, s.stored
    (2, 4, False)

    Notes
    -----
    Fresh table: a few O(N) scans. Otherwise one partitioned sort of the calls,
    O(N log N) for N calls.
    """
    started = time.perf_counter()
    calls = count_calls(con)
    everything = count_calls(con, include_runs=True) if include_runs else calls
    stored = everything == calls and _stored_usable(con, calls)
    calls = everything
    drop_events(con)
    if stored:
        con.execute(f"CREATE TEMP VIEW {SCRATCH} AS SELECT {_COLUMNS} FROM {EVENTS}")
    else:
        con.execute(f"CREATE TEMP TABLE {SCRATCH} AS " + build_sql("rowid", "" if include_runs else LOGGED))
    events, max_tool, has_cost = con.execute(
        f"SELECT count(*), coalesce(max(t), 0), coalesce(bool_or(cost <> 0), false) FROM {SCRATCH}").fetchone()
    log.info("events: %d calls -> %d events (%s) in %.2fs", calls, events,
             "stored" if stored else "built", time.perf_counter() - started)
    return EventSummary(int(calls), int(events), int(max_tool), bool(has_cost), stored=stored)


def drop_events(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the ``_cm_ev`` view or temporary table (safe to call twice).

    Examples
    --------
    >>> drop_events(duckdb.connect())
    """
    drop_temp(con, [SCRATCH])
