"""The dashboard through Streamlit's AppTest: shared harness, Upload and Overview pages, empty stores, locks."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from chainmine.library.model import InputSpec, ParameterSource, WorkflowStats, WorkflowStep, WorkflowTemplate
from chainmine.library.store import WorkflowLibrary
from chainmine.miner import views
from chainmine.miner.generate import generate_logs

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"


@pytest.fixture(scope="module")
def log_bytes(tmp_path_factory) -> bytes:
    out = tmp_path_factory.mktemp("logs") / "agents.jsonl"
    generate_logs(out, sessions=200, seed=3)
    return out.read_bytes()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Point the app at a fresh database and library (what `chainmine dashboard` does)."""
    for key, value in views.dashboard_env(tmp_path / "store.duckdb", tmp_path / "workflows.json", [],
                                          base={}).items():
        monkeypatch.setenv(key, value)
    return views.dashboard_config()


def open_page(page: str = "upload") -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Every message, caption and markdown text on the page, for wording checks."""
    parts = []
    for kind in ("info", "warning", "error", "success", "markdown", "caption"):
        parts += [str(el.value) for el in getattr(at, kind)]
    return "\n".join(parts)


def table(at: AppTest, *columns: str):
    """The first table on the page holding all ``columns`` (tables carry no keys in AppTest)."""
    for frame in at.dataframe:
        value = frame.value
        if set(columns) <= set(value.columns):
            return value
    raise AssertionError(f"no table with columns {columns}")


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    for name, data in files:
        at.file_uploader(key="upload_files").upload(name, data, "application/octet-stream")
    at.run()
    at.button(key="ingest_button").click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@pytest.fixture(scope="module")
def ingested_db(tmp_path_factory, log_bytes) -> Path:
    db = tmp_path_factory.mktemp("ingested") / "store.duckdb"
    views.ingest_uploads(db, [views.UploadedLog("agents.jsonl", log_bytes)])
    return db


@pytest.fixture
def loaded(env, ingested_db):
    """The env's database holds the generated log."""
    shutil.copy(ingested_db, env.db)
    return env


# --- workflows used by the page tests ------------------------------------------------

def lookup_workflow(name="support_lookup_reservations", status="suggested") -> WorkflowTemplate:
    return WorkflowTemplate(
        name=name, status=status, source="mined", category="support",
        description="Look up a customer and each of their reservations.",
        inputs={"user_id": InputSpec(type="string", example="mia_li_3668")},
        steps=[
            WorkflowStep(id="get_user", tool_name="get_user_details", parameters={"user_id": "{{user_id}}"},
                         sources={"user_id": ParameterSource(kind="input", source="user_id", support=1.0)}),
            WorkflowStep(id="get_reservations", tool_name="get_reservation_details",
                         map_over="{{get_user.reservations}}", parameters={"reservation_id": "{{item}}"},
                         depends_on=["get_user"],
                         sources={"reservation_id": ParameterSource(kind="bound", source="{{item}}", support=0.97)}),
        ],
        stats=WorkflowStats(frequency=40, sessions=31, success_rate=0.95, example_sessions=["sess_1", "sess_2"]))


def weather_workflow(name="trip_weather", city="{{geo.address}}") -> WorkflowTemplate:
    return WorkflowTemplate(
        name=name, status="accepted", category="travel", description="Geocode a city, then its weather.",
        inputs={"address": InputSpec(type="string", example="Paris")},
        steps=[WorkflowStep(id="geo", tool_name="geocode_address", parameters={"address": "{{address}}"}),
               WorkflowStep(id="weather", tool_name="get_weather", depends_on=["geo"], parameters={"city": city})])


@pytest.fixture
def library(env):
    lib = WorkflowLibrary(env.library)
    lib.merge_suggestions([lookup_workflow(), weather_workflow()], keep_status=True)
    return lib


# --- upload -----------------------------------------------------------------------

def test_upload_several_files_shows_counts_files_and_rejects(env, log_bytes):
    bad_rows = b'{"session_id": "x", "tool": "t", "seq": 1}\nnot json at all\n{"session_id": "x", "seq": 2}\n'
    at = upload(open_page(), ("agents.jsonl.gz", gzip.compress(log_bytes)), ("bad_rows.jsonl", bad_rows))
    metrics = {m.label: m.value for m in at.metric}
    expected_calls = log_bytes.count(b"\n") + 1
    assert metrics["Calls stored"] == str(expected_calls)
    assert metrics["Rows rejected"] == "2"
    files = table(at, "path", "format", "accepted")
    assert list(files["path"]) == ["agents.jsonl.gz", "bad_rows.jsonl"]
    assert list(files["rejected"]) == [0, 2]
    rejects = table(at, "source", "line", "reason", "raw")
    assert set(rejects["source"]) == {"bad_rows.jsonl"}
    assert sorted(rejects["line"]) == [2, 3]
    assert rejects["reason"].str.len().min() > 0
    assert views.store_status(env.db).calls == expected_calls


SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
FORMAT_OF = {"anthropic": "anthropic", "openai_chat": "openai", "openai_responses": "openai-responses",
             "otel": "otel", "canonical": "canonical", "aliases": "canonical"}


def test_every_format_uploads_at_once_and_is_detected(env):
    files = [p for p in sorted(SAMPLES.iterdir()) if p.name.split(".")[0] in FORMAT_OF]
    assert len(files) >= 6
    at = upload(open_page(), *[(p.name, p.read_bytes()) for p in files])
    rows = table(at, "path", "format", "accepted")
    assert dict(zip(rows["path"], rows["format"])) == {p.name: FORMAT_OF[p.name.split(".")[0]] for p in files}
    assert int({m.label: m.value for m in at.metric}["Calls stored"]) == views.store_status(env.db).calls > 0


