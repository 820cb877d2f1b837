"""The Run page through AppTest: typed input form, dry-run estimate, live progress, past runs."""

from __future__ import annotations

import json

import pytest

from chainmine.library.store import WorkflowLibrary
from chainmine.miner import views
from test_dashboard import env, library, lookup_workflow, open_page, table, texts, weather_workflow  # noqa: F401


# --- run ----------------------------------------------------------------------------

def test_run_page_without_tools_explains_how_to_start(library):
    at = open_page("run")
    assert "chainmine dashboard --tools" in texts(at)
    assert not at.button and "No runs recorded yet" in texts(at)


@pytest.fixture
def with_tools(env, monkeypatch):
    monkeypatch.setenv(views.TOOLS_ENV, json.dumps(["chainmine.miner.generate.tools"]))


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
