"""`chainmine library ...` through the CLI runner: every subcommand, its JSON and its errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from chainmine.library.builder import WorkflowBuilder
from chainmine.library.model import WorkflowStats
from chainmine.library.store import WorkflowLibrary
from chainmine.miner.cli import cli


@pytest.fixture
def path(tmp_path):
    lib_path = tmp_path / "workflows.json"
    lib = WorkflowLibrary(lib_path)
    lib.register(WorkflowBuilder("open_pr").describe("Open a pull request and tell the team.").category("dev")
                 .input("repo", example="acme/web")
                 .add_step("create", "github_create_pr", repo="{{repo}}")
                 .add_step("notify", "slack_send_message", text="PR {{create.url}}")
                 .build().model_copy(update={"stats": WorkflowStats(frequency=40, success_rate=0.95)}))
    lib.register(WorkflowBuilder("lookup_user").category("airline").input("user_id")
                 .add_step("get_user", "get_user_details", user_id="{{user_id}}")
                 .add_step("get_res", "get_reservation_details", map_over="{{get_user.reservations}}",
                           reservation_id="{{item}}", max_retries=2)
                 .build().model_copy(update={"stats": WorkflowStats(frequency=97)}))
    lib.register(WorkflowBuilder("notify_team").category("comms")
                 .add_step("send", "slack_send_message", text="hello").build())
    return lib_path


def run(*args, input=None):
    return CliRunner().invoke(cli, ["library", *map(str, args)], input=input)


def ok(*args, input=None):
    result = run(*args, input=input)
    assert result.exit_code == 0, result.output
    return result


def fails(*args, input=None):
    result = run(*args, input=input)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    return result


def as_json(*args):
    return json.loads(ok(*args, "--json").stdout)


def test_list_json_is_a_list_of_workflows_sorted_by_name(path):
    data = as_json("list", "--library", path)
    assert [w["name"] for w in data] == ["lookup_user", "notify_team", "open_pr"]
    assert data[0]["steps"][1]["map_over"] == "{{get_user.reservations}}"
    assert [w["name"] for w in as_json("list", "--library", path, "--status", "accepted")] == []


def test_list_table_shows_tools_frequency_and_success(path):
    out = ok("list", "--library", path).stdout
    for text in ("name", "status", "frequency", "success", "github_create_pr → slack_send_message", "95%", "97"):
        assert text in out


def test_library_path_comes_from_the_environment(path, monkeypatch):
    monkeypatch.setenv("CHAINMINE_LIBRARY", str(path))
    assert len(as_json("list")) == 3


def test_empty_library_lists_nothing(tmp_path):
    assert as_json("list", "--library", tmp_path / "none.json") == []
    assert "no workflows" in ok("list", "--library", tmp_path / "none.json").stdout


@pytest.mark.parametrize("args, expected", [
    (["--query", "create pull request"], ["open_pr"]),
    (["--query", "send message"], ["notify_team", "open_pr"]),
    (["--tool", "get_*"], ["lookup_user"]),
    (["--tool", "slack_send_message", "--category", "comms"], ["notify_team"]),
    (["--status", "suggested", "--limit", "1"], ["lookup_user"]),
])
def test_search_json_ranks_and_filters_with_scores(path, args, expected):
    data = as_json("search", "--library", path, *args)
    assert [w["name"] for w in data] == expected
    assert all("score" in w for w in data)
    if "--query" in args:
        assert all(w["score"] > 0 for w in data)


def test_search_table_has_a_score_column_for_queries(path):
    out = ok("search", "--library", path, "-q", "pull request").stdout
    assert "score" in out and "open_pr" in out and "lookup_user" not in out


def test_show_prints_a_tree_of_steps_with_parameters(path):
    out = ok("show", "open_pr", "--library", path).stdout
    for text in ("open_pr", "create → github_create_pr", "repo = '{{repo}}'", "after create", "frequency 40"):
        assert text in out
    assert "max_retries=2" in ok("show", "lookup_user", "--library", path).stdout


def test_show_json_is_the_workflow(path):
    assert as_json("show", "lookup_user", "--library", path) == WorkflowLibrary(path).get("lookup_user").to_dict()


@pytest.mark.parametrize("command", ["show", "accept", "reject", "remove", "edit"])
def test_unknown_name_exits_1_naming_close_matches(path, command):
    extra = ["--description", "x"] if command == "edit" else ["--yes"] if command == "remove" else []
    before = path.read_bytes()
    result = fails(command, "open_rp", "--library", path, *extra)
    assert "did you mean open_pr" in result.stderr
    assert path.read_bytes() == before


def test_accept_and_reject_several_names(path):
    data = as_json("accept", "open_pr", "notify_team", "--library", path)
    assert [(w["name"], w["status"]) for w in data] == [("open_pr", "accepted"), ("notify_team", "accepted")]
    ok("reject", "lookup_user", "--reason", "too noisy", "--library", path)
    wf = WorkflowLibrary(path).get("lookup_user")
    assert (wf.status, wf.review_note) == ("rejected", "too noisy")
    assert "accepted: open_pr" in ok("accept", "open_pr", "--library", path).stdout


def test_accept_is_all_or_nothing(path):
    fails("accept", "open_pr", "ghost", "--library", path)
    assert WorkflowLibrary(path).get("open_pr").status == "suggested"


def test_going_back_needs_force_and_reopen_returns_to_suggested(path):
    ok("accept", "open_pr", "--library", path)
    result = fails("reject", "open_pr", "--library", path)
    assert "--force" in result.stderr
    ok("reject", "open_pr", "--force", "--library", path)
    fails("accept", "open_pr", "--library", path)
    ok("accept", "open_pr", "--force", "--library", path)
    assert as_json("reopen", "open_pr", "--library", path)[0]["status"] == "suggested"


def test_edit_sets_fields_parameters_and_options_and_raises_version(path):
    data = as_json("edit", "lookup_user", "--library", path, "--description", "Find a user", "--tags", "a, b",
                   "--set", "get_user.user_id={{user_id}}", "--set", "get_user.limit=5",
                   "--option", "get_res.max_retries=3", "--option", "get_res.timeout=2.5",
                   "--option", "get_user.condition={{user_id}} != ''")
    assert data["version"] == 2 and data["description"] == "Find a user" and data["tags"] == ["a", "b"]
    wf = WorkflowLibrary(path).get("lookup_user")
    assert wf.step("get_user").parameters == {"user_id": "{{user_id}}", "limit": 5}
    assert (wf.step("get_res").max_retries, wf.step("get_res").timeout) == (3, 2.5)
    assert wf.step("get_user").condition == "{{user_id}} != ''"
    ok("edit", "lookup_user", "--library", path, "--unset", "get_user.limit", "--option", "get_res.timeout=null")
    wf = WorkflowLibrary(path).get("lookup_user")
    assert "limit" not in wf.step("get_user").parameters and wf.step("get_res").timeout is None
    assert wf.version == 3


def test_edit_renames(path):
    assert "find_user is now version 2" in ok("edit", "lookup_user", "--name", "find_user", "--library", path).stdout
    assert [w["name"] for w in as_json("list", "--library", path)] == ["find_user", "notify_team", "open_pr"]


@pytest.mark.parametrize("args, fragment", [
    (["--option", "get_res.max_retries=-1"], "steps[1].max_retries"),
    (["--option", "get_res.colour=red"], "not a step option"),
    (["--set", "ghost.x=1"], "no step 'ghost'"),
    (["--set", "no_dot=1"], "STEP.NAME=VALUE"),
    (["--set", "get_user.user_id={{nobody}}"], "unknown name 'nobody'"),
    (["--name", "open_pr"], "taken"),
])
def test_bad_edits_exit_1_and_change_nothing(path, args, fragment):
    before = path.read_bytes()
    result = fails("edit", "lookup_user", "--library", path, *args)
    assert fragment in result.stderr
    assert path.read_bytes() == before


def test_edit_without_changes_is_a_usage_error(path):
    assert run("edit", "lookup_user", "--library", path).exit_code == 2


def test_remove_asks_unless_yes(path):
    result = run("remove", "open_pr", "--library", path, input="n\n")
    assert result.exit_code == 1 and "open_pr" in WorkflowLibrary(path)
    ok("remove", "open_pr", "--library", path, input="y\n")
    assert as_json("remove", "notify_team", "--yes", "--library", path) == {"removed": "notify_team"}
    assert [w.name for w in WorkflowLibrary(path).list_all()] == ["lookup_user"]


def test_export_to_stdout_and_file_is_a_valid_library(path, tmp_path):
    ok("accept", "open_pr", "--library", path)
    doc = json.loads(ok("export", "--library", path).stdout)
    assert doc["schema_version"] == 1 and len(doc["workflows"]) == 3
    out = tmp_path / "accepted.json"
    ok("export", "--status", "accepted", "--out", out, "--library", path)
    assert [w.name for w in WorkflowLibrary(out).list_all()] == ["open_pr"]


def test_export_refuses_to_overwrite_the_library_itself(path):
    before = path.read_bytes()
    assert run("export", "--status", "accepted", "--out", path, "--library", path).exit_code == 2
    assert path.read_bytes() == before


@pytest.mark.parametrize("shape", ["library", "list", "single"])
def test_import_accepts_a_library_a_list_or_one_workflow(path, tmp_path, shape):
    wf = WorkflowBuilder("open_pr").add_step("a", "jira_create_issue").build().to_dict()
    wf["status"] = "accepted"
    data = {"library": {"schema_version": 1, "workflows": [wf]}, "list": [wf], "single": wf}[shape]
    src = tmp_path / "in.json"
    src.write_text(json.dumps(data))
    report = as_json("import", src, "--library", path)
    assert (report["added"], report["renamed"]) == (1, 1)
    new = WorkflowLibrary(path).get("open_pr_2")
    assert (new.status, new.source) == ("suggested", "imported")


def test_import_keep_status_and_re_import_adds_nothing(path, tmp_path):
    src = tmp_path / "in.json"
    src.write_text(ok("export", "--library", path).stdout)
    other = tmp_path / "other.json"
    ok("accept", "open_pr", "--library", path)
    src.write_text(ok("export", "--library", path).stdout)
    assert as_json("import", src, "--keep-status", "--library", other)["added"] == 3
    assert WorkflowLibrary(other).get("open_pr").status == "accepted"
    again = as_json("import", src, "--library", other)
    assert (again["added"], again["unchanged"]) == (0, 3)
    assert "0 added" in ok("import", src, "--library", other).stdout


def test_import_of_invalid_workflows_lists_every_problem_and_writes_nothing(path, tmp_path):
    src = tmp_path / "bad.json"
    src.write_text(json.dumps([
        {"name": "fine", "steps": [{"id": "a", "tool_name": "t"}]},
        {"name": "no_tool", "steps": [{"id": "a"}]},
        {"name": "bad ref", "steps": [{"id": "a", "tool_name": "t", "parameters": {"x": "{{ghost}}"}}]},
    ]))
    before = path.read_bytes()
    result = fails("import", src, "--library", path)
    for fragment in ("workflows[1] (no_tool).steps[0].tool_name: Field required",
                     "workflows[2] (bad ref).name:", "workflows[2] (bad ref)"):
        assert fragment in result.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize("content, fragment", [
    (None, "does not exist"),
    ('{"name": ', "bad.json:1:10: invalid JSON"),
    ('{"schema_version": 9, "workflows": []}', "schema_version 9"),
    ('{"foo": 1}', "unknown top-level key(s) 'foo'"),
    ('{"schema_version": 1}', "'workflows' must be a list"),
    ('"text"', "must be a JSON object"),
])
def test_import_of_unreadable_files_fails_cleanly(path, tmp_path, content, fragment):
    src = tmp_path / "bad.json"
    if content is not None:
        src.write_text(content)
    assert fragment in fails("import", src, "--library", path).stderr


@pytest.mark.parametrize("command", [["list"], ["accept", "x"], ["search", "-q", "pr"], ["export"]])
def test_a_corrupt_library_is_reported_with_position_and_left_untouched(tmp_path, command):
    lib = tmp_path / "workflows.json"
    text = '{\n  "schema_version": 1,\n  "workflows": [}\n'
    lib.write_text(text)
    result = fails(*command, "--library", lib)
    assert f"{lib}:3:17: invalid JSON" in result.stderr
    assert lib.read_text() == text


def test_a_newer_library_is_refused(tmp_path):
    lib = tmp_path / "workflows.json"
    lib.write_text('{"schema_version": 2, "workflows": []}')
    assert "upgrade chainmine" in fails("list", "--library", lib).stderr


def test_schema_is_json_schema_that_accepts_an_exported_library(path):
    schema = json.loads(ok("schema").stdout)
    assert schema["properties"]["schema_version"] == {"const": 1, "description": "Version of this file format."}
    jsonschema = pytest.importorskip("jsonschema")
    exported = json.loads(ok("export", "--library", path).stdout)
    jsonschema.validate(exported, schema)
    exported["workflows"][0]["steps"][0]["tool_name"] = ""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(exported, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"schema_version": 2, "workflows": []}, schema)
