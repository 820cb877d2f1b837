"""The MCP bridge in-process: schemas, the library catalog, and the protocol through the SDK's client.

The server is driven by ``mcp.Client`` connected in memory, both over the
handshake protocol (``mode="legacy"``) and the 2026 per-request protocol
(``mode="auto"``). Runs here go through an injected ``run_workflow`` so each
test controls what a run returns; the real runner is exercised end to end in
``test_mcp_bridge_stdio.py``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import anyio
import duckdb
import pytest
from mcp import Client

from chainmine.library.model import InputSpec, WorkflowStats, WorkflowStep, WorkflowTemplate
from chainmine.library.runner import load_registries
from chainmine.library.serve.app import build_server
from chainmine.library.serve.errors import ArgumentError, ServeError
from chainmine.library.serve.mcp_server import WorkflowServer, run_result
from chainmine.library.serve.schema import check_arguments, input_schema, output_schema, tool_description
from chainmine.library.serve.transport import HttpAddress, parse_http_address
from chainmine.library.serve.watch import WorkflowCatalog
from chainmine.miner.commands.mcp import duckdb_recorder_opener

MODES = ["legacy", "auto"]


def lookup_workflow(name: str = "lookup_user_reservations", status: str = "accepted", **changes) -> WorkflowTemplate:
    data = {
        "name": name, "status": status,
        "description": "Look a user up and fetch every reservation they hold.",
        "inputs": {"user_id": {"type": "string", "example": "mia_li_3668", "description": "the user's id"}},
        "steps": [
            {"id": "get_user", "tool_name": "get_user_details", "parameters": {"user_id": "{{user_id}}"}},
            {"id": "get_reservations", "tool_name": "get_reservation_details",
             "map_over": "{{get_user.reservations}}", "parameters": {"reservation_id": "{{item}}"},
             "depends_on": ["get_user"]},
        ],
        "stats": {"frequency": 97, "sessions": 60, "success_rate": 0.96, "success_rate_low": 0.9,
                  "avg_duration_ms": 840},
    }
    data.update(changes)
    return WorkflowTemplate.from_dict(data)


def write_library(path: Path, workflows: list[WorkflowTemplate]) -> None:
    doc = {"schema_version": 1, "workflows": [wf.to_dict() for wf in sorted(workflows, key=lambda w: w.name)]}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)  # atomic, like the library store


class FakeRunner:
    """Records the calls it gets and answers with a canned run result."""

    def __init__(self, result: dict | None = None, error: BaseException | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.result = result or {"run_id": "run-1", "status": "completed",
                                 "outputs": {"get_user": {"user_id": "mia_li_3668"},
                                             "get_reservations": [{"reservation_id": "R1"}]}, "steps": []}
        self.error = error

    async def __call__(self, wf, args):
        self.calls.append((wf.name, args))
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def library(tmp_path):
    path = tmp_path / "workflows.json"
    write_library(path, [lookup_workflow(), lookup_workflow("draft_flow", status="suggested"),
                         lookup_workflow("noise_flow", status="rejected")])
    return path


def make_server(path: Path, runner: FakeRunner | None = None, poll: float | None = None) -> WorkflowServer:
    return WorkflowServer(WorkflowCatalog(path), runner or FakeRunner(), poll_interval=poll)


def run(coro_fn, *args):
    return anyio.run(coro_fn, *args)


# ---- schemas and descriptions -------------------------------------------------------------

@pytest.mark.parametrize("spec, expected_prop, required", [
    (InputSpec(type="string", example="u1"), {"type": "string", "examples": ["u1"]}, True),
    (InputSpec(type="integer", description="how many"), {"type": "integer", "description": "how many"}, True),
    (InputSpec(type="array", required=False), {"type": "array"}, False),
    (InputSpec(type="boolean", default=True), {"type": "boolean", "default": True}, False),
    (InputSpec(type="any"), {}, True),
])
def test_input_schema_follows_declared_inputs(spec, expected_prop, required):
    wf = lookup_workflow(inputs={"x": spec.model_dump()})
    schema = input_schema(wf)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["properties"] == {"x": expected_prop}
    assert ("x" in schema.get("required", [])) is required


def test_output_schema_names_declared_outputs():
    wf = lookup_workflow(outputs={"user": "{{get_user}}", "who": "{{user_id}}"})
    schema = output_schema(wf)
    assert schema["required"] == ["user", "who"]
    assert schema["properties"]["who"] == {"type": "string"}  # an input's type is known
    assert schema["properties"]["user"] == {}  # a tool's result is not


def test_output_schema_without_outputs_names_every_step():
    schema = output_schema(lookup_workflow())
    assert schema == {"type": "object", "properties": {"get_user": {}, "get_reservations": {"type": "array"}},
                      "required": ["get_user", "get_reservations"]}


def test_description_carries_text_steps_and_evidence():
    text = tool_description(lookup_workflow())
    assert text.startswith("Look a user up")
    assert "get_user_details -> get_reservation_details (for each of get_user.reservations)" in text
    assert "seen 97 times in 60 sessions" in text and "success rate 96% (lower bound 90%)" in text


def test_description_without_evidence_still_names_the_steps():
    wf = lookup_workflow(description="", stats=None)
    assert tool_description(wf) == ("Workflow lookup_user_reservations.\n"
                                    "Steps (2): get_user_details -> get_reservation_details "
                                    "(for each of get_user.reservations).")


@pytest.mark.parametrize("args, fragment", [
    ({}, "'user_id' is a required property"),
    ({"user_id": 42}, "user_id: 42 is not of type 'string'"),
    ({"user_id": "u", "extra": 1}, "Additional properties are not allowed ('extra' was unexpected)"),
])
def test_check_arguments_rejects_what_the_schema_forbids(args, fragment):
    with pytest.raises(ArgumentError) as info:
        check_arguments(lookup_workflow(), args)
    assert fragment in str(info.value)
    assert "expected: user_id (string)" in str(info.value)


# ---- HTTP address -------------------------------------------------------------------------

@pytest.mark.parametrize("text, allow_remote, expected", [
    ("8765", False, HttpAddress("127.0.0.1", 8765)),
    (":9000", False, HttpAddress("127.0.0.1", 9000)),
    ("localhost:9001", False, HttpAddress("localhost", 9001)),
    ("[::1]:9002", False, HttpAddress("::1", 9002)),
    ("0.0.0.0:9003", True, HttpAddress("0.0.0.0", 9003)),
])
def test_http_address_parsing(text, allow_remote, expected):
    assert parse_http_address(text, allow_remote=allow_remote) == expected


@pytest.mark.parametrize("text, fragment", [
    ("0.0.0.0:8765", "not a loopback address"),
    ("192.168.1.5:8765", "--allow-remote"),
    ("host:port", "use HOST:PORT or PORT"),
    ("127.0.0.1:70000", "must be 1-65535"),
])
def test_http_address_refusals(text, fragment):
    with pytest.raises(ServeError, match=fragment):
        parse_http_address(text)


# ---- the catalog --------------------------------------------------------------------------

def test_catalog_serves_only_accepted_workflows(library):
    catalog = WorkflowCatalog(library)
    assert catalog.refresh() is True
    assert sorted(catalog.workflows) == ["lookup_user_reservations"]
    assert catalog.refresh() is False  # nothing changed on disk


def test_catalog_keeps_last_good_library_when_file_breaks(library, caplog):
    catalog = WorkflowCatalog(library)
    catalog.refresh()
    library.write_text('{"schema_version": 1, "workflows": [')
    with caplog.at_level(logging.WARNING, logger="chainmine.library.serve.watch"):
        assert catalog.refresh() is False
        library.write_text('{"schema_version": 1, "workflows": [{"name": "bad name!"')
        catalog.refresh()
    assert sorted(catalog.workflows) == ["lookup_user_reservations"]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2 and all("still serving the last good version (1 workflows)" in w for w in warnings)
    write_library(library, [lookup_workflow("another_flow")])
    assert catalog.refresh() is True and sorted(catalog.workflows) == ["another_flow"]
    assert catalog.last_error is None


def test_catalog_skips_a_workflow_that_breaks_the_rules(library, caplog):
    broken = lookup_workflow("broken_flow")
    broken.steps[0].parameters["user_id"] = "{{nobody}}"  # refers to an unknown name
    catalog = WorkflowCatalog(library, loader=lambda p: [lookup_workflow(), broken])
    with caplog.at_level(logging.WARNING, logger="chainmine.library.serve.watch"):
        catalog.refresh()
    assert sorted(catalog.workflows) == ["lookup_user_reservations"]
    assert "not serving workflow 'broken_flow'" in caplog.text


def test_missing_library_is_refused_at_start(tmp_path):
    with pytest.raises(ServeError, match="no workflow library at"):
        WorkflowCatalog(tmp_path / "nope.json").check_exists()


# ---- the protocol -------------------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_list_tools_exposes_accepted_workflows_with_schemas(library, mode):
    async def main():
        async with Client(make_server(library), mode=mode) as client:
            assert client.server_capabilities.tools.list_changed is True
            return (await client.list_tools()).tools

    tools = run(main)
    assert [t.name for t in tools] == ["lookup_user_reservations"]
    tool = tools[0]
    assert tool.input_schema["required"] == ["user_id"]
    assert tool.input_schema["properties"]["user_id"]["examples"] == ["mia_li_3668"]
    assert tool.input_schema["additionalProperties"] is False
    assert "success rate 96%" in tool.description


def test_list_tools_describes_the_replay_pass_rate(tmp_path):
    path = tmp_path / "workflows.json"
    replay = {"pass_rate": 0.9, "replayed": 20, "passed": 18, "compared": 82, "at": "2026-12-07T04:00:00+00:00",
              "first_disagreement": {"session": "s1", "step": "get_user", "field": "result.x", "logged": "1",
                                     "replayed": "2"}}
    write_library(path, [lookup_workflow(evidence={"replay": replay})])

    async def main():
        async with Client(make_server(path)) as client:
            return (await client.list_tools()).tools

    description = run(main)[0].description
    assert "Replay: 18 of 20 logged occurrences replayed identically (90%), 82 calls compared" in description
    assert "success rate 96%" in description


@pytest.mark.parametrize("mode", MODES)
def test_call_returns_outputs_as_structured_content_and_json_text(library, mode):
    runner = FakeRunner()

    async def main():
        async with Client(make_server(library, runner), mode=mode) as client:
            return await client.call_tool("lookup_user_reservations", {"user_id": "mia_li_3668"})

    result = run(main)
    assert result.is_error is False
    assert result.structured_content == {"get_user": {"user_id": "mia_li_3668"},
                                         "get_reservations": [{"reservation_id": "R1"}]}
    assert json.loads(result.content[0].text) == result.structured_content
    assert result.meta["chainmine/run_id"] == "run-1"
    assert runner.calls == [("lookup_user_reservations", {"user_id": "mia_li_3668"})]


@pytest.mark.parametrize("name, args, fragment", [
    ("lookup_user_reservation", {"user_id": "u"}, "did you mean 'lookup_user_reservations'?"),
    ("draft_flow", {"user_id": "u"}, "unknown tool 'draft_flow'"),  # suggested, not accepted
    ("lookup_user_reservations", {"user_id": 7}, "user_id: 7 is not of type 'string'"),
    ("lookup_user_reservations", {}, "'user_id' is a required property"),
])
def test_bad_calls_are_errors_and_run_nothing(library, name, args, fragment):
    runner = FakeRunner()

    async def main():
        async with Client(make_server(library, runner), mode="legacy") as client:
            return await client.call_tool(name, args)

    result = run(main)
    assert result.is_error is True
    assert fragment in result.content[0].text
    assert runner.calls == []


def test_failed_run_is_an_error_naming_run_and_step(library):
    runner = FakeRunner({"run_id": "run-9", "status": "failed", "outputs": None,
                         "error": "step get_user failed",
                         "steps": [{"id": "get_user", "status": "failed", "attempts": 3,
                                    "error": "ValueError: user 'x' not found"},
                                   {"id": "get_reservations", "status": "not_run", "error": None}]})

    async def main():
        async with Client(make_server(library, runner), mode="legacy") as client:
            return await client.call_tool("lookup_user_reservations", {"user_id": "x"})

    result = run(main)
    assert result.is_error is True
    assert result.content[0].text == ("workflow 'lookup_user_reservations' failed (run run-9): step 'get_user' "
                                      "(tool get_user_details) failed: ValueError: user 'x' not found")
    assert result.structured_content["failed_step"]["attempts"] == 3


@pytest.mark.parametrize("status", ["compensated", "budget_exceeded", "cancelled"])
def test_unsuccessful_statuses_are_errors(status):
    result = run_result(lookup_workflow(), {"run_id": "r", "status": status, "steps": []})
    assert result.is_error is True
    assert f"ended with status {status} (run r)" in result.content[0].text


def call_then_list(server: WorkflowServer, name: str, args: dict):
    """One call, then a list on the same connection: (call result, tool names)."""
    async def main():
        async with Client(server, mode="legacy") as client:
            result = await client.call_tool(name, args)
            return result, [t.name for t in (await client.list_tools()).tools]

    return run(main)


def test_a_crashing_runner_leaves_the_server_answering(library):
    runner = FakeRunner(error=ConnectionResetError("tool server went away"))
    result, names = call_then_list(make_server(library, runner), "lookup_user_reservations", {"user_id": "u"})
    assert result.is_error is True
    assert "ConnectionResetError: tool server went away" in result.content[0].text
    assert names == ["lookup_user_reservations"]


def test_library_changes_reach_the_client_with_a_notification(library):
    """Accept a workflow while serving: a list_changed notification arrives and the tool is listed."""
    seen: list[str] = []
    changed = anyio.Event()

    async def on_message(message):
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            seen.append(message.method)
            changed.set()

    async def main():
        server = make_server(library, poll=0.02)
        async with Client(server, mode="legacy", message_handler=on_message) as client:
            before = [t.name for t in (await client.list_tools()).tools]
            write_library(library, [lookup_workflow(), lookup_workflow("draft_flow")])  # accepted now
            with anyio.fail_after(10):
                await changed.wait()
            after = [t.name for t in (await client.list_tools()).tools]
            write_library(library, [lookup_workflow(), lookup_workflow("draft_flow", status="rejected")])
            gone = [t.name for t in (await client.list_tools()).tools]  # the list itself re-reads
            return before, after, gone

    before, after, gone = run(main)
    assert before == ["lookup_user_reservations"]
    assert after == ["draft_flow", "lookup_user_reservations"]
    assert gone == ["lookup_user_reservations"]
    assert seen


def test_a_broken_library_while_serving_keeps_tools(library, caplog):
    async def main():
        async with Client(make_server(library), mode="legacy") as client:
            await client.list_tools()
            library.write_text("not json at all")
            return [t.name for t in (await client.list_tools()).tools]

    with caplog.at_level(logging.WARNING, logger="chainmine.library.serve.watch"):
        names = run(main)
    assert names == ["lookup_user_reservations"]
    assert "cannot be used" in caplog.text


# ---- with the real runner, in process -----------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "mcp_fixtures"


@pytest.fixture
def airline_registry():
    with load_registries([str(FIXTURES / "airline_tools.py")]) as registry:
        yield registry


def runs_table(db: Path) -> list[tuple]:
    """(run_id, workflow, status) of every recorded run, oldest first.

    Opened read-only from the test process, which works only while no other
    process holds the database.
    """
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT run_id, workflow, status FROM runs ORDER BY started_at").fetchall()
    finally:
        con.close()


def test_real_runner_answers_and_records_runs(library, airline_registry, tmp_path):
    db = tmp_path / "chainmine.duckdb"
    wf = lookup_workflow(outputs={"name": "{{get_user.name}}", "trips": "{{get_reservations}}"})
    write_library(library, [wf, lookup_workflow("needs_other_tools", steps=[
        {"id": "s", "tool_name": "search_flights", "parameters": {"q": "{{user_id}}"}}])])
    server = build_server(library, airline_registry, open_recorder=duckdb_recorder_opener(str(db)), poll_interval=None)

    async def main():
        async with Client(server, mode="legacy") as client:
            tools = (await client.list_tools()).tools
            ok = await client.call_tool("lookup_user_reservations", {"user_id": "mia_li_3668"})
            bad_args = await client.call_tool("lookup_user_reservations", {"user_id": ["mia"]})
            failed = await client.call_tool("lookup_user_reservations", {"user_id": "nobody"})
            return tools, ok, bad_args, failed

    tools, ok, bad_args, failed = run(main)
    # a workflow whose tools no registry offers is not offered either
    assert [t.name for t in tools] == ["lookup_user_reservations"]
    assert tools[0].output_schema["required"] == ["name", "trips"]
    assert ok.is_error is False
    assert ok.structured_content["name"] == "Mia Li"
    assert [t["destination"] for t in ok.structured_content["trips"]] == ["JFK", "LHR"]
    assert bad_args.is_error is True and "is not of type 'string'" in bad_args.content[0].text
    assert failed.is_error is True
    failed_run = failed.meta["chainmine/run_id"]
    assert f"(run {failed_run})" in failed.content[0].text
    assert "step 'get_user'" in failed.content[0].text and "user 'nobody' not found" in failed.content[0].text
    # both runs, and only those, are in the store; the bad arguments started nothing
    assert runs_table(db) == [
        (ok.meta["chainmine/run_id"], "lookup_user_reservations", "completed"),
        (failed_run, "lookup_user_reservations", "failed")]


def test_unrecordable_run_is_a_clear_error(library, airline_registry, tmp_path):
    class Locked:
        def __enter__(self):
            raise RuntimeError("database c.duckdb is in use by process 42 (chainmine ingest)")

        def __exit__(self, *exc):
            return False

    server = build_server(library, airline_registry, open_recorder=Locked, poll_interval=None)
    result, names = call_then_list(server, "lookup_user_reservations", {"user_id": "mia_li_3668"})
    assert result.is_error is True
    assert "cannot record the run: database c.duckdb is in use by process 42" in result.content[0].text
    assert names == ["lookup_user_reservations"]


def test_library_changes_reach_2026_clients_as_listen_events(library):
    """On the 2026 protocol a client listens with subscriptions/listen; an accept shows up there."""
    async def main():
        server = make_server(library, poll=0.02)
        async with Client(server, mode="auto") as client:
            assert client.protocol_version >= "2026"
            async with client.listen(tools_list_changed=True) as events:
                write_library(library, [lookup_workflow(), lookup_workflow("draft_flow")])
                with anyio.fail_after(10):
                    event = await events.__anext__()
            return type(event).__name__, [t.name for t in (await client.list_tools()).tools]

    kind, names = run(main)
    assert kind == "ToolsListChanged"
    assert names == ["draft_flow", "lookup_user_reservations"]
