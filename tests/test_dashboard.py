"""The dashboard pages driven through Streamlit's AppTest, against real stores in tmp_path."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from library.model import InputSpec, ParameterSource, WorkflowStats, WorkflowStep, WorkflowTemplate
from library.store import WorkflowLibrary
from miner import views
from miner.generate import generate_logs

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


def open_page(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    if page:
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


# --- library ------------------------------------------------------------------------

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


def test_empty_library_points_to_suggestions(env):
    at = open_page("library")
    assert "The library is empty" in texts(at)
    assert not at.dataframe


@pytest.mark.parametrize("widget, value, expected", [
    ("lib_tool", "get_reservation_details", ["support_lookup_reservations"]),
    ("lib_tool", "get_*", ["support_lookup_reservations", "trip_weather"]),
    ("lib_category", "travel", ["trip_weather"]),
    ("lib_status", "accepted", ["trip_weather"]),
    ("lib_query", "customer reservations", ["support_lookup_reservations"]),
])
def test_library_filters_narrow_the_table(library, widget, value, expected):
    at = open_page("library")
    assert sorted(table(at, "name", "status", "tools")["name"]) == ["support_lookup_reservations", "trip_weather"]
    kind = at.text_input if widget == "lib_query" else at.selectbox
    kind(key=widget).set_value(value).run()
    assert sorted(table(at, "name", "status", "tools")["name"]) == expected


def test_library_filters_that_match_nothing_say_so(library):
    at = open_page("library")
    at.text_input(key="lib_query").set_value("zebra unicorn").run()
    assert "No workflow matches" in texts(at)


def test_library_detail_shows_graph_parameters_and_accepts(library):
    at = open_page("library")
    at.selectbox(key="lib_detail").set_value("support_lookup_reservations").run()
    params = table(at, "parameter", "kind", "support")
    assert dict(zip(params["parameter"], params["kind"])) == {"user_id": "input", "reservation_id": "bound"}
    dot = at.get("graphviz_chart")[0].proto.spec
    assert '"get_user" -> "get_reservations"' in dot
    at.button(key="lib_accept").click().run()
    assert "Accepted support_lookup_reservations" in at.success[0].value
    assert WorkflowLibrary(library.path).get("support_lookup_reservations").status == "accepted"


def test_library_export_downloads_the_library(library):
    at = open_page("library")
    assert at.download_button(key="lib_export").label == "Download library JSON"
    at.radio(key="lib_export_status").set_value("accepted").run()
    assert not at.exception


def test_a_library_file_that_fails_validation_is_a_clear_message(env):
    env.library.write_text(json.dumps({"workflows": [{"name": "bad name!", "steps": []}]}))
    at = open_page("library")
    assert len(at.error) == 1
    assert "bad name!" in at.error[0].value or "invalid" in at.error[0].value
    assert "Fix the library file" in texts(at)


def test_a_library_file_that_is_not_json_is_a_clear_message(env):
    env.library.write_text("{ not json")
    at = open_page("library")
    assert len(at.error) == 1 and str(env.library) in at.error[0].value


# --- run ----------------------------------------------------------------------------

def test_run_page_without_tools_explains_how_to_start(library):
    at = open_page("run")
    assert "chainmine dashboard --tools" in texts(at)
    assert not at.button and "No runs recorded yet" in texts(at)


@pytest.fixture
def with_tools(env, monkeypatch):
    monkeypatch.setenv(views.TOOLS_ENV, json.dumps(["miner.generate.tools"]))


def test_run_page_without_accepted_workflows_points_to_review(env, with_tools):
    WorkflowLibrary(env.library).merge_suggestions([lookup_workflow()])
    at = open_page("run")
    assert "No accepted workflow yet" in texts(at)


def test_run_form_estimate_live_progress_and_past_runs(env, library, with_tools):
    library.accept("support_lookup_reservations")
    at = open_page("run")
    at.selectbox(key="run_workflow").set_value("support_lookup_reservations").run()
    plan = table(at, "id", "tool", "source")
    assert list(plan["id"]) == ["get_user", "get_reservations"]
    field = at.text_input(key="run_input_support_lookup_reservations_user_id")
    assert field.value == "mia_li_3668"
    at.button[0].click().run()  # the form's submit button
    assert not at.exception
    status = at.status[0]
    assert "completed" in status.label
    lines = "\n".join(str(m.value) for m in status.markdown)
    assert "get_user finished" in lines and "get_reservations finished" in lines
    steps = table(at, "id", "status", "attempts")
    assert set(steps["status"]) == {"completed"}
    runs = views.recent_runs(env.db)
    assert [(r["workflow"], r["status"]) for r in runs] == [("support_lookup_reservations", "completed")]
    past = table(at, "run_id", "workflow", "status")
    assert list(past["run_id"]) == [runs[0]["run_id"]]
    record = table(at, "step", "parameters", "result")
    assert "mia_li_3668" in record["parameters"][0]


def test_a_missing_required_input_is_named_and_nothing_runs(env, library, with_tools):
    at = open_page("run")
    at.selectbox(key="run_workflow").set_value("trip_weather").run()
    at.text_input(key="run_input_trip_weather_address").set_value("")
    at.button[0].click().run()
    assert "address: required" in at.error[0].value
    assert views.recent_runs(env.db) == []


def test_a_failing_step_shows_the_error_and_is_recorded(env, library, with_tools):
    library.register(weather_workflow("broken_weather", city="{{geo.lat}}"))
    library.accept("broken_weather")
    at = open_page("run")
    at.selectbox(key="run_workflow").set_value("broken_weather").run()
    at.button[0].click().run()
    assert at.status[0].state == "error"
    assert "failed" in at.error[0].value and "lat" in at.error[0].value
    steps = table(at, "id", "status", "attempts")
    assert dict(zip(steps["id"], steps["status"])) == {"geo": "completed", "weather": "failed"}
    assert [r["status"] for r in views.recent_runs(env.db)] == ["failed"]


# --- overview -----------------------------------------------------------------------

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


# --- suggestions --------------------------------------------------------------------

RESERVATIONS = ["get_user_details", "get_reservation_details"]


@pytest.fixture(scope="module")
def mined(ingested_db) -> list[WorkflowTemplate]:
    return views.mine_suggestions(ingested_db)


def suggestions_page(mined: list[WorkflowTemplate]) -> AppTest:
    """The Suggestions page holding ``mined`` as if Find suggestions had just run."""
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    at.session_state["suggestions"] = mined
    at.switch_page("pages/suggestions.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_mining_lists_ranked_suggestions_with_their_evidence(loaded):
    at = open_page("suggestions")
    assert "Press **Find suggestions**" in texts(at)
    at.button[0].click().run()  # the form's submit button
    rows = table(at, "rank", "name", "tools", "frequency", "sessions", "success_rate", "score")
    assert list(rows["rank"]) == list(range(1, len(rows) + 1))
    assert list(rows["score"]) == sorted(rows["score"], reverse=True)
    assert " → ".join(RESERVATIONS) in set(rows["tools"])
    assert (rows["frequency"] >= 3).all() and (rows["success_rate"] >= 0.8).all()


def test_thresholds_that_keep_nothing_say_what_to_loosen(loaded):
    at = open_page("suggestions")
    at.number_input(key="mine_min_frequency").set_value(100000)
    at.button[0].click().run()
    assert "No chain passes these settings" in at.warning[0].value


def test_suggestion_detail_shows_dag_and_parameter_sources(loaded, mined):
    at = suggestions_page(mined)
    wf = next(w for w in mined if w.tools == RESERVATIONS)
    at.selectbox(key="sugg_detail").set_value(wf.name).run()
    dot = at.get("graphviz_chart")[0].proto.spec
    assert f'"{wf.steps[0].id}" -> "{wf.steps[1].id}"' in dot
    params = table(at, "step", "parameter", "kind", "source", "support")
    kinds = dict(zip(params["parameter"], params["kind"]))
    assert kinds["user_id"] == "input" and kinds["reservation_id"] == "bound"
    assert "Example sessions" in texts(at)


def test_accepting_a_suggestion_with_edits_saves_it_and_library_search_finds_it(loaded, mined):
    at = suggestions_page(mined)
    wf = next(w for w in mined if w.tools == RESERVATIONS)
    at.selectbox(key="sugg_detail").set_value(wf.name).run()
    index = mined.index(wf)
    at.text_input(key=f"sugg_name_{index}").set_value("lookup_reservations")
    at.text_input(key=f"sugg_category_{index}").set_value("airline")
    at.button(key="sugg_accept").click().run()
    assert "Accepted lookup_reservations" in at.success[0].value
    saved = WorkflowLibrary(loaded.library).get("lookup_reservations")
    assert (saved.status, saved.category, saved.tools) == ("accepted", "airline", RESERVATIONS)
    rows = table(at, "rank", "name", "in library")
    assert "accepted as lookup_reservations" in set(rows["in library"])

    at.switch_page("pages/library.py").run()
    at.selectbox(key="lib_tool").set_value("get_reservation_details").run()
    assert list(table(at, "name", "status", "tools")["name"]) == ["lookup_reservations"]


def test_rejecting_keeps_the_reason_and_blocks_a_later_accept(loaded, mined):
    at = suggestions_page(mined)
    at.text_input(key="sugg_reason_0").set_value("too generic")
    at.button(key="sugg_reject").click().run()
    entry = WorkflowLibrary(loaded.library).get(mined[0].name)
    assert (entry.status, entry.review_note) == ("rejected", "too generic")
    at.button(key="sugg_accept").click().run()
    assert "already rejected" in at.error[0].value and "reopen" in at.error[0].value


# --- drift --------------------------------------------------------------------------

def test_drift_without_workflows_says_how_to_fill_the_library(loaded):
    at = open_page("drift")
    assert "library is empty" in at.error[0].value


def test_drift_shows_each_workflow_per_window_and_recommends(loaded, mined):
    lib = WorkflowLibrary(loaded.library)
    lib.merge_suggestions(mined[:3])
    at = open_page("drift")
    rows = table(at, "workflow", "flagged", "latest", "verdict")
    assert sorted(rows["workflow"]) == sorted(w.name for w in mined[:3])
    assert rows["verdict"].str.len().min() > 0
    at.text_input(key="rec_prefix").set_value(mined[0].tools[0]).run()
    recs = table(at, "workflow", "score", "why")
    assert mined[0].name in set(recs["workflow"])
