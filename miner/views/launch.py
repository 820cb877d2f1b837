"""How the dashboard is started: its configuration, command line and health check.

``chainmine dashboard`` runs ``streamlit run dashboards/app.py`` in a child
process and hands it the database, library and tool registries through
environment variables; the app reads them back with :func:`dashboard_config`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Sequence

from chainmine.miner.errors import StoreError
from chainmine.miner.store import resolve_db_path

log = logging.getLogger(__name__)

TOOLS_ENV = "CHAINMINE_DASHBOARD_TOOLS"
"""Environment variable holding the ``--tools`` specs (a JSON list) for the app."""


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
    >>> env = dashboard_env("x.duckdb", "w.json", ["chainmine.miner.generate.tools"], base={})
    >>> json.loads(env[TOOLS_ENV]), Path(env["CHAINMINE_DB"]).is_absolute()
    (['chainmine.miner.generate.tools'], True)
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
    spec = find_spec("chainmine.dashboards")
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
        "--client.toolbarMode=minimal",
        "--theme.base=light",
        "--theme.primaryColor=#2f6db5",
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
