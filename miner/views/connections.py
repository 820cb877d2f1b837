"""Short DuckDB connections for the dashboard, and the store's status.

Reads use short read-only connections that retry briefly while a writer
(``chainmine ingest`` in another terminal, say) holds the lock. All sessions of
one dashboard server share a process, and DuckDB refuses to open one file
twice in a process with different settings, so every connection made here is
taken under one process-wide lock.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb

from chainmine.miner.errors import StoreLockedError
from chainmine.miner.store import call_count, connect

LOCK_RETRY_S = 3.0
"""How long a dashboard read waits for another process's write lock."""
BUSY_WAIT_S = 15.0
"""How long a dashboard session waits for another session's upload or run in this process."""

_DB_LOCK = threading.RLock()


@contextlib.contextmanager
def exclusive_store_access(wait_s: float = BUSY_WAIT_S) -> Iterator[None]:
    """Hold the dashboard process's store lock (other sessions wait up to ``wait_s``).

    Raises :class:`chainmine.miner.errors.StoreLockedError` when another session keeps it longer.

    Examples
    --------
    >>> with exclusive_store_access():
    ...     with exclusive_store_access():  # re-entrant in one thread
    ...         "ok"
    'ok'
    """
    if not _DB_LOCK.acquire(timeout=wait_s):
        raise StoreLockedError("the dashboard is busy with another upload or workflow run; "
                               "try again when it has finished")
    try:
        yield
    finally:
        _DB_LOCK.release()


@contextlib.contextmanager
def _connection(db: str | os.PathLike, read_only: bool, retry_s: float | None
                ) -> Iterator[duckdb.DuckDBPyConnection]:
    with exclusive_store_access():
        con = connect(db, read_only=read_only, lock_retry_s=LOCK_RETRY_S if retry_s is None else retry_s)
        try:
            yield con
        finally:
            con.close()


def read_connection(db: str | os.PathLike, retry_s: float | None = None
                    ) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A short read-only connection that waits up to ``retry_s`` (default :data:`LOCK_RETRY_S`) for a writer's lock.

    Raises :class:`chainmine.miner.errors.StoreLockedError` naming the writer if the lock
    persists, :class:`chainmine.miner.errors.StoreError` if there is no database yet.

    Examples
    --------
    >>> import tempfile
    >>> db = Path(tempfile.mkdtemp()) / "t.duckdb"
    >>> connect(db).close()
    >>> with read_connection(db) as con:
    ...     con.execute("SELECT count(*) FROM calls").fetchone()[0]
    0
    """
    return _connection(db, True, retry_s)


def write_connection(db: str | os.PathLike, retry_s: float | None = None
                     ) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A short read-write connection (creates the store), waiting up to ``retry_s`` for a lock.

    Examples
    --------
    >>> import tempfile
    >>> with write_connection(Path(tempfile.mkdtemp()) / "t.duckdb") as con:
    ...     con.execute("SELECT count(*) FROM runs").fetchone()[0]
    0
    """
    return _connection(db, False, retry_s)


@dataclass(frozen=True)
class StoreStatus:
    """Whether the store exists and holds calls: drives every page's empty state.

    Examples
    --------
    >>> StoreStatus(exists=False, calls=0).empty
    True
    """

    exists: bool
    calls: int = 0

    @property
    def empty(self) -> bool:
        """True when there is nothing to show yet (no file, or no calls)."""
        return self.calls == 0


def store_status(db: str | os.PathLike) -> StoreStatus:
    """Check the store without creating it.

    Examples
    --------
    >>> import tempfile
    >>> store_status(Path(tempfile.mkdtemp()) / "none.duckdb")
    StoreStatus(exists=False, calls=0)
    """
    if not Path(db).exists():
        return StoreStatus(exists=False)
    with read_connection(db) as con:
        return StoreStatus(exists=True, calls=call_count(con))
