"""The dashboard's plain functions, graphs, launch command and page architecture."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest
from click.testing import CliRunner

from dashboards.graphs import FAIL_COLOUR, OK_COLOUR, WARN_COLOUR, transition_dot, workflow_dot
from library.model import InputSpec, WorkflowStep, WorkflowTemplate
from miner import views
from miner.cli import cli
from miner.errors import StoreLockedError
from miner.store import connect

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "dashboards").rglob("*.py"))


# --- architecture -----------------------------------------------------------

@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dashboard_files_hold_no_sql_or_database_calls(path):
    text = path.read_text()
    assert not re.search(r"\bSELECT\b|\bINSERT\b|\bduckdb\.|import duckdb|\.execute\(", text)


@pytest.mark.parametrize("path", sorted((ROOT / "miner" / "views").glob("*.py")), ids=lambda p: p.name)
def test_views_never_import_streamlit(path):
    tree = ast.parse(path.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "streamlit" not in imported and "dashboards" not in imported


# --- configuration and launch -------------------------------------------------

def test_env_round_trips_to_config(tmp_path):
    env = views.dashboard_env(tmp_path / "a.duckdb", tmp_path / "w.json",
                              ["miner.generate.tools", "python -m my_mcp_server --flag"], base={})
    cfg = views.dashboard_config(env)
    assert cfg.db == tmp_path / "a.duckdb"
    assert cfg.library == tmp_path / "w.json"
    assert cfg.tools == ("miner.generate.tools", "python -m my_mcp_server --flag")
    assert cfg.has_tools


@pytest.mark.parametrize("raw", ["", "not json", "[]", '["  "]'])
def test_missing_or_bad_tool_specs_mean_no_tools(raw):
    assert views.dashboard_config({views.TOOLS_ENV: raw}).tools == ()


def test_app_path_points_at_the_entry_script():
    assert views.app_path() == ROOT / "dashboards" / "app.py"


def test_streamlit_is_bound_to_localhost_headless_with_the_upload_limit():
    argv = views.dashboard_argv(9123, max_upload_mb=64)
    assert argv[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert {"--server.address=127.0.0.1", "--server.port=9123", "--server.headless=true",
            "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
            "--server.maxUploadSize=64"} <= set(argv)


def test_dashboard_command_starts_streamlit_with_paths_and_tools(tmp_path, monkeypatch):
    seen = {}

    def fake_call(argv, env):
        seen.update(argv=argv, env=env)
        return 0

    monkeypatch.setattr(subprocess, "call", fake_call)
    result = CliRunner().invoke(cli, ["dashboard", "--db", str(tmp_path / "x.duckdb"), "--library",
                                      str(tmp_path / "w.json"), "--tools", "miner.generate.tools",
                                      "--port", "8765", "--no-browser"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8765" in result.stderr
    assert "--server.port=8765" in seen["argv"]
    assert seen["env"]["CHAINMINE_DB"] == str(tmp_path / "x.duckdb")
    assert json.loads(seen["env"][views.TOOLS_ENV]) == ["miner.generate.tools"]


def test_dashboard_command_rejects_a_bad_port():
    result = CliRunner().invoke(cli, ["dashboard", "--port", "0", "--no-browser"])
    assert result.exit_code == 2


def test_health_wait_gives_up_on_a_closed_port():
    assert views.wait_until_healthy("http://127.0.0.1:9", timeout_s=0) is False


# --- connections ----------------------------------------------------------------

def test_store_status_does_not_create_a_missing_store(tmp_path):
    status = views.store_status(tmp_path / "none.duckdb")
    assert status.empty and not status.exists
    assert not (tmp_path / "none.duckdb").exists()


def test_a_read_waits_then_names_the_writer_holding_the_lock(tmp_path):
    db = tmp_path / "locked.duckdb"
    connect(db).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(db)!r})
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLockedError, match=rf"in use by process {holder.pid}"):
            with views.read_connection(db, retry_s=0.3):
                pass
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with views.read_connection(db, retry_s=0.3) as con:
        assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 0


# --- graphs -----------------------------------------------------------------------

def _graph():
    g = nx.DiGraph()
    g.add_node("search", calls=100, success_rate=0.99)
    g.add_node("book", calls=40, success_rate=0.9)
    g.add_node("pay", calls=10, success_rate=0.4)
    g.add_edge("search", "book", count=40, probability=0.4)
    g.add_edge("book", "pay", count=10, probability=0.25)
    return g


def test_transition_graph_colours_failing_tools_and_sizes_by_volume():
    dot = transition_dot(_graph())
    nodes = {m.group(1): m.group(0) for m in re.finditer(r'^\s+"(\w+)" \[label=.*$', dot, re.M)}
    assert FAIL_COLOUR in nodes["pay"] and WARN_COLOUR in nodes["book"] and OK_COLOUR in nodes["search"]
    size = {n: float(re.search(r"fontsize=([\d.]+)", line).group(1)) for n, line in nodes.items()}
    assert size["search"] > size["book"] > size["pay"]
    width = {m.group(1): float(m.group(2)) for m in re.finditer(r'"(\w+)" -> "\w+" \[penwidth=([\d.]+)', dot)}
    assert width["search"] > width["book"]


def test_transition_graph_keeps_only_the_heaviest_edges():
    dot = transition_dot(_graph(), max_edges=1)
    assert '"search" -> "book"' in dot and '"book" -> "pay"' not in dot
    assert '"pay" [' not in dot  # a tool joined only by hidden arrows is hidden too


def test_names_with_quotes_cannot_break_the_dot_text():
    g = nx.DiGraph()
    g.add_edge('a"b', "c", count=1)
    assert '"a\\"b" -> "c"' in transition_dot(g)


def test_workflow_graph_shows_inputs_bindings_and_map_steps():
    wf = WorkflowTemplate(name="w", inputs={"user_id": InputSpec()}, steps=[
        WorkflowStep(id="get_user", tool_name="get_user_details", parameters={"user_id": "{{user_id}}"}),
        WorkflowStep(id="get_res", tool_name="get_reservation_details", map_over="{{get_user.reservations}}",
                     parameters={"reservation_id": "{{item}}"}, depends_on=["get_user"]),
    ])
    dot = workflow_dot(wf)
    assert '"input:user_id" -> "get_user" [label="user_id", style=dashed]' in dot
    assert '"get_user" -> "get_res" [label="map"]' in dot
    assert "for each item" in dot
