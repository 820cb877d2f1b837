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
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Callable, Iterator, Sequence

import duckdb

from miner.errors import IngestError, StoreError
from miner.ingest import ingest_paths, list_rejects
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


# --- upload ------------------------------------------------------------------------

@dataclass(frozen=True)
class UploadedLog:
    """One file a user uploaded: its name and bytes.

    Examples
    --------
    >>> UploadedLog("calls.jsonl", b"x" * 1_500_000).size_mb
    1.5
    """

    name: str
    data: bytes

    @property
    def size_mb(self) -> float:
        """Size in MB (10^6 bytes, as Streamlit's upload limit counts)."""
        return len(self.data) / 1e6


@dataclass(frozen=True)
class UploadResult:
    """What an upload did: the ingest's counts, per file, and its rejected rows.

    ``files`` and ``rejects`` name each file as the user uploaded it.

    Examples
    --------
    >>> UploadResult(accepted=2, rejected=0, duplicates=0, sessions=1).to_dict()["accepted"]
    2
    """

    accepted: int
    rejected: int
    duplicates: int
    sessions: int
    files: tuple[dict, ...] = ()
    rejects: tuple[dict, ...] = ()
    reject_reasons: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict:
        """Plain dict of the counts, files and rejects."""
        return {"accepted": self.accepted, "rejected": self.rejected, "duplicates": self.duplicates,
                "sessions": self.sessions, "files": list(self.files), "rejects": list(self.rejects),
                "reject_reasons": dict(self.reject_reasons)}


def check_upload_sizes(uploads: Sequence[UploadedLog], max_upload_mb: float) -> None:
    """Raise :class:`~miner.errors.IngestError` for no files or a file over the limit.

    Examples
    --------
    >>> check_upload_sizes([UploadedLog("big.jsonl", b"x" * 2_000_000)], 1)
    Traceback (most recent call last):
    ...
    miner.errors.IngestError: big.jsonl is 2.0 MB, over the 1 MB upload limit; ingest it from a terminal with `chainmine ingest big.jsonl`, or restart with `chainmine dashboard --max-upload-mb 3`
    """
    if not uploads:
        raise IngestError("choose at least one log file to upload")
    for up in uploads:
        if up.size_mb > max_upload_mb:
            raise IngestError(
                f"{up.name} is {up.size_mb:.1f} MB, over the {max_upload_mb:g} MB upload limit; ingest it "
                f"from a terminal with `chainmine ingest {up.name}`, or restart with "
                f"`chainmine dashboard --max-upload-mb {int(up.size_mb) + 1}`")


def ingest_uploads(db: str | os.PathLike, uploads: Sequence[UploadedLog], *, max_upload_mb: float = 1024,
                   format: str = "auto", progress: Callable[[str, int, int], None] | None = None,
                   reject_limit: int = 200) -> UploadResult:
    """Write uploaded files to a temporary folder and ingest them in one transaction.

    Formats are detected per file. A file that cannot be read at all (empty, no
    known format) fails the whole upload with one message naming it, and the
    store is unchanged. ``progress(name, done, total)`` is called after each file.

    Examples
    --------
    >>> import tempfile
    >>> db = Path(tempfile.mkdtemp()) / "t.duckdb"
    >>> r = ingest_uploads(db, [UploadedLog("a.jsonl", b'{"session_id": "s", "tool": "x", "seq": 1}\\nnope\\n')])
    >>> (r.accepted, r.rejected, r.files[0]["path"], r.rejects[0]["source"])
    (1, 1, 'a.jsonl', 'a.jsonl')
    """
    check_upload_sizes(uploads, max_upload_mb)
    with tempfile.TemporaryDirectory(prefix="chainmine-upload-") as tmp:
        shown: dict[str, str] = {}
        for i, up in enumerate(uploads):
            # one folder per file keeps two uploads with the same name apart
            path = Path(tmp) / str(i) / (Path(up.name).name or "upload")
            path.parent.mkdir()
            path.write_bytes(up.data)
            shown[str(path)] = up.name

        def named(text: str) -> str:
            for local, name in shown.items():
                text = text.replace(local, name)
            return text

        def report_progress(path: str, done: int, total: int) -> None:
            if progress is not None:
                progress(named(path), done, total)

        try:
            with write_connection(db) as con:
                report = ingest_paths(con, list(shown), format=format, progress=report_progress)
                rejects = list_rejects(con, reject_limit, ingest_ids=report.ingest_ids)
        except IngestError as exc:
            raise IngestError(named(str(exc))) from None
    files = tuple({**f, "path": named(str(f["path"]))} for f in report.files)
    rejects = tuple({**r, "source": named(str(r["source"]))} for r in rejects)
    return UploadResult(report.accepted, report.rejected, report.duplicates, report.sessions, files, rejects,
                        tuple(report.reject_reasons.items()))


def sample_log_path() -> Path | None:
    """The bundled sample log ``data/sample_logs.jsonl``, if this install has it.

    Examples
    --------
    >>> p = sample_log_path(); p is None or p.name == "sample_logs.jsonl"
    True
    """
    path = Path(__file__).resolve().parent.parent / "data" / "sample_logs.jsonl"
    return path if path.is_file() else None