def test_uploading_the_same_file_again_adds_nothing(env, log_bytes):
    at = upload(open_page(), ("agents.jsonl", log_bytes))
    at.file_uploader(key="upload_files").clear()
    at = upload(at, ("again.jsonl", log_bytes))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Calls stored"] == "0"
    assert int(metrics["Duplicates skipped"]) == log_bytes.count(b"\n")


@pytest.mark.parametrize("name, data, message", [
    ("empty.jsonl", b"", "empty.jsonl is empty"),
    ("notes.txt", b"just some words\nnothing structured here\n", "notes.txt"),
])
def test_a_file_that_cannot_be_read_is_named_and_changes_nothing(env, log_bytes, name, data, message):
    at = upload(open_page(), ("good.jsonl", log_bytes), (name, data))
    assert len(at.error) == 1 and message in at.error[0].value
    assert "chainmine-upload" not in at.error[0].value
    assert not at.metric
    assert views.store_status(env.db).calls == 0


def test_a_file_over_the_upload_limit_is_explained(env):
    st_config.set_option("server.maxUploadSize", 1)
    try:
        at = open_page()
        assert "up to **1 MB**" in texts(at)
        at = upload(at, ("huge.jsonl", b'{"tool": "t", "seq": 1}\n' * 60_000))
    finally:
        st_config.set_option("server.maxUploadSize", 1024)
    assert "over the 1 MB upload limit" in at.error[0].value
    assert "--max-upload-mb" in at.error[0].value
    assert not views.store_status(env.db).exists


def test_the_ingest_button_waits_for_files(env):
    at = open_page()
    assert at.button(key="ingest_button").disabled


# --- empty store, overview, locks ---------------------------------------------------

@pytest.mark.parametrize("page, hint", [
    ("overview", "No tool calls yet"),
    ("suggestions", "No tool calls yet"),
    ("drift", "No tool calls yet"),
])
def test_pages_on_an_empty_store_say_what_to_do(env, page, hint):
    at = open_page(page)
    assert hint in texts(at)
    assert not at.error


def test_overview_kpis_graph_tables_and_chart(loaded, log_bytes):
    at = open_page("overview")
    metrics = {m.label: m.value for m in at.metric}
    calls = log_bytes.count(b"\n")
    assert metrics["Calls"] == f"{calls:,}"
    assert metrics["Sessions"] == "200"
    tools = table(at, "tool", "calls", "success_rate", "p50_ms")
    assert tools["calls"].sum() == calls
    dot = at.get("graphviz_chart")[0].proto.spec
    busiest = tools.sort_values("calls").iloc[-1]["tool"]
    assert f'"{busiest}" [' in dot and "->" in dot
    assert at.get("arrow_line_chart") or at.get("vega_lite_chart") or at.get("line_chart")


def test_the_sidebar_filter_narrows_every_view_and_is_kept_across_pages(loaded):
    at = open_page("overview")
    at.sidebar.multiselect(key="flt_tools").set_value(["get_user_details"]).run()
    tools = table(at, "tool", "calls", "success_rate")
    assert list(tools["tool"]) == ["get_user_details"]
    assert {m.label: m.value for m in at.metric}["Calls"] == str(tools["calls"][0])
    assert '"get_user_details" [' in at.get("graphviz_chart")[0].proto.spec
    at.switch_page("pages/upload.py").run()
    at.switch_page("pages/overview.py").run()
    assert at.sidebar.multiselect(key="flt_tools").value == ["get_user_details"]


def test_runs_are_left_out_until_the_sidebar_includes_them(loaded, log_bytes):
    from chainmine.miner.store import connect
    con = connect(loaded.db)
    con.execute("""INSERT INTO calls (id, session_id, ts, seq, tool_id, success, agent, origin)
                   SELECT 10**9 + i, 'run-' || (i // 3), now()::TIMESTAMP, i, (SELECT min(tool_id) FROM tools),
                          true, 'chainmine-runner', 'run' FROM range(6) t(i)""")
    con.close()
    calls = log_bytes.count(b"\n")
    at = open_page("overview")
    assert {m.label: m.value for m in at.metric}["Calls"] == f"{calls:,}"
    assert "chainmine-runner" not in at.sidebar.multiselect(key="flt_agents").options
    at.sidebar.checkbox(key="include_runs").check().run()
    assert not at.exception, [e.message for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Calls"] == f"{calls + 6:,}"
    assert "chainmine-runner" in at.sidebar.multiselect(key="flt_agents").options
    at.switch_page("pages/drift.py").run()
    assert at.sidebar.checkbox(key="include_runs").value is True


def test_a_filter_that_keeps_nothing_explains_itself(loaded):
    at = open_page("overview")
    options = at.sidebar.multiselect(key="flt_agents").options
    at.sidebar.multiselect(key="flt_agents").set_value([options[0]])
    at.sidebar.multiselect(key="flt_tools").set_value(["get_user_details"]).run()
    assert not at.exception
    # either some calls of that agent use the tool, or the page explains the empty result
    assert at.metric or "No calls match the filter" in texts(at)


def test_a_locked_database_is_a_visible_message_not_a_crash(loaded, monkeypatch):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, duckdb
        con = duckdb.connect({str(loaded.db)!r})
        print("locked", flush=True)
        sys.stdin.read()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    monkeypatch.setattr(views.connections, "LOCK_RETRY_S", 0.2)
    try:
        assert holder.stdout.readline().strip() == "locked"
        at = open_page("overview")
        assert f"in use by process {holder.pid}" in at.warning[0].value
        assert at.button(key=at.button[0].key).label == "Try again"
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    at.button[0].click().run()
    assert not at.warning and at.metric
