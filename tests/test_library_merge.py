"""Merging mined suggestions: no duplicates, review decisions kept, accepted steps untouched."""

from __future__ import annotations

import json

import pytest

from chainmine.library.builder import WorkflowBuilder
from chainmine.library.errors import ValidationError
from chainmine.library.merge import MergeOutcome, merge_workflows
from chainmine.library.model import WorkflowStats
from chainmine.library.store import WorkflowLibrary


def mined(name, user_param="{{user_id}}", frequency=10, tools=("get_user_details", "get_reservation_details")):
    wf = (WorkflowBuilder(name).input("user_id", example="u1")
          .add_step("get_user", tools[0], user_id=user_param)
          .add_step("get_res", tools[1], map_over="{{get_user.reservations}}", reservation_id="{{item}}")
          .build())
    return wf.model_copy(update={"source": "mined", "stats": WorkflowStats(frequency=frequency, sessions=3)})


def batch(frequency=10):
    return [mined("lookup_user", frequency=frequency),
            mined("cancel_flow", tools=("get_user_details", "cancel_reservation"), frequency=frequency),
            mined("fixed_user", user_param="u_42", frequency=frequency)]


@pytest.fixture
def lib(tmp_path):
    return WorkflowLibrary(tmp_path / "workflows.json")


def test_first_save_adds_everything_as_suggested(lib):
    report = lib.merge_suggestions(batch())
    assert (report.added, report.updated, report.unchanged, report.renamed) == (3, 0, 0, 0)
    assert {w.name: w.status for w in lib.list_all()} == {
        "cancel_flow": "suggested", "fixed_user": "suggested", "lookup_user": "suggested"}
    assert all(w.created_at and w.source == "mined" for w in lib.list_all())


def test_saving_the_same_suggestions_twice_adds_nothing_and_keeps_decisions(lib):
    lib.merge_suggestions(batch())
    lib.accept("lookup_user")
    lib.reject("cancel_flow", reason="not useful")
    report = lib.merge_suggestions(batch())
    assert (report.added, report.updated, report.unchanged, report.skipped_rejected) == (0, 0, 2, 1)
    assert {w.name: w.status for w in lib.list_all()} == {
        "cancel_flow": "rejected", "fixed_user": "suggested", "lookup_user": "accepted"}
    assert lib.get("cancel_flow").review_note == "not useful"


def test_identity_is_the_signature_not_the_name(lib):
    lib.merge_suggestions([mined("lookup_user")])
    report = lib.merge_suggestions([mined("some_other_name")])
    assert report.unchanged == 1
    assert [w.name for w in lib.list_all()] == ["lookup_user"]
    assert report.outcomes[0] == MergeOutcome("lookup_user", "unchanged", "some_other_name", matched="lookup_user")


def test_new_stats_update_entries_of_every_status_but_never_resurrect_a_rejected_one(lib):
    lib.merge_suggestions(batch(frequency=10))
    lib.accept("lookup_user")
    lib.reject("cancel_flow")
    report = lib.merge_suggestions(batch(frequency=25))
    assert (report.updated, report.skipped_rejected) == (2, 1)
    assert {w.name: (w.status, w.stats.frequency) for w in lib.list_all()} == {
        "cancel_flow": ("rejected", 25), "fixed_user": ("suggested", 25), "lookup_user": ("accepted", 25)}


def test_a_changed_shape_of_an_accepted_workflow_arrives_as_a_new_suggestion_that_replaces_it(lib):
    lib.merge_suggestions([mined("lookup_user")])
    accepted = lib.accept("lookup_user")
    report = lib.merge_suggestions([mined("lookup_user", user_param="{{user_id}}_x")])
    (outcome,) = report.outcomes
    assert (outcome.action, outcome.name, outcome.replaces, outcome.renamed) == (
        "added", "lookup_user_2", "lookup_user", True)
    assert lib.get("lookup_user").steps == accepted.steps
    assert lib.get("lookup_user").status == "accepted"
    new = lib.get("lookup_user_2")
    assert (new.status, new.replaces) == ("suggested", "lookup_user")


