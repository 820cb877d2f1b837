"""The one failure rule (chainmine.library.failures): ingest and the runner judge results alike; hooks override it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from chainmine.library.failures import Failure, classify, is_failure
from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import MemoryRecorder, ToolGuards, WorkflowExecutor
from chainmine.library.runner.registry import PythonRegistry
from chainmine.library.runner.loading import load_registry
from chainmine.miner.cli import cli
from chainmine.miner.ingest import ingest_paths
from chainmine.miner.store import init_schema

TOOLS = Path(__file__).parent / "tools"
FAILURE_TOOLS = TOOLS / "failure_tools.py"
HOOK_TOOLS = TOOLS / "failure_hook_tools.py"

# (what the tool returns, whether that is a failure)
CASES = [
    ("Error: 404 not found", True),
    ("ERROR timeout", True),
    ("  Error: after blanks", True),
    ("\nError on a new line", True),
    ("error: lower case is not the rule", False),
    ("No Error here", False),
    ("", False),
    ({"error": "quota exceeded"}, True),
    ({"error": True}, True),
    ({"error": {"code": 7}}, True),
    ({"error": 0}, True),
    ({"error": ""}, True),
    ({"error": None}, False),
    ({"error": False}, False),
    ({"result": "Error inside a field"}, False),
    ('{"error": "as JSON text"}', True),
    ('{"error": null}', False),
    ("[1, 2]", False),
    ([1, "Error"], False),
    (42, False),
    (None, False),
]


def _content(result):
    return result if isinstance(result, str) or result is None else json.dumps(result)


def _ingested(tmp_path):
    """Each case as one OpenAI Chat conversation, ingested: session id -> (success, error)."""
    path = tmp_path / "chat.jsonl"
    with path.open("w") as f:
        for i, (result, _) in enumerate(CASES):
            f.write(json.dumps({"id": f"c{i}", "messages": [
                {"role": "assistant", "tool_calls": [
                    {"id": "k", "type": "function", "function": {"name": "t", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "k", "content": _content(result)}]}) + "\n")
    con = duckdb.connect()
    init_schema(con)
    ingest_paths(con, [path], format="openai")
    return {s: (ok, err) for s, ok, err in con.execute("SELECT session_id, success, error FROM calls").fetchall()}


def _run_one(result, registry=None):
    registry = registry or PythonRegistry.from_mapping({"t": lambda: result})
    wf = WorkflowTemplate.from_dict({"name": "w", "status": "accepted",
                                     "steps": [{"id": "s", "tool_name": "t", "parameters": {}}]})
    recorder = MemoryRecorder()
    out = WorkflowExecutor(registry, recorder=recorder, guards=ToolGuards()).execute(wf, {})
    return out, recorder


def test_ingest_and_runner_agree_on_every_case(tmp_path):
    ingested = _ingested(tmp_path)
    assert len(ingested) == len(CASES)
    for i, (result, failed) in enumerate(CASES):
        assert bool(is_failure(result)) == failed, result
        ok, _ = ingested[f"c{i}"]
        assert ok is (not failed), f"ingest judged {result!r} {'ok' if ok else 'failed'}"
        run, recorder = _run_one(result)
        assert run.steps["s"].status == ("failed" if failed else "completed"), result
        assert [c.success for c in recorder.calls] == [not failed]


@pytest.mark.parametrize("result", ["Error: 404 not found", {"error": "quota exceeded"}, '{"error": "as JSON text"}'])
def test_ingest_and_runner_give_the_same_reason(tmp_path, result):
    i = next(n for n, (r, _) in enumerate(CASES) if r == result)
    _, error = _ingested(tmp_path)[f"c{i}"]
    run, recorder = _run_one(result)
    reason = is_failure(result)
    assert error == reason
    assert run.steps["s"].error.endswith(reason)
    assert recorder.calls[0].error == reason and recorder.calls[0].result == result


def test_classify_reads_every_hook_verdict():
    assert classify("fine", "t", lambda t, r: True).reason == "tool 't' reported a failure in its result"
    assert classify("Error: x", "t", lambda t, r: True).reason == "Error: x"
    assert classify("Error: x", "t", lambda t, r: False) is None
    assert classify(1, "t", lambda t, r: Failure("busy", True)) == Failure("busy", True)
    with pytest.raises(TypeError, match="return None, a bool, a reason string"):
        classify(1, "t", lambda t, r: 3)


# ------------------------------------------------------------------ through the CLI

@pytest.fixture
def env(tmp_path, monkeypatch):
    lib = tmp_path / "workflows.json"
    steps = {
        "find": [{"id": "user", "tool_name": "lookup", "parameters": {"user_id": "{{uid}}"}}],
        "limits": [{"id": "q", "tool_name": "quota", "parameters": {"user_id": "{{uid}}"}}],
        "find_or_backup": [{"id": "user", "tool_name": "lookup", "parameters": {"user_id": "{{uid}}"},
                            "fallback_tool": "backup_lookup"}],
        "hold_then_check": [
            {"id": "hold", "tool_name": "reserve", "parameters": {"seat": "12A"},
             "compensation": {"tool_name": "release", "parameters": {"hold": "{{hold.hold}}"}}},
            {"id": "check", "tool_name": "quota", "parameters": {"user_id": "{{uid}}"}, "depends_on": ["hold"]}],
        "legacy_flow": [{"id": "l", "tool_name": "legacy", "parameters": {}}],
        "charge_flow": [{"id": "c", "tool_name": "charge", "parameters": {"amount": 3}}],
        "plain_error": [{"id": "p", "tool_name": "plain", "parameters": {"text": "Error: still the rule"}}],
        "busy_flow": [{"id": "b", "tool_name": "busy", "parameters": {"key": "{{uid}}"}, "max_retries": 3,
                       "retry_delay": 0}],
    }
    wfs = [{"name": n, "status": "accepted", "steps": s, "inputs": {"uid": {"type": "string"}}}
           for n, s in steps.items()]
    lib.write_text(json.dumps({"schema_version": 1, "workflows": wfs}))
    log = tmp_path / "calls.log"
    monkeypatch.setenv("RUNNER_TEST_LOG", str(log))
    monkeypatch.setenv("CHAINMINE_DB", str(tmp_path / "runs.duckdb"))
    monkeypatch.setenv("CHAINMINE_LIBRARY", str(lib))
    return lambda: log.read_text().splitlines() if log.exists() else []


def run_json(name, tools, *inputs):
    out = CliRunner().invoke(cli, ["run", name, "--tools", str(tools), "--json", "--quiet", "--yes",
                                   *[a for i in inputs for a in ("--input", i)]])
    return out, (json.loads(out.stdout) if out.stdout.strip() else None)


@pytest.mark.parametrize("name, uid, reason", [
    ("find", "ghost", "Error: no such user ghost"),
    ("limits", "ann", "quota exceeded"),
])
def test_a_failure_result_fails_the_run(env, name, uid, reason):
    out, doc = run_json(name, FAILURE_TOOLS, f"uid={uid}")
    assert out.exit_code == 1, out.output
    assert doc["status"] == "failed"
    (step,) = doc["steps"]
    assert step["status"] == "failed" and step["attempts"] == 1
    assert step["error"].endswith(f": {reason}")


def test_a_good_result_still_completes(env):
    out, doc = run_json("find", FAILURE_TOOLS, "uid=ann")
    assert out.exit_code == 0 and doc["status"] == "completed" and doc["outputs"]["user"] == {"user_id": "ann"}


def test_the_fallback_tool_runs_after_a_failure_result(env):
    out, doc = run_json("find_or_backup", FAILURE_TOOLS, "uid=ghost")
    assert out.exit_code == 0, out.output
    assert doc["outputs"]["user"] == {"user_id": "ghost", "source": "backup"}
    assert env() == ["lookup ghost", "backup_lookup ghost"]


def test_a_failure_result_compensates_the_steps_before_it(env):
    out, doc = run_json("hold_then_check", FAILURE_TOOLS, "uid=ann")
    assert out.exit_code == 1
    assert doc["status"] == "compensated"
    assert env() == ["reserve 12A", "quota ann", "release hold-12A"]


@pytest.mark.parametrize("name, status", [
    ("legacy_flow", "completed"),   # the hook clears text the rule would fail
    ("charge_flow", "failed"),      # the hook fails a result the rule would pass
    ("plain_error", "failed"),      # the hook keeps the rule for other tools
])
def test_a_modules_hook_overrides_the_rule_both_ways(env, name, status):
    out, doc = run_json(name, HOOK_TOOLS, "uid=ann")
    assert doc["status"] == status, out.output
    if name == "charge_flow":
        assert doc["steps"][0]["error"].endswith(": card declined")


def test_a_hook_may_make_a_failure_result_retryable(env):
    out, doc = run_json("busy_flow", HOOK_TOOLS, "uid=retry-key")
    assert doc["status"] == "completed" and doc["steps"][0]["attempts"] == 3


def test_the_hook_is_not_a_tool():
    reg = load_registry(str(HOOK_TOOLS))
    assert "is_failure" not in reg and reg.get("legacy").is_failure is not None
    assert load_registry(str(FAILURE_TOOLS)).get("lookup").is_failure is None
