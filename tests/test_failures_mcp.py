"""A per-server failure hook: ``--tools "mcp[is_failure=HOOKS]:COMMAND"`` over the real ``mcp`` SDK (stdio).

An MCP server cannot ship Python code to its client, so its results are judged
by the shared rule unless the user names a hook for that server; these tests
run a real server subprocess whose tools report failure in their own way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainmine.library.runner.errors import RegistryError
from chainmine.library.runner.mcp_registry import split_mcp_spec
from chainmine.miner.cli import cli

SERVER = Path(__file__).parent / "mcp_fixtures" / "status_server.py"
HOOKS = '''
def is_failure(tool, result):
    if tool == "legacy":
        return not str(result).startswith("ERROR_CODE=0")
    if isinstance(result, dict) and result.get("status") == "failed":
        return result.get("why") or True
    return None

def never(tool, result):
    return False
'''


@pytest.fixture
def env(tmp_path, monkeypatch):
    lib = tmp_path / "workflows.json"
    wfs = [
        {"name": "book_seat", "status": "accepted", "inputs": {"seat": {"type": "string"}},
         "steps": [{"id": "b", "tool_name": "book", "parameters": {"seat": "{{seat}}"}}]},
        {"name": "read_legacy", "status": "accepted", "inputs": {"key": {"type": "string"}},
         "steps": [{"id": "l", "tool_name": "legacy", "parameters": {"key": "{{key}}"}}]},
    ]
    lib.write_text(json.dumps({"schema_version": 1, "workflows": wfs}))
    (tmp_path / "hooks.py").write_text(HOOKS)
    monkeypatch.setenv("CHAINMINE_DB", str(tmp_path / "runs.duckdb"))
    monkeypatch.setenv("CHAINMINE_LIBRARY", str(lib))
    return tmp_path


def run(tools, name, inp):
    out = CliRunner().invoke(cli, ["run", name, "--tools", tools, "--input", inp, "--json", "--quiet", "--yes"])
    return out, (json.loads(out.stdout) if out.stdout.strip().startswith("{") else None)


def spec(hook=None):
    server = f"{sys.executable} {SERVER}"
    return f"mcp[is_failure={hook}]:{server}" if hook else f"mcp:{server}"


def test_without_a_hook_the_shared_rule_judges_mcp_results(env):
    out, doc = run(spec(), "book_seat", "seat=13")
    assert doc["status"] == "completed", out.output   # no error key: the shared rule sees success
    out, doc = run(spec(), "read_legacy", "key=k")
    assert doc["status"] == "failed" and "ERROR_CODE=0" in doc["steps"][0]["error"]


def test_the_servers_hook_fails_a_result_the_rule_passes(env):
    out, doc = run(spec(env / "hooks.py"), "book_seat", "seat=13")
    assert out.exit_code == 1 and doc["status"] == "failed"
    assert doc["steps"][0]["error"].endswith(": seat 13 does not exist")
    out, doc = run(spec(env / "hooks.py"), "book_seat", "seat=12")
    assert out.exit_code == 0 and doc["outputs"]["b"] == {"status": "booked", "seat": "12"}


def test_the_servers_hook_clears_a_result_the_rule_fails(env):
    out, doc = run(spec(env / "hooks.py"), "read_legacy", "key=k")
    assert out.exit_code == 0 and doc["outputs"]["l"] == "ERROR_CODE=0 value of k is 42"


def test_a_named_function_is_the_hook(env):
    out, doc = run(spec(f"{env / 'hooks.py'}:never"), "read_legacy", "key=k")
    assert doc["status"] == "completed", out.output


@pytest.mark.parametrize("tools, message", [
    ("mcp[is_failure=]:python x.py", "needs a value"),
    ("mcp[retries=3]:python x.py", "unknown option 'retries'"),
    ("mcp[is_failure={hooks}:missing]:python x.py", "no function missing(tool_name, result)"),
    ("mcp[is_failure={dir}/nope.py]:python x.py", "nope.py"),
])
def test_a_bad_hook_option_is_one_line_and_exit_1(env, tools, message):
    tools = tools.format(hooks=env / "hooks.py", dir=env)
    out, _ = run(tools, "book_seat", "seat=1")
    assert out.exit_code == 1
    line, = [ln for ln in out.output.splitlines() if ln.strip()]
    assert line.startswith("error:") and message in line


def test_split_rejects_what_it_cannot_read():
    assert split_mcp_spec("mcp[is_failure=a.py]:srv --x") == ("srv --x", {"is_failure": "a.py"})
    with pytest.raises(RegistryError, match="needs a value"):
        split_mcp_spec("mcp[is_failure]:srv")
