"""The dashboard's plain functions, graphs, launch command and page architecture."""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from datetime import date, datetime

import networkx as nx
import pytest
from click.testing import CliRunner

from chainmine.dashboards.graphs import FAIL_COLOUR, OK_COLOUR, WARN_COLOUR, transition_dot, workflow_dot
from chainmine.library.errors import LibraryError, ReviewError
from chainmine.library.model import InputSpec, WorkflowStep, WorkflowTemplate
from chainmine.library.runner.errors import InputError
from chainmine.library.runner.events import Event
from chainmine.library.store import WorkflowLibrary
from chainmine.miner import views
from chainmine.miner.cli import cli
from chainmine.miner.errors import IngestError, StoreLockedError
from chainmine.miner.store import connect

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
                              ["chainmine.miner.generate.tools", "python -m my_mcp_server --flag"], base={})
    cfg = views.dashboard_config(env)
    assert cfg.db == tmp_path / "a.duckdb"
    assert cfg.library == tmp_path / "w.json"
    assert cfg.tools == ("chainmine.miner.generate.tools", "python -m my_mcp_server --flag")
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

    class FakeServer:
        def __init__(self, argv, env):
            seen.update(argv=argv, env=env)

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakeServer)
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    result = CliRunner().invoke(cli, ["dashboard", "--db", str(tmp_path / "x.duckdb"), "--library",
                                      str(tmp_path / "w.json"), "--tools", "chainmine.miner.generate.tools",
                                      "--port", "8765", "--no-browser"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:8765" in result.stderr
    assert "--server.port=8765" in seen["argv"]
    assert seen["env"]["CHAINMINE_DB"] == str(tmp_path / "x.duckdb")
    assert json.loads(seen["env"][views.TOOLS_ENV]) == ["chainmine.miner.generate.tools"]


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
    assert '"get_user" -> "get_res" [label="each of reservations"]' in dot
    assert "for each item" in dot


# --- uploads ------------------------------------------------------------------------

def test_two_uploads_with_the_same_name_are_both_ingested(tmp_path):
    a = b'{"session_id": "a", "tool": "search", "seq": 1}\n'
    b = b'{"session_id": "b", "tool": "search", "seq": 1}\n'
    result = views.ingest_uploads(tmp_path / "x.duckdb", [views.UploadedLog("calls.jsonl", a),
                                                          views.UploadedLog("calls.jsonl", b)])
    assert (result.accepted, result.sessions) == (2, 2)
    assert [f["path"] for f in result.files] == ["calls.jsonl", "calls.jsonl"]


def test_progress_names_each_uploaded_file(tmp_path):
    seen = []
    views.ingest_uploads(tmp_path / "x.duckdb", [views.UploadedLog("one.jsonl", b'{"tool": "a", "seq": 1}\n'),
                                                 views.UploadedLog("two.jsonl", b'{"tool": "b", "seq": 1}\n')],
                         progress=lambda name, done, total: seen.append((name, done, total)))
    assert seen == [("one.jsonl", 1, 2), ("two.jsonl", 2, 2)]


@pytest.mark.parametrize("uploads, limit, message", [
    ([], 10, "choose at least one log file"),
    ([views.UploadedLog("big.jsonl", b"x" * 3_000_000)], 2, "big.jsonl is 3.0 MB, over the 2 MB upload limit"),
])
def test_upload_checks_explain_the_problem(uploads, limit, message):
    with pytest.raises(IngestError, match=re.escape(message)):
        views.check_upload_sizes(uploads, limit)


# --- run forms and events ---------------------------------------------------------------

def _typed_workflow():
    return WorkflowTemplate(name="w", steps=[WorkflowStep(id="s", tool_name="t")], inputs={
        "name": InputSpec(type="string", example="ada"),
        "n": InputSpec(type="integer", example=3),
        "ratio": InputSpec(type="number", default=0.5),
        "flag": InputSpec(type="boolean", example=True),
        "ids": InputSpec(type="array", example=["a", "b"]),
        "extra": InputSpec(type="object", required=False),
    })


def test_each_input_type_gets_its_widget_with_the_example_as_default():
    fields = {f.name: (f.widget, f.default, f.required) for f in views.input_fields(_typed_workflow())}
    assert fields == {"name": ("text", "ada", True), "n": ("integer", 3, True), "ratio": ("number", 0.5, False),
                      "flag": ("checkbox", True, True), "ids": ("json", '["a", "b"]', True),
                      "extra": ("json", "", False)}


def test_form_values_become_typed_inputs_and_empty_optionals_are_left_out():
    fields = views.input_fields(_typed_workflow())
    values = {"name": "ada", "n": 4, "ratio": 0.25, "flag": False, "ids": '["x"]', "extra": "  "}
    assert views.form_inputs(fields, values) == {"name": "ada", "n": 4, "ratio": 0.25, "flag": False, "ids": ["x"]}


def test_form_problems_are_listed_together():
    fields = views.input_fields(_typed_workflow())
    values = {"name": "", "n": 1, "ratio": 1.0, "flag": True, "ids": "[1,", "extra": "{}"}
    with pytest.raises(InputError) as err:
        views.form_inputs(fields, values)
    assert "name: required" in str(err.value) and "ids: not valid JSON" in str(err.value)


@pytest.mark.parametrize("event, expected", [
    (Event("step.started", "r", "w", "a", {"tool": "search"}), "▶️ a started (search)"),
    (Event("step.skipped", "r", "w", "a", {"reason": "condition false"}), "⏭️ a skipped: condition false"),
    (Event("step.retrying", "r", "w", "a", {"attempt": 2, "error": "timeout"}), "🔁 a retry 2 after: timeout"),
    (Event("workflow.started", "r", "w"), None),
])
def test_events_read_as_one_line(event, expected):
    assert views.describe_event(event) == expected


# --- review helpers --------------------------------------------------------------------

def _mined(name="lookup", tools=("get_user", "get_orders")):
    return WorkflowTemplate(name=name, source="mined", steps=[
        WorkflowStep(id=f"s{i}", tool_name=t, depends_on=[f"s{i - 1}"] if i else []) for i, t in enumerate(tools)])


def test_accepting_twice_keeps_one_entry_and_a_taken_name_gets_a_free_one(tmp_path):
    lib = WorkflowLibrary(tmp_path / "w.json")
    lib.register(_mined("lookup", ("other_tool",)))
    first = views.review_suggestion(lib, _mined(), "accepted")
    again = views.review_suggestion(lib, _mined(), "accepted")
    assert first.name == again.name == "lookup_2"
    assert sorted(w.name for w in lib.list_all()) == ["lookup", "lookup_2"]
    assert views.library_entries(lib, [_mined(), _mined("x", ("nope",))])[0].name == "lookup_2"


def test_rejecting_an_accepted_workflow_asks_to_reopen_first(tmp_path):
    lib = WorkflowLibrary(tmp_path / "w.json")
    views.review_suggestion(lib, _mined(), "accepted")
    with pytest.raises(ReviewError, match="already accepted .* reopen"):
        views.review_suggestion(lib, _mined(), "rejected", reason="meh")
    assert lib.get("lookup").status == "accepted"


def test_edits_rename_and_describe_the_library_entry(tmp_path):
    lib = WorkflowLibrary(tmp_path / "w.json")
    saved = views.edit_suggestion(lib, _mined(), name=" orders_of_user ", category="shop", description="Orders.")
    assert (saved.name, saved.category, saved.description, saved.status) == \
        ("orders_of_user", "shop", "Orders.", "suggested")
    with pytest.raises(LibraryError):
        views.edit_suggestion(lib, _mined(), name="not a slug!")


def test_tool_patterns_are_offered_for_shared_prefixes():
    f = views.facets([_mined(tools=("github_list", "github_get", "slack_send"))])
    assert f["patterns"] == ["github_*"] and f["tools"] == ["github_get", "github_list", "slack_send"]


# --- explore helpers -------------------------------------------------------------------

@pytest.mark.parametrize("days, start, end", [
    (None, None, None),
    ((date(2024, 1, 1), date(2024, 1, 9)), None, None),
    ((date(2024, 1, 2), date(2024, 1, 9)), datetime(2024, 1, 2), None),
    ((date(2024, 1, 1), date(2024, 1, 3)), None, datetime(2024, 1, 4)),
    ((date(2024, 1, 2),), None, None),  # half-picked range in the browser
])
def test_sidebar_dates_become_whole_day_bounds(days, start, end):
    opts = {"first_ts": datetime(2024, 1, 1, 9), "last_ts": datetime(2024, 1, 9, 17)}
    flt = views.time_filter(opts, days, ["bot"], ["search"])
    assert (flt.start, flt.end, flt.agents, flt.tools) == (start, end, ("bot",), ("search",))
