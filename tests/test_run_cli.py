"""`chainmine run` and `chainmine runs` through click's CliRunner."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainmine.miner.cli import cli, main

TOOLS_DIR = Path(__file__).parent / "tools"
TOOLS_FILE = TOOLS_DIR / "runner_tools.py"
SERVER = TOOLS_DIR / "runner_mcp_server.py"

LOOKUP = {
    "name": "lookup", "status": "accepted", "inputs": {"uid": {"type": "string"}},
    "steps": [
        {"id": "user", "tool_name": "get_user", "parameters": {"user_id": "{{uid}}"},
         "cost_estimate": 0.1, "duration_estimate_ms": 200},
        {"id": "orders", "tool_name": "get_order", "parameters": {"order_id": "{{item}}"},
         "map_over": "{{user.orders}}", "depends_on": ["user"], "duration_estimate_ms": 50},
        {"id": "side", "tool_name": "add", "parameters": {"a": 1, "b": 2}, "duration_estimate_ms": 10},
    ]}


def workflow(name, steps, status="accepted", inputs=None):
    return {"name": name, "status": status, "steps": steps, "inputs": inputs or {}}


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A library file, a database path and the tool invocation log."""
    lib = tmp_path / "workflows.json"
    wfs = [
        LOOKUP,
        workflow("pay", [
            {"id": "charge", "tool_name": "charge_card", "parameters": {"amount": "{{amount}}"},
             "compensation": {"tool_name": "refund", "parameters": {"charge_id": "{{charge.charge_id}}"}}},
            {"id": "big", "tool_name": "expensive", "parameters": {"x": 1}, "depends_on": ["charge"]}],
            inputs={"amount": {"type": "number"}}),
        workflow("broken", [{"id": "a", "tool_name": "add", "parameters": {"a": 1, "b": 1}},
                            {"id": "b", "tool_name": "no_such_tool", "depends_on": ["a"]}]),
        workflow("draft", [{"id": "a", "tool_name": "add", "parameters": {"a": 1, "b": 1}}], status="suggested"),
        workflow("failing", [{"id": "a", "tool_name": "fail", "parameters": {"message": "nope"}}]),
        workflow("mcp_flow", [{"id": "sum", "tool_name": "add", "parameters": {"a": "{{a}}", "b": 2}},
                              {"id": "hi", "tool_name": "greet", "parameters": {"name": "no. {{sum}}"}}],
                 inputs={"a": {"type": "integer"}}),
    ]
    lib.write_text(json.dumps({"schema_version": 1, "workflows": wfs}))
    log = tmp_path / "calls.log"
    monkeypatch.setenv("RUNNER_TEST_LOG", str(log))
    monkeypatch.setenv("CHAINMINE_DB", str(tmp_path / "runs.duckdb"))
    monkeypatch.setenv("CHAINMINE_LIBRARY", str(lib))
    return {"lib": lib, "db": tmp_path / "runs.duckdb", "tmp": tmp_path,
            "calls": lambda: log.read_text().splitlines() if log.exists() else []}


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def run_json(*args):
    out = invoke("run", *args, "--json", "--quiet")
    return out, (json.loads(out.stdout) if out.stdout.strip() else None)


def test_run_json_has_the_documented_shape(env):
    out, doc = run_json("lookup", "--tools", str(TOOLS_FILE), "--input", "uid=ann")
    assert out.exit_code == 0, out.output
    assert {"run_id", "status", "outputs", "steps", "total_cost", "duration_ms"} <= set(doc)
    assert doc["status"] == "completed"
    assert [o["order_id"] for o in doc["outputs"]["orders"]] == ["ann-o1", "ann-o2", "ann-o3"]
    assert doc["outputs"]["side"] == 3
    for s in doc["steps"]:
        assert {"id", "status", "attempts", "duration_ms", "cost", "error"} <= set(s)
    assert doc["total_cost"] == pytest.approx(0.1)


