"""``chainmine mcp serve`` end to end: the real command in a subprocess, driven by the SDK's client.

The stdio scenario runs one server (starting a process is the slow part) and
walks through what an agent meets: listing, a call that fans out to tools
served by a second MCP server, bad calls, a failing step, the library
changing under a running server, the backing server dying, and the runs
landing in DuckDB. The HTTP test serves Python tools over streamable HTTP.
CLI refusals go through click's runner.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from chainmine.library.store import WorkflowLibrary
from chainmine.miner.cli import cli
from test_mcp_bridge import lookup_workflow, runs_table

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "mcp_fixtures"
CHAINMINE = str(Path(sys.executable).parent / "chainmine")
AIRLINE_SERVER = "mcp:python " + shlex.quote(str(FIXTURES / "airline_server.py"))
WAIT_S = 60  # generous: the machine may be busy; nothing is asserted about time


def user_name_workflow(status: str = "suggested"):
    return lookup_workflow("user_name", status=status, description="The user's full name.",
                           steps=[{"id": "get_user", "tool_name": "get_user_details",
                                   "parameters": {"user_id": "{{user_id}}"}}],
                           outputs={"name": "{{get_user.name}}"}, stats=None)


def crash_workflow():
    return lookup_workflow("crash_backend", inputs={}, stats=None, description="Ends the tool server.",
                           steps=[{"id": "crash", "tool_name": "crash_server", "parameters": {}}])


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "workflows.json"
    lib = WorkflowLibrary(path)
    for wf in (lookup_workflow(status="suggested"), user_name_workflow(), crash_workflow()):
        lib.register(wf.model_copy(update={"status": "suggested"}))
    lib.accept("lookup_user_reservations")
    lib.accept("crash_backend")
    return lib, tmp_path / "chainmine.duckdb"


def test_stdio_server_end_to_end(served, tmp_path):
    lib, db = served
    params = StdioServerParameters(
        command=CHAINMINE, cwd=str(ROOT), env=dict(os.environ),
        args=["mcp", "serve", "--library", str(lib.path), "--db", str(db), "--tools", AIRLINE_SERVER,
              "--poll", "0.05"])
    stderr_path = tmp_path / "server-stderr.txt"
    changes: list[anyio.Event] = [anyio.Event()]

    async def on_message(message):
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            changes[-1].set()

    async def names(session):
        return sorted(t.name for t in (await session.list_tools()).tools)

    async def wait_for_change():
        with anyio.fail_after(WAIT_S):
            await changes[-1].wait()
        changes.append(anyio.Event())

    async def main():
        out = {}
        with open(stderr_path, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), \
                    ClientSession(read, write, message_handler=on_message) as session:
                init = await session.initialize()
                out["list_changed"] = init.capabilities.tools.list_changed
                listed = (await session.list_tools()).tools
                out["tools"] = {t.name: t for t in listed}
                out["ok"] = await session.call_tool("lookup_user_reservations", {"user_id": "mia_li_3668"})
                out["bad_type"] = await session.call_tool("lookup_user_reservations", {"user_id": 3668})
                out["unknown"] = await session.call_tool("user_name", {"user_id": "mia_li_3668"})
                out["failed"] = await session.call_tool("lookup_user_reservations", {"user_id": "nobody"})
                out["runs_while_serving"] = runs_table(db)  # the server does not hold the database between runs

                lib.accept("user_name")
                await wait_for_change()
                out["after_accept"] = await names(session)
                out["named"] = await session.call_tool("user_name", {"user_id": "noah_ito_11"})
                lib.reject("user_name", reason="duplicate of lookup", force=True)
                await wait_for_change()
                out["after_reject"] = await names(session)

                good = lib.path.read_text()
                lib.path.write_text(good[: len(good) // 2])  # a half-written file
                out["while_broken"] = await names(session)
                lib.path.write_text(good)

                out["crash"] = await session.call_tool("crash_backend", {})
                out["after_crash_list"] = await names(session)
                out["after_crash_call"] = await session.call_tool("lookup_user_reservations",
                                                                  {"user_id": "mia_li_3668"})
        return out

    out = anyio.run(main)
    stderr = stderr_path.read_text()

    assert out["list_changed"] is True
    assert sorted(out["tools"]) == ["crash_backend", "lookup_user_reservations"]
    tool = out["tools"]["lookup_user_reservations"]
    assert tool.input_schema == {"type": "object", "additionalProperties": False, "required": ["user_id"],
                                 "properties": {"user_id": {"type": "string", "description": "the user's id",
                                                            "examples": ["mia_li_3668"]}}}
    assert "seen 97 times in 60 sessions" in tool.description

    # one call fanned out to the second server: the user, then each reservation
    ok = out["ok"]
    assert ok.is_error is False
    assert [r["destination"] for r in ok.structured_content["get_reservations"]] == ["JFK", "LHR"]

    assert out["bad_type"].is_error and "3668 is not of type 'string'" in out["bad_type"].content[0].text
    assert out["unknown"].is_error and "unknown tool 'user_name'" in out["unknown"].content[0].text
    failed = out["failed"]
    assert failed.is_error and "step 'get_user'" in failed.content[0].text
    assert f"(run {failed.meta['chainmine/run_id']})" in failed.content[0].text
    assert "user 'nobody' not found" in failed.content[0].text
    assert out["runs_while_serving"] == [
        (ok.meta["chainmine/run_id"], "lookup_user_reservations", "completed"),
        (failed.meta["chainmine/run_id"], "lookup_user_reservations", "failed")]

    assert out["after_accept"] == ["crash_backend", "lookup_user_reservations", "user_name"]
    assert out["named"].structured_content == {"name": "Noah Ito"}
    assert out["after_reject"] == ["crash_backend", "lookup_user_reservations"]
    assert out["while_broken"] == ["crash_backend", "lookup_user_reservations"]
    assert "still serving the last good version (2 workflows)" in stderr

    # the backing server died mid-call: a clear error, and chainmine keeps answering
    crash = out["crash"]
    assert crash.is_error and "step 'crash'" in crash.content[0].text
    assert "closed the connection" in crash.content[0].text
    assert out["after_crash_list"] == ["crash_backend", "lookup_user_reservations"]
    after = out["after_crash_call"]
    assert after.is_error and "step 'get_user'" in after.content[0].text

    recorded = runs_table(db)
    assert [r[2] for r in recorded] == ["completed", "failed", "completed", "failed", "failed"]
    assert [r[1] for r in recorded][2:4] == ["user_name", "crash_backend"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)  # readiness wait, not a timing assumption
    raise AssertionError("server did not start listening")


def test_streamable_http_on_loopback(served):
    lib, db = served
    port = _free_port()
    proc = subprocess.Popen(
        [CHAINMINE, "mcp", "serve", "--library", str(lib.path), "--db", str(db),
         "--tools", str(FIXTURES / "airline_tools.py"), "--http", str(port)],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_port(port, proc)

        async def main():
            async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                tools = sorted(t.name for t in (await session.list_tools()).tools)
                result = await session.call_tool("lookup_user_reservations", {"user_id": "noah_ito_11"})
                return tools, result

        tools, result = anyio.run(main)
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT_S)
    # crash_backend needs crash_server, which the Python registry does not have
    assert tools == ["lookup_user_reservations"]
    assert result.is_error is False
    assert result.structured_content == {"get_user": {"user_id": "noah_ito_11", "name": "Noah Ito",
                                                      "reservations": ["R3"]}, "get_reservations": [
        {"reservation_id": "R3", "origin": "LAX", "destination": "SEA", "cabin": "economy"}]}
    assert runs_table(db)[0][2] == "completed"


@pytest.mark.parametrize("extra, message", [
    (["--http", "0.0.0.0:8765"], "refusing to serve on 0.0.0.0: it is not a loopback address"),
    (["--http", "localhost:http"], "bad --http address 'localhost:http'"),
    (["--library", "missing.json"], "no workflow library at missing.json"),
    (["--tools", "no_such_module_xyz"], "no_such_module_xyz"),
])
def test_bad_serve_options_are_one_line_errors(served, extra, message, monkeypatch):
    lib, db = served
    monkeypatch.chdir(lib.path.parent)
    args = ["mcp", "serve", "--library", str(lib.path), "--db", str(db), "--tools", str(FIXTURES / "airline_tools.py")]
    result = CliRunner().invoke(cli, args + extra)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
