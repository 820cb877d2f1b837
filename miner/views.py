"""Plain functions behind the dashboard: configuration, connections, status.

The Streamlit pages in ``dashboards/`` only lay out widgets; every query and
action they show is a function here or elsewhere in :mod:`miner` and
:mod:`library`, so it can be tested without Streamlit. Nothing here imports
Streamlit.

Reads use short read-only DuckDB connections that retry briefly while a
writer (``chainmine ingest`` in another terminal, say) holds the lock. All
sessions of one dashboard server share a process, and DuckDB refuses to open
one file twice in a process with different settings, so every connection made
here is taken under one process-wide lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Iterator, Sequence

import duckdb

from miner.errors import StoreError
from miner.store import call_count, connect, resolve_db_path

log = logging.getLogger(__name__)

TOOLS_ENV = "CHAINMINE_DASHBOARD_TOOLS"
"""Environment variable holding the ``--tools`` specs (a JSON list) for the app."""
LOCK_RETRY_S = 3.0
"""How long a dashboard read waits for another process's write lock."""

_DB_LOCK = threading.RLock()


@dataclass(frozen=True)
class DashboardConfig:
    """Where the dashboard reads and writes, fixed when the server starts.

    Examples
    --------
    >>> DashboardConfig(Path("x.duckdb"), Path("w.json"), ()).has_tools
    False
    """

    db: Path
    library: Path
    tools: tuple[str, ...] = ()

    @property
    def has_tools(self) -> bool:
        """True when the server was started with at least one ``--tools`` registry."""
        return bool(self.tools)


def dashboard_env(db: str | os.PathLike, library: str | os.PathLike, tools: Sequence[str],
                  base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the dashboard process: absolute paths and the tool specs.

    Examples
    --------
    >>> env = dashboard_env("x.duckdb", "w.json", ["miner.generate.tools"], base={})
    >>> json.loads(env[TOOLS_ENV]), Path(env["CHAINMINE_DB"]).is_absolute()
    (['miner.generate.tools'], True)
    """
    env = dict(os.environ if base is None else base)
    env["CHAINMINE_DB"] = str(Path(db).expanduser().resolve())
    env["CHAINMINE_LIBRARY"] = str(Path(library).expanduser().resolve())
    env[TOOLS_ENV] = json.dumps(list(tools))
    return env


def dashboard_config(env: dict[str, str] | None = None) -> DashboardConfig:
    """Read the configuration :func:`dashboard_env` wrote (defaults as in the CLI).

    Examples
    --------
    >>> dashboard_config({"CHAINMINE_DB": "/d/x.duckdb", TOOLS_ENV: '["m"]'}).tools
    ('m',)
    """
    env = os.environ if env is None else env
    raw = env.get(TOOLS_ENV) or "[]"
    try:
        tools = tuple(str(t) for t in json.loads(raw) if str(t).strip())
    except (ValueError, TypeError):
        log.warning("ignoring %s: not a JSON list: %r", TOOLS_ENV, raw)
        tools = ()
    return DashboardConfig(
        db=resolve_db_path(env.get("CHAINMINE_DB")),
        library=Path(env.get("CHAINMINE_LIBRARY") or "workflows.json"),
        tools=tools,
    )


def app_path() -> Path:
    """The dashboard's entry script, ``dashboards/app.py``.

    Found by module lookup rather than import: the miner never imports the
    dashboard layer.

    Examples
    --------
    >>> app_path().name
    'app.py'
    """
    spec = find_spec("dashboards")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("the dashboards package is missing; reinstall chainmine (pip install -e .)")
    return Path(list(spec.submodule_search_locations)[0]) / "app.py"


def dashboard_argv(port: int, max_upload_mb: int = 1024) -> list[str]:
    """The ``streamlit run`` command line: localhost only, headless, no telemetry.

    Examples
    --------
    >>> argv = dashboard_argv(8765)
    >>> "--server.address=127.0.0.1" in argv and "--server.port=8765" in argv
    True
    """
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.address=127.0.0.1",
        f"--server.port={int(port)}",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        f"--server.maxUploadSize={int(max_upload_mb)}",
        "--theme.base=light",
    ]


def wait_until_healthy(url: str, timeout_s: float = 60.0) -> bool:
    """Poll ``url/_stcore/health`` until it answers ``ok``; False after ``timeout_s``.

    Examples
    --------
    >>> wait_until_healthy("http://127.0.0.1:9", timeout_s=0)
    False
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().decode().strip() == "ok":
                    return True
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.25)


@contextlib.contextmanager
def read_connection(db: str | os.PathLike, retry_s: float = LOCK_RETRY_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short read-only connection that waits up to ``retry_s`` for a writer's lock.

    Raises :class:`miner.errors.StoreLockedError` naming the writer if the lock
    persists.

    Examples
    --------
    >>> import tempfile
    >>> db = Path(tempfile.mkdtemp()) / "t.duckdb"
    >>> connect(db).close()
    >>> with read_connection(db) as con:
    ...     con.execute("SELECT count(*) FROM calls").fetchone()[0]
    0
    """
    with _DB_LOCK:
        con = connect(db, read_only=True, lock_retry_s=retry_s)
        try:
            yield con
        finally:
            con.close()


@contextlib.contextmanager
def write_connection(db: str | os.PathLike, retry_s: float = LOCK_RETRY_S) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short read-write connection (creates the store), waiting up to ``retry_s`` for a lock.

    Examples
    --------
    >>> import tempfile
    >>> with write_connection(Path(tempfile.mkdtemp()) / "t.duckdb") as con:
    ...     con.execute("SELECT count(*) FROM runs").fetchone()[0]
    0
    """
    with _DB_LOCK:
        con = connect(db, lock_retry_s=retry_s)
        try:
            yield con
        finally:
            con.close()


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
