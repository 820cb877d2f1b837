"""Side effects, confirmation, default outputs and idempotency keys of runs (chainmine.library.runner.safety)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import MemoryRecorder, PythonRegistry, ToolGuards, WorkflowExecutor, run_workflow
from chainmine.library.runner.registry import ToolSpec
from chainmine.library.runner.safety import ConfirmationRequiredError, resolve_effects, tool_hints
from chainmine.miner.cli import cli
from chainmine.miner.run_store import DuckDBRecorder, run_named_workflow
from chainmine.miner.store import connect

TOOLS_FILE = Path(__file__).parent / "tools" / "runner_tools.py"


def wf(steps, **extra) -> WorkflowTemplate:
    inputs = {"uid": {"type": "string"}} if "{{uid}}" in json.dumps(steps) else {}
    return WorkflowTemplate.from_dict({"name": "w", "status": "accepted", "steps": steps, "inputs": inputs, **extra})


CANCEL = [{"id": "user", "tool_name": "get_user", "parameters": {"user_id": "{{uid}}"}},
          {"id": "cancel", "tool_name": "cancel_reservation", "parameters": {"rid": "{{item}}"},
           "map_over": "{{user.reservations}}"}]


@pytest.fixture
def booking():
    calls: list[tuple] = []

    def get_user(user_id):
        calls.append(("get_user", user_id))
        return {"id": user_id, "reservations": ["R1", "R2"]}

    def cancel_reservation(rid, idempotency_key=None):
        calls.append(("cancel", rid, idempotency_key))
        return {"cancelled": rid}

    return {"get_user": get_user, "cancel_reservation": cancel_reservation}, calls


# ---------------------------------------------------------------- classification

def test_effects_resolve_override_then_mcp_annotations_then_stored_then_name():
    async def nothing(params):
        return None

    reg = PythonRegistry.from_mapping({"get_user": lambda: 1})
    reg._tools["release_seat"] = ToolSpec("release_seat", nothing, annotations={"destructiveHint": True})
    reg._tools["lookup"] = ToolSpec("lookup", nothing, annotations={"readOnlyHint": True})
    w = wf([{"id": "a", "tool_name": "get_user"}, {"id": "b", "tool_name": "release_seat"},
            {"id": "c", "tool_name": "lookup", "effect": "write", "effect_source": "name"},
            {"id": "d", "tool_name": "lookup", "effect": "destructive", "effect_source": "override"},
            {"id": "e", "tool_name": "get_user", "fallback_tool": "release_seat"}])
    got = [(s.effect, s.effect_source) for s in resolve_effects(w, reg).steps]
    assert got == [("read", "name"), ("destructive", "mcp"), ("read", "mcp"), ("destructive", "override"),
                   ("destructive", "mcp")]
    forced = resolve_effects(w, reg, {"*": "read"})
    assert {s.effect_source for s in forced.steps} == {"override"} and tool_hints(forced)["readOnlyHint"]


# ---------------------------------------------------------------- confirmation in the Python API

def test_a_destructive_workflow_needs_confirm_and_calls_nothing_without(booking):
    tools, calls = booking
    with pytest.raises(ConfirmationRequiredError, match=r"step cancel calls cancel_reservation.*confirm=True"):
        run_workflow(wf(CANCEL), {"uid": "mia"}, tools=tools)
    assert calls == []
    result = run_workflow(wf(CANCEL), {"uid": "mia"}, tools=tools, confirm=True)
    assert result.status == "completed"
    assert result.outputs == {"user": {"id": "mia", "reservations": ["R1", "R2"]},
                              "cancel": [{"cancelled": "R1"}, {"cancelled": "R2"}]}


def test_an_effects_override_makes_a_tool_safe_to_run_unconfirmed(booking):
    tools, calls = booking
    result = run_workflow(wf(CANCEL), {"uid": "mia"}, tools=tools, effects={"cancel_*": "write"})
    assert result.status == "completed" and len(calls) == 3


def test_skipped_steps_are_null_in_the_default_outputs():
    w = wf([{"id": "a", "tool_name": "get_x"}, {"id": "b", "tool_name": "get_x", "condition": "{{a}} == 2"}])
    assert run_workflow(w, tools={"get_x": lambda: 1}).outputs == {"a": 1, "b": None}


# ---------------------------------------------------------------- the command line

@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    lib = tmp_path / "workflows.json"
    pay = {"name": "pay", "status": "accepted", "inputs": {"amount": {"type": "number"}},
           "steps": [{"id": "charge", "tool_name": "charge_card", "parameters": {"amount": "{{amount}}"}}]}
    lib.write_text(json.dumps({"schema_version": 1, "workflows": [pay]}))
    log = tmp_path / "calls.log"
    monkeypatch.setenv("RUNNER_TEST_LOG", str(log))
    monkeypatch.setenv("CHAINMINE_DB", str(tmp_path / "runs.duckdb"))
    monkeypatch.setenv("CHAINMINE_LIBRARY", str(lib))
    return {"lib": lib, "calls": lambda: log.read_text().splitlines() if log.exists() else []}


def run_cli(*args):
    return CliRunner().invoke(cli, ["run", "pay", "--tools", str(TOOLS_FILE), "--input", "amount=2", "--quiet",
                                    *args])


def test_run_without_yes_and_without_a_terminal_exits_1_with_one_line(cli_env):
    out = run_cli()
    assert out.exit_code == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "step charge calls charge_card" in lines[0] and "--yes" in lines[0]
    assert cli_env["calls"]() == []
    out = run_cli("--yes", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["outputs"] == {"charge": {"charge_id": "ch_2", "amount": 2}}
    assert cli_env["calls"]() == ["charge_card 2"]


def test_dry_run_shows_effects_and_needs_no_confirmation(cli_env):
    out = run_cli("--dry-run", "--json")
    assert out.exit_code == 0, out.output
    step = json.loads(out.stdout)["steps"][0]
    assert (step["effect"], step["effect_source"]) == ("destructive", "name")
    assert cli_env["calls"]() == []


def test_effects_file_beside_the_library_or_given_is_used(cli_env, tmp_path):
    given = tmp_path / "mine.json"
    given.write_text(json.dumps({"charge_card": "write"}))
    assert run_cli("--effects", str(given)).exit_code == 0
    (cli_env["lib"].parent / "effects.toml").write_text('[effects]\n"charge_*" = "write"\n')
    assert run_cli().exit_code == 0
    assert cli_env["calls"]() == ["charge_card 2", "charge_card 2"]


def test_run_named_workflow_asks_the_prompt_only_for_destructive_runs(cli_env):
    asked: list[str] = []

    def say(answer):
        return lambda question: asked.append(question) or answer

    common = dict(library_path=str(cli_env["lib"]), input_pairs=["amount=3"])
    with pytest.raises(ConfirmationRequiredError):
        run_named_workflow("pay", [str(TOOLS_FILE)], confirm=say(False), **common)
    assert cli_env["calls"]() == [] and "charge_card" in asked[0]
    assert run_named_workflow("pay", [str(TOOLS_FILE)], confirm=say(True), **common).status == "completed"
    assert cli_env["calls"]() == ["charge_card 3"]


# ---------------------------------------------------------------- idempotency keys

def keyed_tools(fail_first: dict[str, int]):
    seen: list[tuple[str, str]] = []

    def write_row(row, idempotency_key):
        seen.append((row, idempotency_key))
        if fail_first.get(row, 0) > 0:
            fail_first[row] -= 1
            raise TimeoutError("try again")
        return {"row": row}

    def get_rows():
        return ["a", "b"]

    return {"write_row": write_row, "get_rows": get_rows}, seen


def test_retries_reuse_the_key_and_map_items_get_their_own():
    tools, seen = keyed_tools({"a": 2})
    w = wf([{"id": "rows", "tool_name": "get_rows"},
            {"id": "put", "tool_name": "write_row", "parameters": {"row": "{{item}}"}, "map_over": "{{rows}}",
             "max_retries": 3, "retry_delay": 0}])
    rec = MemoryRecorder()
    result = WorkflowExecutor(tools, recorder=rec, guards=ToolGuards()).execute(w, {}, run_id="run1")
    assert result.status == "completed"
    assert sorted(seen) == [("a", "run1:put:0")] * 3 + [("b", "run1:put:1")]
    assert rec.steps["run1"]["put"].details["idempotency_key"] == ["run1:put:0", "run1:put:1"]
    assert all(c.args["idempotency_key"].startswith("run1:put:") for c in rec.calls if c.tool == "write_row")


def test_a_resumed_run_passes_the_same_key_again(tmp_path):
    tools, seen = keyed_tools({"a": 1})
    w = wf([{"id": "put", "tool_name": "write_row", "parameters": {"row": "a"}}])
    con = connect(tmp_path / "runs.duckdb")
    try:
        ex = WorkflowExecutor(tools, recorder=DuckDBRecorder(con), guards=ToolGuards())
        first = ex.execute(w, {})
        assert first.status == "failed"
        resumed = ex.resume(first.run_id)
        assert resumed.status == "completed"
        stored = DuckDBRecorder(con).load_run(first.run_id).steps["put"].details["idempotency_key"]
    finally:
        con.close()
    key = f"{first.run_id}:put"
    assert seen == [("a", key), ("a", key)] and stored == key


def test_library_show_marks_each_steps_effect(cli_env):
    out = CliRunner().invoke(cli, ["library", "show", "pay"])
    assert out.exit_code == 0, out.output
    assert "charge → charge_card  [destructive]" in out.stdout
    (cli_env["lib"].parent / "effects.json").write_text(json.dumps({"charge_card": "write"}))
    assert "charge → charge_card  [write]" in CliRunner().invoke(cli, ["library", "show", "pay"]).stdout
