"""WorkflowLibrary: the JSON file, review flow, edits, and how bad files are handled."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainmine.library.builder import WorkflowBuilder
from chainmine.library.errors import DuplicateNameError, LibraryFileError, NotFoundError, ReviewError, ValidationError
from chainmine.library.store.atomic import backup_path
from chainmine.library.model import WorkflowStats
from chainmine.library.schema import dump_library, parse_library
from chainmine.library.store import WorkflowLibrary


def lookup(name="lookup_user", frequency=10):
    wf = (WorkflowBuilder(name).describe("Look a user up, then each reservation.").category("airline")
          .input("user_id", example="u1")
          .add_step("get_user", "get_user_details", user_id="{{user_id}}")
          .add_step("get_res", "get_reservation_details", map_over="{{get_user.reservations}}",
                    reservation_id="{{item}}")
          .build())
    return wf.model_copy(update={"stats": WorkflowStats(frequency=frequency, sessions=5, success_rate=0.9)})


def single(name, tool="t", **params):
    return WorkflowBuilder(name).add_step("s", tool, **params).build()


@pytest.fixture
def lib(tmp_path):
    return WorkflowLibrary(tmp_path / "workflows.json")


def test_missing_file_is_an_empty_library_and_nothing_is_created_by_reading(lib):
    assert lib.list_all() == []
    assert len(lib) == 0
    assert not lib.path.exists()


def test_round_trip_keeps_every_field_and_the_bytes(lib):
    wf = lookup()
    lib.register(wf)
    text = lib.path.read_text()
    again = WorkflowLibrary(lib.path)
    loaded = again.get("lookup_user")
    assert loaded.steps == wf.steps and loaded.inputs == wf.inputs and loaded.stats == wf.stats
    again.save()
    assert lib.path.read_text() == text


def test_file_is_sorted_by_name_with_two_space_indent(lib):
    for name in ("zeta", "alpha", "mid"):
        lib.register(single(name))
    text = lib.path.read_text()
    doc = json.loads(text)
    assert doc["schema_version"] == 1
    assert [w["name"] for w in doc["workflows"]] == ["alpha", "mid", "zeta"]
    assert text == json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert list(doc["workflows"][0])[:2] == ["name", "description"]


def test_register_refuses_a_taken_name_unless_overwrite(lib):
    lib.register(single("w", x=1))
    with pytest.raises(DuplicateNameError):
        lib.register(single("w", x=2))
    new = lib.register(single("w", x=2), overwrite=True)
    assert new.version == 2
    assert lib.get("w").step("s").parameters == {"x": 2}


def test_register_rejects_an_invalid_workflow_and_writes_nothing(lib):
    bad = single("w").model_copy(update={"inputs": {}})
    bad.steps[0].parameters["x"] = "{{ghost}}"
    with pytest.raises(ValidationError) as info:
        lib.register(bad)
    assert any("steps[0].parameters.x" in p for p in info.value.problems)
    assert not lib.path.exists()


@pytest.mark.parametrize("start, action, kwargs, end", [
    ("suggested", "accept", {}, "accepted"),
    ("suggested", "reject", {"reason": "noise"}, "rejected"),
    ("rejected", "accept", {"force": True}, "accepted"),
    ("accepted", "reject", {"force": True}, "rejected"),
    ("accepted", "reopen", {}, "suggested"),
    ("rejected", "reopen", {}, "suggested"),
    ("accepted", "accept", {}, "accepted"),
])
def test_review_moves(lib, start, action, kwargs, end):
    lib.register(single("w").model_copy(update={"status": start}))
    result = getattr(lib, action)("w", **kwargs)
    assert result.status == end
    assert WorkflowLibrary(lib.path).get("w").status == end
    assert lib.get("w").review_note == kwargs.get("reason")


@pytest.mark.parametrize("start, action", [("rejected", "accept"), ("accepted", "reject")])
def test_going_back_needs_force_and_changes_nothing(lib, start, action):
    lib.register(single("w").model_copy(update={"status": start}))
    before = lib.path.read_bytes()
    with pytest.raises(ReviewError, match="--force"):
        getattr(lib, action)("w")
    assert lib.path.read_bytes() == before


def test_review_of_several_names_is_all_or_nothing(lib):
    lib.register(single("a"))
    lib.register(single("b"))
    with pytest.raises(NotFoundError):
        lib.review(["a", "zzz"], "accepted")
    assert lib.get("a").status == "suggested"
    assert [w.status for w in lib.review(["a", "b"], "accepted")] == ["accepted", "accepted"]


def test_unknown_name_names_close_matches(lib):
    lib.register(lookup())
    with pytest.raises(NotFoundError) as info:
        lib.accept("lookup_usr")
    assert info.value.suggestions == ["lookup_user"]
    assert "lookup_user" in str(info.value)


def test_each_edit_raises_version_and_updated_at_while_status_changes_do_not_bump_version(lib):
    lib.register(lookup())
    created = lib.get("lookup_user").created_at
    assert lib.accept("lookup_user").version == 1
    v2 = lib.edit("lookup_user", description="new words", tags=["travel"])
    v3 = lib.edit("lookup_user", options={"get_res": {"max_retries": 3, "timeout": 5}},
                  parameters={"get_user": {"verbose": True}})
    assert (v2.version, v3.version) == (2, 3)
    stored = WorkflowLibrary(lib.path).get("lookup_user")
    assert stored.status == "accepted"
    assert stored.description == "new words" and stored.tags == ["travel"]
    assert stored.step("get_res").max_retries == 3 and stored.step("get_res").timeout == 5
    assert stored.step("get_user").parameters == {"user_id": "{{user_id}}", "verbose": True}
    assert stored.created_at == created and stored.updated_at >= created


def test_an_edit_that_changes_nothing_keeps_the_version(lib):
    lib.register(lookup())
    assert lib.edit("lookup_user", description=lib.get("lookup_user").description).version == 1


def test_option_none_resets_and_unset_drops_a_parameter(lib):
    lib.register(lookup())
    lib.edit("lookup_user", options={"get_res": {"max_retries": 4}}, parameters={"get_user": {"x": 1}})
    wf = lib.edit("lookup_user", options={"get_res": {"max_retries": None}}, unset={"get_user": ["x"]})
    assert wf.step("get_res").max_retries == 0
    assert "x" not in wf.step("get_user").parameters


@pytest.mark.parametrize("changes, fragment", [
    ({"options": {"get_res": {"max_retries": -1}}}, "steps[1].max_retries"),
    ({"options": {"get_res": {"colour": "red"}}}, "not a step option"),
    ({"parameters": {"nope": {"x": 1}}}, "no step 'nope'"),
    ({"parameters": {"get_user": {"user_id": "{{ghost}}"}}}, "unknown name 'ghost'"),
    ({"options": {"get_user": {"condition": "import os"}}}, "steps[0].condition"),
    ({"name": "has space"}, "name"),
    ({"steps": []}, "cannot edit 'steps'"),
])
def test_invalid_edits_are_refused_with_the_path_and_nothing_is_written(lib, changes, fragment):
    lib.register(lookup())
    before = lib.path.read_bytes()
    with pytest.raises(ValidationError) as info:
        lib.edit("lookup_user", **changes)
    assert any(fragment in p for p in info.value.problems), info.value.problems
    assert lib.path.read_bytes() == before


def test_rename_follows_replaces_and_subworkflow_references(lib):
    lib.register(lookup())
    lib.register(single("caller", tool="workflow:lookup_user"))
    lib.register(single("newer").model_copy(update={"replaces": "lookup_user"}))
    with pytest.raises(DuplicateNameError):
        lib.edit("lookup_user", name="caller")
    lib.edit("lookup_user", name="find_user")
    assert "lookup_user" not in lib and "find_user" in lib
    assert lib.get("caller").steps[0].tool_name == "workflow:find_user"
    assert lib.get("newer").replaces == "find_user"


def test_remove_deletes_and_clears_replaces(lib):
    lib.register(lookup())
    lib.register(single("newer").model_copy(update={"replaces": "lookup_user"}))
    assert lib.remove("lookup_user").name == "lookup_user"
    assert [w.name for w in WorkflowLibrary(lib.path).list_all()] == ["newer"]
    assert lib.get("newer").replaces is None
    with pytest.raises(NotFoundError):
        lib.remove("lookup_user")


def test_each_write_keeps_the_previous_version_as_backup(lib):
    lib.register(single("a"))
    first = lib.path.read_bytes()
    lib.register(single("b"))
    assert backup_path(lib.path).read_bytes() == first
    assert [w["name"] for w in json.loads(backup_path(lib.path).read_text())["workflows"]] == ["a"]


def test_a_no_op_change_does_not_rotate_the_backup(lib):
    lib.register(single("a"))
    lib.accept("a")
    backup = backup_path(lib.path).read_bytes()
    lib.accept("a")
    assert backup_path(lib.path).read_bytes() == backup


def test_another_writer_s_change_is_seen_and_kept(tmp_path):
    one, two = WorkflowLibrary(tmp_path / "w.json"), WorkflowLibrary(tmp_path / "w.json")
    one.register(single("a"))
    assert [w.name for w in two.list_all()] == ["a"]
    two.register(single("b"))
    one.accept("a")  # must not drop b, which `one` has not read yet
    assert {w.name: w.status for w in WorkflowLibrary(tmp_path / "w.json").list_all()} == {
        "a": "accepted", "b": "suggested"}


@pytest.mark.parametrize("text, position", [
    ('{"schema_version": 1,\n  "workflows": [\n    {"name": "a",, }\n  ]\n}\n', ":3:"),
    ('{"schema_version": 1, "workflows": [', ":1:"),
    ("", ":1:1"),
])
def test_corrupt_json_is_reported_with_line_and_column_and_left_untouched(tmp_path, text, position):
    path = tmp_path / "w.json"
    path.write_text(text)
    lib = WorkflowLibrary(path)
    for attempt in (lib.list_all, lambda: lib.register(single("a")), lambda: lib.accept("a"), lib.save):
        with pytest.raises(LibraryFileError) as info:
            attempt()
        assert f"{path}{position}" in str(info.value)
        assert "invalid JSON" in str(info.value)
    assert path.read_text() == text
    assert not backup_path(path).exists()


def test_invalid_workflows_in_the_file_are_listed_with_index_name_and_field_path(tmp_path):
    path = tmp_path / "w.json"
    doc = {"schema_version": 1, "workflows": [
        {"name": "good", "steps": [{"id": "a", "tool_name": "t"}]},
        {"name": "broken", "steps": [{"id": "a"}]},
        {"name": "loop", "steps": [{"id": "a", "tool_name": "t", "depends_on": ["a"]}]},
        {"name": "good", "steps": [{"id": "a", "tool_name": "t"}]},
    ]}
    path.write_text(json.dumps(doc))
    before = path.read_bytes()
    with pytest.raises(ValidationError) as info:
        WorkflowLibrary(path).register(single("x"))
    problems = info.value.problems
    assert "workflows[1] (broken).steps[0].tool_name: Field required" in problems
    assert any(p.startswith("workflows[2] (loop).steps[0].depends_on") for p in problems)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before


def test_duplicate_names_in_a_file_are_a_problem(tmp_path):
    path = tmp_path / "w.json"
    good = {"name": "good", "steps": [{"id": "a", "tool_name": "t"}]}
    path.write_text(json.dumps({"schema_version": 1, "workflows": [good, good]}))
    with pytest.raises(ValidationError, match="duplicate workflow name 'good'"):
        WorkflowLibrary(path).list_all()


def test_a_newer_schema_is_refused_and_the_file_kept(tmp_path):
    path = tmp_path / "w.json"
    text = json.dumps({"schema_version": 2, "workflows": [], "new_field": {"x": 1}})
    path.write_text(text)
    lib = WorkflowLibrary(path)
    with pytest.raises(LibraryFileError, match="schema_version 2.*upgrade chainmine"):
        lib.list_all()
    with pytest.raises(LibraryFileError):
        lib.register(single("a"))
    assert path.read_text() == text


@pytest.mark.parametrize("old", [
    [{"name": "old_one", "steps": [{"id": "a", "tool_name": "t"}], "status": "accepted"}],
    {"workflows": [{"name": "old_one", "steps": [{"id": "a", "tool_name": "t"}], "status": "accepted"}]},
])
def test_a_version_0_file_is_migrated_on_load_and_written_as_version_1(tmp_path, old):
    path = tmp_path / "w.json"
    path.write_text(json.dumps(old))
    lib = WorkflowLibrary(path)
    assert [(w.name, w.status) for w in lib.list_all()] == [("old_one", "accepted")]
    lib.register(single("new_one"))
    doc = json.loads(path.read_text())
    assert doc["schema_version"] == 1
    assert [w["name"] for w in doc["workflows"]] == ["new_one", "old_one"]
    assert json.loads(backup_path(path).read_text()) == old


def test_unknown_top_level_keys_are_refused(tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"schema_version": 1, "workflows": [], "extra": 1}))
    with pytest.raises(LibraryFileError, match="'extra'"):
        WorkflowLibrary(path).list_all()


def test_export_text_is_a_library_file_filtered_by_status(lib, tmp_path):
    lib.register(single("a"))
    lib.register(single("b", tool="u"))
    lib.accept("b")
    out = tmp_path / "export.json"
    out.write_text(lib.export_text(status="accepted"))
    assert [w.name for w in WorkflowLibrary(out).list_all()] == ["b"]


def test_library_search_and_suggest_for_tools_use_the_file(lib):
    lib.register(lookup())
    lib.register(single("pr", tool="github_create_pr"))
    assert [h.workflow.name for h in lib.search(query="create pull request")] == ["pr"]
    assert [h.workflow.name for h in lib.search(tool_name="get_*")] == ["lookup_user"]
    (wf, score), = lib.suggest_for_tools(["get_user_details", "get_reservation_details"])
    assert (wf.name, score) == ("lookup_user", 1.0)


_text = st.text(max_size=12).filter(lambda t: "{{" not in t and "}}" not in t)
_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                     | _text, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(params=st.dictionaries(_text, _json, max_size=4), description=_text, tags=st.lists(_text, max_size=3),
       retries=st.integers(0, 100))
def test_any_parameter_values_round_trip_to_the_same_bytes(params, description, tags, retries):
    wf = (WorkflowBuilder("w").describe(description).tag(*tags)
          .add_step("s", "t", parameters=params, max_retries=retries).build())
    text = dump_library([wf])
    (back,) = parse_library(json.loads(text), "mem")
    assert back == wf
    assert dump_library([back]) == text
