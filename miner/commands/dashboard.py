"""``chainmine dashboard``: start the Streamlit app on 127.0.0.1.

The app runs as ``streamlit run dashboards/app.py`` in a child process. The
database, library and tool registries travel to it in environment variables
(see :func:`chainmine.miner.views.dashboard_env`), so tool registries always come from
the command line that started the app, never from the browser.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import webbrowser

import click

from chainmine.miner.commands import common
from chainmine.miner.commands.common import db_option, library_option
from chainmine.miner.store import resolve_db_path
from chainmine.miner.views import dashboard_argv, dashboard_env, wait_until_healthy

log = logging.getLogger(__name__)


@click.command()
@db_option
@library_option
@click.option("--tools", "tools", multiple=True, metavar="SPEC",
              help="Tool registry for the Run page: a Python module or file, or an MCP server "
                   "command (repeatable).")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True,
              help="Port on 127.0.0.1.")
@click.option("--max-upload-mb", type=click.IntRange(1, 10240), default=1024, show_default=True,
              help="Largest log file the Upload page accepts, in MB.")
@click.option("--no-browser", is_flag=True, help="Do not open a browser tab.")
def dashboard(db, library_path, tools, port, max_upload_mb, no_browser) -> None:
    """Start the dashboard: upload logs, explore usage, review suggestions, run workflows.

    Example: chainmine dashboard --tools chainmine.miner.generate.tools
    """
    env = dashboard_env(resolve_db_path(db), common.library_path(library_path), tools)
    argv = dashboard_argv(port, max_upload_mb)
    url = f"http://127.0.0.1:{port}"
    click.echo(f"chainmine dashboard on {url} (Ctrl+C to stop)", err=True)
    if not no_browser:
        # the server is headless; open the tab ourselves once it answers
        threading.Thread(target=_open_when_ready, args=(url,), daemon=True).start()
    child = subprocess.Popen(argv, env=env)
    # stop the server with this command, whether by Ctrl+C or a plain kill
    signal.signal(signal.SIGTERM, lambda *_: child.terminate())
    try:
        code = child.wait()
    except KeyboardInterrupt:  # Ctrl+C reaches the server too; wait for it to finish
        child.wait()
        code = 0
    sys.exit(code)


def _open_when_ready(url: str) -> None:
    if wait_until_healthy(url, timeout_s=60):
        webbrowser.open(url)
    else:
        log.warning("the dashboard did not answer on %s within 60 s", url)