def test_a_changed_shape_of_a_suggested_workflow_is_simply_another_suggestion(lib):
    lib.merge_suggestions([mined("lookup_user")])
    report = lib.merge_suggestions([mined("lookup_user", user_param="u_1")])
    assert report.outcomes[0].replaces is None
    assert [w.name for w in lib.list_all()] == ["lookup_user", "lookup_user_2"]


def test_name_collisions_get_the_next_free_suffix_without_overwriting(lib):
    lib.merge_suggestions([mined("w", user_param="a")])
    lib.register(mined("w_2", user_param="b"))
    report = lib.merge_suggestions([mined("w", user_param="c"), mined("w", user_param="d")])
    assert [o.name for o in report.outcomes] == ["w_3", "w_4"]
    assert report.renamed == 2
    assert {w.name: w.step("get_user").parameters["user_id"] for w in lib.list_all()} == {
        "w": "a", "w_2": "b", "w_3": "c", "w_4": "d"}


def test_a_reviewer_s_edit_does_not_make_the_mined_workflow_come_back(lib):
    lib.merge_suggestions([mined("lookup_user")])
    lib.accept("lookup_user")
    lib.edit("lookup_user", parameters={"get_user": {"user_id": "{{user_id}}", "verbose": True}})
    report = lib.merge_suggestions([mined("lookup_user", frequency=99)])
    assert (report.added, report.updated) == (0, 1)
    assert lib.get("lookup_user").step("get_user").parameters["verbose"] is True
    assert lib.get("lookup_user").stats.frequency == 99


def test_duplicates_inside_one_batch_collapse(lib):
    report = lib.merge_suggestions([mined("a"), mined("b")])
    assert (report.added, report.unchanged) == (1, 1)
    assert len(lib) == 1


def test_an_invalid_suggestion_stops_the_whole_merge_and_every_problem_is_listed(lib):
    bad = mined("bad").model_copy(update={"inputs": {}})
    worse = mined("worse")
    worse = worse.model_copy(update={"steps": [
        worse.steps[0].model_copy(update={"parameters": {"user_id": "{{someone}}"}}), worse.steps[1]]})
    with pytest.raises(ValidationError) as info:
        lib.merge_suggestions([mined("good"), bad, worse])
    assert [p.split(":")[0] for p in info.value.problems] == [
        "workflows[1] (bad).steps[0].parameters.user_id", "workflows[2] (worse).steps[0].parameters.user_id"]
    assert not lib.path.exists()


def test_report_to_dict_is_json_with_counts_and_outcomes(lib):
    report = lib.merge_suggestions(batch())
    data = json.loads(json.dumps(report.to_dict()))
    assert {k: data[k] for k in ("added", "updated", "unchanged", "skipped_rejected", "renamed")} == {
        "added": 3, "updated": 0, "unchanged": 0, "skipped_rejected": 0, "renamed": 0}
    assert [o["action"] for o in data["outcomes"]] == ["added"] * 3


@pytest.mark.parametrize("keep_status, expected", [(False, "suggested"), (True, "accepted")])
def test_keep_status_decides_the_status_of_new_entries(keep_status, expected):
    incoming = mined("w").model_copy(update={"status": "accepted"})
    merged, report = merge_workflows([], [incoming], keep_status=keep_status, source="imported", now="T")
    assert [(w.status, w.source, w.created_at) for w in merged] == [(expected, "imported", "T")]


def test_keep_status_settles_an_unreviewed_match_but_never_overrides_a_decision():
    local = [mined("a"), mined("r", user_param="x").model_copy(update={"status": "rejected"})]
    incoming = [w.model_copy(update={"status": "accepted"}) for w in local]
    merged, report = merge_workflows(local, incoming, keep_status=True)
    assert {w.name: w.status for w in merged} == {"a": "accepted", "r": "rejected"}
    assert [o.action for o in report.outcomes] == ["updated", "skipped_rejected"]
