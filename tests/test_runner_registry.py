"""Tool registries: Python modules and files, the tool decorator, combining, and a real MCP server over stdio."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from chainmine.library.errors import ValidationError
from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import ToolGuards, WorkflowExecutor, load_registries, load_registry, tool
from chainmine.library.runner.errors import RegistryError, ToolReturnedError, UnknownToolError
from chainmine.library.runner.registry import PythonRegistry

TOOLS_DIR = Path(__file__).parent / "tools"
SERVER = TOOLS_DIR / "runner_mcp_server.py"


def run(coro):
    return asyncio.run(coro)


# ---------------------------------------------------------------- Python registries

def test_a_file_exposes_its_public_functions_sync_and_async():
    with load_registry(str(TOOLS_DIR / "runner_tools.py")) as reg:
        names = reg.names()
        assert {"get_user", "get_order", "charge_card", "noop"} <= set(names)
        assert not any(n.startswith("_") for n in names)
        assert "tool" not in names and "charge" not in names  # imported / renamed by @tool
        assert run(reg.get("get_order").invoke({"order_id": "x-o2"})) == {"order_id": "x-o2", "total": 20}
        assert run(reg.get("add").invoke({"a": 2, "b": 3})) == 5
        assert reg.get("charge_card").cost == 0.5


def test_a_module_path_works_like_a_file(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS_DIR))
    with load_registry("runner_table_tools") as reg:
        assert reg.names() == ["lookup", "shout"]   # TOOLS is the whole registry
        assert run(reg.get("shout").invoke({"text": "hi"})) == "HI"


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz", "cannot import tools module"),
    ("missing/tools.py", "does not exist"),
    ("mcp:", "needs a command"),
    ("mcp:definitely-not-a-command-xyz", "failed to start"),
])
def test_bad_tool_sources_fail_with_a_clear_message(spec, message):
    with pytest.raises(RegistryError, match=message):
        load_registry(spec)


def test_a_tools_file_that_fails_to_import_is_reported(tmp_path):
    bad = tmp_path / "bad_tools.py"
    bad.write_text("raise RuntimeError('no config')\n")
    with pytest.raises(RegistryError, match="failed to import: RuntimeError: no config"):
        load_registry(str(bad))


def test_the_decorator_names_tools_and_declares_cost_and_retry():
    @tool(name="search", cost=0.01, retryable=(KeyError,))
    def _impl(q):
        return [q]

    @tool
    def plain(x):
        return x

    reg = PythonRegistry.from_mapping({"search": _impl, "plain": plain})
    assert reg.get("search").cost == 0.01 and reg.get("search").retryable == (KeyError,)
    assert reg.get("plain").cost is None


def test_registries_combine_and_unknown_names_are_explained(monkeypatch):
    monkeypatch.syspath_prepend(str(TOOLS_DIR))
    with load_registries([str(TOOLS_DIR / "runner_tools.py"), "runner_table_tools"]) as reg:
        assert {"lookup", "get_user"} <= set(reg.names())
        with pytest.raises(UnknownToolError, match="'nope' is not in any registry"):
            reg.get("nope")


# ---------------------------------------------------------------- MCP

@pytest.fixture(scope="module")
def mcp_log(tmp_path_factory):
    return tmp_path_factory.mktemp("mcp") / "calls.log"


@pytest.fixture(scope="module")
def mcp(mcp_log):
    reg = load_registry(f"mcp:{sys.executable} {SERVER} --log {mcp_log}")
    yield reg
    reg.close()


def test_an_mcp_server_lists_its_tools(mcp):
    assert {"get_user", "get_order", "add", "greet", "refuse", "die"} <= set(mcp.names())
    assert mcp.get("get_user").source.startswith("mcp:")


@pytest.mark.parametrize("name, args, expected", [
    ("get_user", {"user_id": "u9"}, {"id": "u9", "orders": ["u9-o1", "u9-o2"], "cost": 0.01}),
    ("add", {"a": 2, "b": 40}, 42),                      # structured {"result": ...} is unwrapped
    ("greet", {"name": "ann"}, "hello ann"),             # plain text stays text
])
def test_mcp_results_are_parsed(mcp, name, args, expected):
    assert run(mcp.get(name).invoke(args)) == expected


def test_an_mcp_error_result_is_a_failure(mcp):
    with pytest.raises(ToolReturnedError, match="refused: nope"):
        run(mcp.get("refuse").invoke({"reason": "nope"}))


def test_a_workflow_runs_against_tools_served_by_mcp(mcp, mcp_log):
    before = mcp_log.read_text().splitlines() if mcp_log.exists() else []
    wf = WorkflowTemplate.from_dict({
        "name": "mcp_flow", "status": "accepted", "inputs": {"uid": {"type": "string"}},
        "steps": [
            {"id": "user", "tool_name": "get_user", "parameters": {"user_id": "{{uid}}"}},
            {"id": "orders", "tool_name": "get_order", "parameters": {"order_id": "{{item}}"},
             "map_over": "{{user.orders}}", "depends_on": ["user"]},
            {"id": "total", "tool_name": "add", "parameters": {"a": "{{orders[0].total}}", "b": "{{orders[1].total}}"}},
        ]})
    result = WorkflowExecutor(mcp, guards=ToolGuards()).execute(wf, {"uid": "mia"})
    assert result.status == "completed", result.error
    assert result.outputs["total"] == 12 and [o["order_id"] for o in result.outputs["orders"]] == ["mia-o1", "mia-o2"]
    assert result.steps["user"].cost == 0.01
    after = mcp_log.read_text().splitlines()[len(before):]
    assert sorted(after) == ["add", "get_order", "get_order", "get_user"]


def test_unknown_tools_are_refused_before_the_server_is_called(mcp, mcp_log):
    before = mcp_log.read_text() if mcp_log.exists() else ""
    wf = WorkflowTemplate.from_dict({"name": "w", "status": "accepted", "steps": [
        {"id": "a", "tool_name": "add", "parameters": {"a": 1, "b": 1}},
        {"id": "b", "tool_name": "not_served", "depends_on": ["a"]}]})
    with pytest.raises(ValidationError, match="not_served"):
        WorkflowExecutor(mcp, guards=ToolGuards()).execute(wf, {})
    assert (mcp_log.read_text() if mcp_log.exists() else "") == before


def test_an_mcp_server_that_dies_mid_run_fails_the_step_clearly(tmp_path):
    reg = load_registry(f"mcp:python {SERVER}")
    try:
        wf = WorkflowTemplate.from_dict({"name": "w", "status": "accepted", "steps": [
            {"id": "a", "tool_name": "add", "parameters": {"a": 1, "b": 1}},
            {"id": "b", "tool_name": "die", "depends_on": ["a"], "max_retries": 2, "retry_delay": 0},
            ]})
        result = WorkflowExecutor(reg, guards=ToolGuards()).execute(wf, {})
        assert result.status == "failed"
        assert result.steps["b"].attempts == 1       # a dead server is not retried
        assert "closed the connection" in result.steps["b"].error
        # later calls fail at once instead of hanging
        again = WorkflowExecutor(reg, guards=ToolGuards()).execute(wf, {})
        assert again.status == "failed" and "closed the connection" in again.steps["a"].error
    finally:
        reg.close()


def test_an_mcp_server_that_exits_at_start_is_reported_with_its_stderr(tmp_path):
    script = tmp_path / "crash.py"
    script.write_text("import sys\nprint('missing API key', file=sys.stderr)\nsys.exit(2)\n")
    with pytest.raises(RegistryError, match="failed to start.*missing API key"):
        load_registry(f"mcp:python {script}")