def test_input_values_are_json_when_they_parse_and_files_work(env):
    inputs = env["tmp"] / "in.json"
    inputs.write_text(json.dumps({"amount": 2}))
    out, doc = run_json("pay", "--yes", "--tools", str(TOOLS_FILE), "--inputs", str(inputs), "--input", "amount=4")
    assert doc["steps"][0]["result"] == {"charge_id": "ch_4", "amount": 4}


def test_a_failed_run_exits_1_and_still_prints_json(env):
    out, doc = run_json("failing", "--tools", str(TOOLS_FILE))
    assert out.exit_code == 1
    assert doc["status"] == "failed" and "nope" in doc["error"]


def test_budget_stops_before_the_expensive_step(env):
    out, doc = run_json("pay", "--yes", "--tools", str(TOOLS_FILE), "--input", "amount=3", "--budget", "2")
    assert out.exit_code == 1
    assert doc["status"] == "budget_exceeded"
    assert [(s["id"], s["status"]) for s in doc["steps"]] == [("charge", "completed"), ("big", "budget_exceeded")]
    assert env["calls"]() == ["charge_card 3", "refund ch_3"]


def test_dry_run_plans_without_calling_anything(env):
    out = invoke("run", "lookup", "--tools", str(TOOLS_FILE), "--dry-run", "--json", "--budget", "1")
    assert out.exit_code == 0, out.output
    plan = json.loads(out.stdout)
    assert plan["estimated_cost"] == pytest.approx(0.1)
    assert plan["estimated_duration_ms"] == 250 and plan["critical_path"] == ["user", "orders"]
    assert plan["within_budget"] is True
    assert env["calls"]() == [] and not env["db"].exists()
    table = invoke("run", "lookup", "--tools", str(TOOLS_FILE), "--dry-run")
    assert table.exit_code == 0 and "nothing is called" in table.stdout


@pytest.mark.parametrize("args, message", [
    (["broken"], "tool 'no_such_tool' is not in any registry"),
    (["draft"], "not accepted"),
    (["lookup"], "missing required input 'uid'"),
    (["lookup", "--input", "uid=a", "--input", "zzz=1"], "unknown input 'zzz'"),
    (["nosuch"], "no workflow named 'nosuch'"),
    (["lookup", "--input", "uid"], "must look like name=value"),
    (["lookup", "--resume", "abc"], "no run 'abc'"),
])
def test_bad_input_exits_1_with_one_line_before_anything_runs(env, args, message):
    out = invoke("run", *args, "--tools", str(TOOLS_FILE), "--quiet")
    assert out.exit_code == 1
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1 and message in out.stderr
    assert out.stdout == ""
    assert env["calls"]() == []


def test_unknown_tool_records_no_run(env):
    invoke("run", "broken", "--tools", str(TOOLS_FILE))
    assert env["calls"]() == []
    if env["db"].exists():
        assert json.loads(invoke("runs", "list", "--json").stdout) == []


