"""Where a stored call came from: the agents' logs, or chainmine's own workflow runs.

``calls.origin`` is ``'log'`` for ingested calls and ``'run'`` for the calls
``chainmine run`` made (see :mod:`chainmine.miner.run_store`); older versions wrote
``'runner'``, which is read as a run everywhere and rewritten to ``'run'`` when
the store is opened for writing (:func:`migrate_run_origin`). Runs are the
user's own tests and uses of accepted workflows: counted as evidence they
would raise the very chains that produced them, so ``stats``, ``mine``,
``drift``, ``evaluate``, ``recommend`` and the dashboard leave them out unless
asked (``include_runs`` / ``--include-runs``); ``chainmine runs`` shows them.

Examples
--------
>>> calls_where(False), calls_where(True)
("origin NOT IN ('run', 'runner')", 'TRUE')
"""

from __future__ import annotations

import logging

import duckdb

log = logging.getLogger(__name__)

LOG = "log"
"""Origin of ingested calls."""
RUN = "run"
"""Origin of calls made by ``chainmine run``."""
LEGACY_RUN = "runner"
"""What older versions stored for runs; read as :data:`RUN`."""
RUN_ORIGINS = (RUN, LEGACY_RUN)
MIGRATED = "run_origin"
"""``meta`` key set once the legacy run origin has been rewritten."""


def calls_where(include_runs: bool, column: str = "origin") -> str:
    """SQL condition over ``calls`` keeping logged calls, and runs too when ``include_runs``.

    ``column`` is the origin column as the caller's query names it (never user text).

    Examples
    --------
    >>> calls_where(False, "c.origin")
    "c.origin NOT IN ('run', 'runner')"
    """
    if include_runs:
        return "TRUE"
    return f"{column} NOT IN (" + ", ".join(f"'{o}'" for o in RUN_ORIGINS) + ")"


def run_calls_where(column: str = "origin") -> str:
    """SQL condition over ``calls`` keeping the calls of runs only.

    Examples
    --------
    >>> run_calls_where()
    "origin IN ('run', 'runner')"
    """
    return f"{column} IN (" + ", ".join(f"'{o}'" for o in RUN_ORIGINS) + ")"


def count_calls(con: duckdb.DuckDBPyConnection, include_runs: bool = False) -> int:
    """Stored calls: logged ones, plus those of runs when ``include_runs``.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> _ = con.execute("INSERT INTO calls (id, session_id, tool_id, success, origin) "
    ...                 "VALUES (1, 's', 1, true, 'log'), (2, 'r', 1, true, 'run')")
    >>> count_calls(con), count_calls(con, include_runs=True)
    (1, 2)
    """
    return con.execute(f"SELECT count(*) FROM calls WHERE {calls_where(include_runs)}").fetchone()[0]


def migrate_run_origin(con: duckdb.DuckDBPyConnection) -> int:
    """Rewrite the legacy ``'runner'`` origin to ``'run'`` once per store; returns the rows changed.

    One scan of the origin column the first time; later opens only read ``meta``.

    Examples
    --------
    >>> from chainmine.miner.store import init_schema
    >>> con = duckdb.connect(); init_schema(con)
    >>> migrate_run_origin(con)
    0
    """
    done = con.execute("SELECT 1 FROM meta WHERE key = ?", [MIGRATED]).fetchone()
    if done:
        return 0
    changed = con.execute("UPDATE calls SET origin = ? WHERE origin = ?", [RUN, LEGACY_RUN]).fetchone()[0]
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, '1')", [MIGRATED])
    if changed:
        log.info("%d calls of runs recorded by an older version now have origin 'run'", changed)
    return int(changed)
