"""The review pages through AppTest: Suggestions (mine, accept, reject, edit), Library (search, export), Drift."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from chainmine.library.model import WorkflowTemplate
from chainmine.library.store import WorkflowLibrary
from chainmine.miner import views
from test_dashboard import (APP, env, ingested_db, library, loaded, log_bytes, open_page,  # noqa: F401 (fixtures)
                            table, texts)


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


def test_library_detail_shows_the_replay_evidence(library):
    lib = WorkflowLibrary(library.path)
    lib.set_evidence("replay", {"support_lookup_reservations": {
        "pass_rate": 0.25, "args_pass_rate": 0.5, "replayed": 4, "passed": 1, "compared": 9, "skipped_writes": 0,
        "at": "2026-12-07T04:00:00+00:00",
        "first_disagreement": {"session": "s7", "step": "get_reservations", "field": "args.reservation_id",
                               "logged": '"A1"', "replayed": '"B2"'}}})
    at = open_page("library")
    assert table(at, "name", "replay_pass_rate").set_index("name")["replay_pass_rate"][
        "support_lookup_reservations"] == 0.25
    at.selectbox(key="lib_detail").set_value("support_lookup_reservations").run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Replay pass rate"] == "25%" and metrics["Replayed"] == "1/4"
    assert any("step get_reservations, args.reservation_id" in c.value for c in at.caption)