def test_the_console_script_exits_1_with_one_line(env, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "broken", "--tools", str(TOOLS_FILE)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and "no_such_tool" in err


def test_allow_unreviewed_runs_a_suggested_workflow(env):
    out, doc = run_json("draft", "--tools", str(TOOLS_FILE), "--allow-unreviewed")
    assert out.exit_code == 0 and doc["outputs"] == {"a": 2}


def test_an_unknown_tools_module_is_a_one_line_error(env):
    out = invoke("run", "lookup", "--tools", "no_such_pkg.tools", "--input", "uid=a")
    assert out.exit_code == 1 and "cannot import tools module 'no_such_pkg.tools'" in out.stderr


def test_a_dead_mcp_command_is_a_one_line_error(env):
    out = invoke("run", "lookup", "--tools", "mcp:no-such-server-binary", "--input", "uid=a")
    assert out.exit_code == 1 and out.stderr.count("\n") == 1 and "failed to start" in out.stderr


def test_bad_rate_limit_is_a_usage_error(env):
    out = invoke("run", "lookup", "--tools", str(TOOLS_FILE), "--rate-limit", "add=fast")
    assert out.exit_code == 2 and "TOOL=CALLS_PER_SECOND" in out.output


def test_runs_list_and_show(env):
    _, first = run_json("lookup", "--tools", str(TOOLS_FILE), "--input", "uid=ann")
    _, second = run_json("failing", "--tools", str(TOOLS_FILE))
    listed = json.loads(invoke("runs", "list", "--json").stdout)
    assert {r["run_id"]: r["status"] for r in listed} == {first["run_id"]: "completed", second["run_id"]: "failed"}
    failed = json.loads(invoke("runs", "list", "--status", "failed", "--json").stdout)
    assert [r["run_id"] for r in failed] == [second["run_id"]]
    shown = json.loads(invoke("runs", "show", first["run_id"], "--json").stdout)
    assert [s["id"] for s in shown["steps"]][:1] == ["user"] and shown["calls"] == 5
    table = invoke("runs", "show", first["run_id"])
    assert table.exit_code == 0 and first["run_id"] in table.stdout
    assert invoke("runs", "show", "nope").exit_code == 1


def test_resume_through_the_cli(env):
    flag = env["tmp"] / "open"
    lib = json.loads(env["lib"].read_text())
    lib["workflows"].append(workflow("gated", [
        {"id": "user", "tool_name": "get_user", "parameters": {"user_id": "g"}},
        {"id": "gate", "tool_name": "gate", "parameters": {"flag_file": str(flag)}, "depends_on": ["user"]}]))
    env["lib"].write_text(json.dumps(lib))
    out, doc = run_json("gated", "--tools", str(TOOLS_FILE))
    assert out.exit_code == 1
    flag.touch()
    out, again = run_json("gated", "--tools", str(TOOLS_FILE), "--resume", doc["run_id"])
    assert out.exit_code == 0 and again["status"] == "completed"
    assert env["calls"]() == ["get_user g", "gate open", "gate open"]


def test_run_against_an_mcp_server(env):
    out, doc = run_json("mcp_flow", "--tools", f"mcp:{sys.executable} {SERVER}", "--input", "a=40")
    assert out.exit_code == 0, out.output
    assert doc["outputs"] == {"sum": 42, "hi": "hello no. 42"}


def test_several_tool_sources_combine(env, monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS_DIR))
    lib = json.loads(env["lib"].read_text())
    lib["workflows"].append(workflow("mixed", [
        {"id": "k", "tool_name": "lookup", "parameters": {"key": "x"}},
        {"id": "n", "tool_name": "add", "parameters": {"a": 1, "b": 1}}]))
    env["lib"].write_text(json.dumps(lib))
    out, doc = run_json("mixed", "--tools", "runner_table_tools", "--tools", str(TOOLS_FILE))
    assert out.exit_code == 0, out.output
    assert doc["outputs"] == {"k": {"key": "x", "found": True}, "n": 2}


def test_the_table_output_shows_steps_and_status(env):
    out = invoke("run", "pay", "--yes", "--tools", str(TOOLS_FILE), "--input", "amount=1", "--quiet")
    assert out.exit_code == 0
    assert "charge" in out.stdout and "completed" in out.stdout


def test_live_progress_goes_to_stderr_when_it_is_a_terminal(env, monkeypatch):
    import io

    from rich.console import Console

    import chainmine.miner.commands.run as run_command
    buffer = io.StringIO()
    monkeypatch.setattr(run_command, "show_progress", lambda quiet: not quiet)
    monkeypatch.setattr(run_command, "stderr_console", lambda: Console(file=buffer, force_terminal=True, width=120))
    out = invoke("run", "pay", "--yes", "--tools", str(TOOLS_FILE), "--input", "amount=3", "--budget", "1", "--json")
    assert out.exit_code == 1
    assert json.loads(out.stdout)["status"] == "budget_exceeded"     # stdout stays one JSON document
    text = buffer.getvalue()
    assert "charge" in text and "✓" in text and "✗" in text and "refund" in text
    buffer.truncate(0)
    invoke("run", "pay", "--yes", "--tools", str(TOOLS_FILE), "--input", "amount=3", "--quiet")
    assert buffer.getvalue() == ""
