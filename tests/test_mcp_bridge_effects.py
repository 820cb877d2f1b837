"""Side effects and outputs of served workflows, through the real ``chainmine mcp serve`` and the SDK client.

The backing server (``mcp_fixtures/booking_server.py``) declares ``release_seat``
destructive only in its MCP annotations; what it changed is in a log file.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import anyio
from jsonschema import Draft202012Validator
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import ElicitResult

from chainmine.library.store import WorkflowLibrary
from test_mcp_bridge import lookup_workflow

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "mcp_fixtures"
CHAINMINE = str(Path(sys.executable).parent / "chainmine")
WAIT_S = 60  # generous: the machine may be busy; nothing is asserted about time


def release_workflow():
    return lookup_workflow(
        "release_user_seats", description="Give up every seat a user holds.", stats=None,
        steps=[{"id": "get_user", "tool_name": "get_user_details", "parameters": {"user_id": "{{user_id}}"}},
               {"id": "release", "tool_name": "release_seat", "map_over": "{{get_user.reservations}}",
                "parameters": {"reservation_id": "{{item}}"}}])


def serve(tmp_path):
    lib = WorkflowLibrary(tmp_path / "workflows.json")
    for wf in (lookup_workflow(status="suggested"), release_workflow().model_copy(update={"status": "suggested"})):
        lib.register(wf)
    lib.accept("lookup_user_reservations")
    lib.accept("release_user_seats")
    log = tmp_path / "released.jsonl"
    backing = "mcp:python " + shlex.join([str(FIXTURES / "booking_server.py"), str(log)])
    params = StdioServerParameters(command=CHAINMINE, cwd=str(ROOT), env=dict(os.environ), args=[
        "mcp", "serve", "--library", str(lib.path), "--db", str(tmp_path / "c.duckdb"), "--tools", backing,
        "--poll", "0"])
    return params, log


def released(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_destructive_workflow_is_annotated_and_needs_confirm(tmp_path):
    params, log = serve(tmp_path)

    async def main():
        with anyio.fail_after(WAIT_S):
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                tools = {t.name: t for t in (await session.list_tools()).tools}
                refused = await session.call_tool("release_user_seats", {"user_id": "mia_li_3668"})
                before = released(log)
                done = await session.call_tool("release_user_seats", {"user_id": "mia_li_3668", "confirm": True})
                lookup = await session.call_tool("lookup_user_reservations", {"user_id": "mia_li_3668"})
                return tools, refused, before, done, lookup

    tools, refused, before, done, lookup = anyio.run(main)
    release, look = tools["release_user_seats"], tools["lookup_user_reservations"]
    assert release.annotations.destructive_hint is True and release.annotations.read_only_hint is False
    assert release.annotations.idempotent_hint is False
    assert "confirm" in release.input_schema["required"]
    assert "step release calls release_seat" in release.input_schema["properties"]["confirm"]["description"]
    assert look.annotations.read_only_hint is True and look.annotations.destructive_hint is False
    assert look.annotations.idempotent_hint is True and "confirm" not in look.input_schema["properties"]

    assert refused.is_error and before == []
    text = refused.content[0].text
    assert "was not run" in text and "step release calls release_seat" in text and "confirm: true" in text

    assert done.is_error is False, done.content[0].text
    assert done.structured_content["release"] == [{"released": "R1"}, {"released": "R2"}]
    run_id = done.meta["chainmine/run_id"]
    assert sorted(r["idempotency_key"] for r in released(log)) == [f"{run_id}:release:0", f"{run_id}:release:1"]

    assert lookup.is_error is False
    assert set(lookup.structured_content) == {"get_user", "get_reservations"}
    assert lookup.structured_content["get_user"]["name"] == "Mia Li"
    assert [r["reservation_id"] for r in lookup.structured_content["get_reservations"]] == ["R1", "R2"]
    Draft202012Validator(look.output_schema).validate(lookup.structured_content)
    Draft202012Validator(release.output_schema).validate(done.structured_content)


def test_a_client_that_elicits_is_asked_and_its_answer_decides(tmp_path):
    params, log = serve(tmp_path)
    answers = iter([False, True])
    asked: list[str] = []

    async def elicit(context, request):
        asked.append(request.message)
        return ElicitResult(action="accept", content={"confirm": next(answers)})

    async def main():
        with anyio.fail_after(WAIT_S):
            async with stdio_client(params) as (read, write), \
                    ClientSession(read, write, elicitation_callback=elicit) as session:
                await session.initialize()
                tool = next(t for t in (await session.list_tools()).tools if t.name == "release_user_seats")
                declined = await session.call_tool("release_user_seats", {"user_id": "noah_ito_11"})
                before = released(log)
                accepted = await session.call_tool("release_user_seats", {"user_id": "noah_ito_11"})
                return tool, declined, before, accepted

    tool, declined, before, accepted = anyio.run(main)
    assert "confirm" not in tool.input_schema.get("required", [])
    assert declined.is_error and "the user declined" in declined.content[0].text and before == []
    assert accepted.is_error is False, accepted.content[0].text
    assert [r["reservation_id"] for r in released(log)] == ["R3"]
    assert len(asked) == 2 and "release_seat" in asked[0]
