"""Run traces: `chainmine run --trace-file` / OTLP export as GenAI spans, read back by `chainmine ingest` as runs."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import anyio
import duckdb
import pytest
from click.testing import CliRunner
from mcp import Client
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import PythonRegistry, run_workflow
from chainmine.library.serve.app import build_server
from chainmine.miner.cli import cli

TOOLS = '''
def get_user(user_id):
    return {"user_id": user_id, "reservations": ["R1", "R2"]}

def get_reservation(reservation_id, token):
    return {"id": reservation_id, "status": "booked"}

def cancel(reservation_id, token):
    raise ValueError(f"reservation {reservation_id} is locked")
'''
SECRET = "sk-live-Zq81x7"
LOOKUP = {
    "name": "lookup", "status": "accepted",
    "inputs": {"user_id": {"type": "string"}, "token": {"type": "string", "secret": True}},
    "steps": [
        {"id": "user", "tool_name": "get_user", "parameters": {"user_id": "{{user_id}}"}},
        {"id": "res", "tool_name": "get_reservation", "map_over": "{{user.reservations}}",
         "parameters": {"reservation_id": "{{item}}", "token": "Bearer {{token}}"}, "depends_on": ["user"]},
    ]}
CANCEL = {
    "name": "cancel_first", "status": "accepted",
    "inputs": {"user_id": {"type": "string"}, "token": {"type": "string", "secret": True}},
    "steps": [
        {"id": "user", "tool_name": "get_user", "parameters": {"user_id": "{{user_id}}"}},
        {"id": "cancel", "tool_name": "cancel", "depends_on": ["user"],
         "parameters": {"reservation_id": "{{user.reservations[0]}}", "token": "{{token}}"}},
    ]}


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "tools.py").write_text(TOOLS)
    lib = tmp_path / "workflows.json"
    lib.write_text(json.dumps({"schema_version": 1, "workflows": [LOOKUP, CANCEL]}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def chainmine(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_traced(name: str, *extra: str, db: str = "run.duckdb"):
    return chainmine("run", name, "--tools", "tools.py", "--library", "workflows.json", "--db", db,
                     "--input", "user_id=mia", "--input", f"token={SECRET}", "--yes", "--json", *extra)


def spans_of(path: Path) -> list[dict]:
    """Every span in an OTLP/JSON file, with its resource and scope and its attributes as a dict."""
    out = []
    for line in path.read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            resource = {a["key"]: next(iter(a["value"].values())) for a in rs["resource"]["attributes"]}
            for ss in rs["scopeSpans"]:
                for sp in ss["spans"]:
                    attrs = {a["key"]: next(iter(a["value"].values())) for a in sp.get("attributes", [])}
                    out.append({**sp, "attrs": attrs, "resource": resource, "scope": ss["scope"]["name"]})
    return out


def query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_trace_file_holds_genai_spans_of_the_run(env):
    result = run_traced("lookup", "--trace-file", "trace.jsonl")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    spans = spans_of(env / "trace.jsonl")
    roots = [s for s in spans if s["name"] == "invoke_workflow lookup"]
    tools = [s for s in spans if s["name"].startswith("execute_tool ")]
    assert len(roots) == 1 and len(spans) == 4
    root = roots[0]
    assert root["attrs"]["gen_ai.operation.name"] == "invoke_workflow"
    assert root["attrs"]["gen_ai.workflow.name"] == "lookup"
    assert root["attrs"]["gen_ai.conversation.id"] == run_id
    assert root["attrs"]["chainmine.run.status"] == "completed"
    assert "parentSpanId" not in root and root["resource"]["service.name"] == "chainmine"
    assert root["scope"] == "chainmine"
    # hex ids as OTLP/JSON requires, every call a child of the run's span in one trace
    assert len(root["traceId"]) == 32 and len(root["spanId"]) == 16
    int(root["traceId"], 16)
    assert {s["traceId"] for s in tools} == {root["traceId"]}
    assert {s.get("parentSpanId") for s in tools} == {root["spanId"]}
    by_seq = sorted(tools, key=lambda s: int(s["attrs"]["chainmine.call.seq"]))
    assert [s["name"] for s in by_seq] == ["execute_tool get_user", "execute_tool get_reservation",
                                           "execute_tool get_reservation"]
    first = by_seq[0]["attrs"]
    assert first["gen_ai.operation.name"] == "execute_tool"
    assert first["gen_ai.tool.name"] == "get_user"
    assert first["gen_ai.conversation.id"] == run_id
    assert first["gen_ai.tool.call.id"] == f"{run_id}:1"
    assert json.loads(first["gen_ai.tool.call.arguments"]) == {"user_id": "mia"}
    assert json.loads(first["gen_ai.tool.call.result"])["reservations"] == ["R1", "R2"]
    items = sorted(json.loads(s["attrs"]["gen_ai.tool.call.arguments"])["reservation_id"] for s in by_seq[1:])
    assert items == ["R1", "R2"]  # one span per map item
    assert int(first["chainmine.call.seq"]) == 1 and all(s["status"].get("code", 0) != 2 for s in spans)
    assert int(root["endTimeUnixNano"]) >= max(int(s["endTimeUnixNano"]) for s in tools)
    assert SECRET not in (env / "trace.jsonl").read_text()


def test_trace_ingests_back_as_one_run_kept_out_of_mining(env):
    result = run_traced("lookup", "--trace-file", "trace.jsonl")
    run_id = json.loads(result.stdout)["run_id"]
    ingest = chainmine("ingest", "trace.jsonl", "--db", "fresh.duckdb", "--json")
    assert ingest.exit_code == 0, ingest.output
    report = json.loads(ingest.stdout)
    assert (report["accepted"], report["sessions"], report["rejected"]) == (3, 1, 0)
    assert report["files"][0]["format"] == "otel"
    calls = query(env / "fresh.duckdb", "SELECT session_id, tool, args, result, success, origin, duration_ms "
                                        "FROM calls_v ORDER BY ts, seq")
    assert {c[0] for c in calls} == {run_id} and {c[5] for c in calls} == {"run"}
    assert [c[1] for c in calls] == ["get_user", "get_reservation", "get_reservation"]
    assert json.loads(calls[0][2]) == {"user_id": "mia"}
    assert json.loads(calls[0][3]) == {"user_id": "mia", "reservations": ["R1", "R2"]}
    assert json.loads(calls[1][2])["token"] == "Bearer ***"
    assert all(c[4] for c in calls) and all(c[6] >= 0 for c in calls)
    # a run: not evidence for mining unless asked
    assert json.loads(chainmine("stats", "--db", "fresh.duckdb", "--json").stdout)["calls"] == 0
    assert json.loads(chainmine("stats", "--db", "fresh.duckdb", "--include-runs", "--json").stdout)["calls"] == 3
    mine = ("mine", "--db", "fresh.duckdb", "--min-frequency", "1", "--min-sessions", "1", "--json")
    refused = chainmine(*mine)
    assert refused.exit_code == 1 and "only 3 from workflow runs" in refused.stderr
    mined = json.loads(chainmine(*mine, "--include-runs").stdout)
    assert [s["tool_name"] for s in mined[0]["steps"]] == ["get_user", "get_reservation"]
    runs = json.loads(chainmine("runs", "list", "--db", "fresh.duckdb", "--json").stdout)
    assert [(r["run_id"], r["workflow"], r["status"]) for r in runs] == [(run_id, "lookup", "completed")]
    shown = json.loads(chainmine("runs", "show", run_id, "--db", "fresh.duckdb", "--json").stdout)
    assert shown["calls"] == 3 and shown["inputs"] == {"user_id": "mia", "token": "***"}
    assert [(s["id"], s["tool"], s["status"], s["attempts"]) for s in shown["steps"]] == [
        ("user", "get_user", "completed", 1), ("res", "get_reservation", "completed", 2)]
    assert shown["steps"][1]["result"] == [{"id": "R1", "status": "booked"}, {"id": "R2", "status": "booked"}]
    assert shown["outputs"]["user"]["reservations"] == ["R1", "R2"]
    # again: nothing new; into the store that recorded the run live: not stored twice
    assert json.loads(chainmine("ingest", "trace.jsonl", "--db", "fresh.duckdb", "--json").stdout)["duplicates"] == 3
    again = json.loads(chainmine("ingest", "trace.jsonl", "--db", "run.duckdb", "--json").stdout)
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert query(env / "run.duckdb", "SELECT count(*) FROM calls")[0][0] == 3


def test_failing_step_span_is_an_error_and_secrets_stay_out(env):
    result = run_traced("cancel_first", "--trace-file", "trace.jsonl")
    assert result.exit_code == 1
    text = (env / "trace.jsonl").read_text()
    assert SECRET not in text
    spans = spans_of(env / "trace.jsonl")
    failed = [s for s in spans if s["name"] == "execute_tool cancel"]
    assert len(failed) == 1
    assert failed[0]["status"]["code"] == 2
    assert failed[0]["attrs"]["error.type"] == "ValueError"
    assert "reservation R1 is locked" in failed[0]["status"]["message"]
    assert json.loads(failed[0]["attrs"]["gen_ai.tool.call.arguments"])["token"] == "***"
    root = next(s for s in spans if s["name"].startswith("invoke_workflow"))
    assert root["status"]["code"] == 2 and root["attrs"]["error.type"] == "failed"
    chainmine("ingest", "trace.jsonl", "--db", "fresh.duckdb")
    rows = query(env / "fresh.duckdb", "SELECT tool, success, error FROM calls_v ORDER BY ts, seq")
    assert rows[0][:2] == ("get_user", True)
    assert rows[1][0] == "cancel" and rows[1][1] is False and "is locked" in rows[1][2]
    assert query(env / "fresh.duckdb", "SELECT status FROM runs") == [("failed",)]
    steps = query(env / "fresh.duckdb", "SELECT step_id, status, error FROM run_steps ORDER BY started_at")
    assert [s[:2] for s in steps] == [("user", "completed"), ("cancel", "failed")]
    assert "is locked" in steps[1][2]


def test_no_trace_content_leaves_arguments_and_results_out(env):
    assert run_traced("lookup", "--trace-file", "trace.jsonl", "--no-trace-content").exit_code == 0
    spans = spans_of(env / "trace.jsonl")
    assert len(spans) == 4
    for span in spans:
        assert not {"gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "chainmine.run.inputs",
                    "chainmine.run.outputs"} & set(span["attrs"])
    assert "R1" not in (env / "trace.jsonl").read_text()


@pytest.mark.parametrize("path, fragment", [("missing/trace.jsonl", "folder missing does not exist"),
                                            ("tools.py/trace.jsonl", "folder tools.py is not a folder")])
def test_unwritable_trace_file_fails_before_the_run(env, path, fragment):
    result = run_traced("lookup", "--trace-file", path)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: cannot write trace file")
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (env / "run.duckdb").exists()  # nothing ran, nothing was recorded


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def collector():
    _Collector.received = []
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Collector.received
    server.shutdown()
    server.server_close()
    thread.join()


def _received_spans(received) -> list:
    spans = []
    for path, content_type, body in received:
        assert path == "/v1/traces" and content_type == "application/x-protobuf"
        request = ExportTraceServiceRequest.FromString(body)
        for rs in request.resource_spans:
            service = {a.key: a.value.string_value for a in rs.resource.attributes}["service.name"]
            assert service == "chainmine"
            spans += [sp for ss in rs.scope_spans for sp in ss.spans]
    return spans


@pytest.mark.parametrize("how", ["option", "env"])
def test_otlp_exporter_sends_protobuf_spans(env, collector, monkeypatch, how):
    url, received = collector
    if how == "option":
        result = run_traced("lookup", "--otlp-endpoint", url)
    else:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
        result = run_traced("lookup")
    assert result.exit_code == 0, result.output
    spans = _received_spans(received)
    names = sorted(sp.name for sp in spans)
    assert names == ["execute_tool get_reservation", "execute_tool get_reservation", "execute_tool get_user",
                     "invoke_workflow lookup"]
    root = next(sp for sp in spans if sp.name.startswith("invoke_workflow"))
    assert all(sp.parent_span_id == root.span_id for sp in spans if sp is not root)
    attrs = {a.key: a.value.string_value for a in root.attributes}
    assert attrs["gen_ai.operation.name"] == "invoke_workflow"
    assert attrs["gen_ai.conversation.id"] == json.loads(result.stdout)["run_id"]


def _memory_provider():
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter, provider


def test_python_api_takes_the_callers_tracer_provider():
    exporter, provider = _memory_provider()
    wf = WorkflowTemplate.from_dict(LOOKUP)
    tools = {"get_user": lambda user_id: {"reservations": ["A"]},
             "get_reservation": lambda reservation_id, token: {"id": reservation_id}}
    result = run_workflow(wf, {"user_id": "u", "token": SECRET}, tools=tools, tracer_provider=provider)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["execute_tool get_user", "execute_tool get_reservation",
                                       "invoke_workflow lookup"]
    assert spans[-1].attributes["gen_ai.conversation.id"] == result.run_id
    assert "***" in spans[1].attributes["gen_ai.tool.call.arguments"]


def test_mcp_server_emits_the_same_spans(env):
    exporter, provider = _memory_provider()
    registry = PythonRegistry.from_mapping({"get_user": lambda user_id: {"reservations": ["R9"]},
                                            "get_reservation": lambda reservation_id, token: {"id": reservation_id},
                                            "cancel": lambda reservation_id, token: None})
    server = build_server(env / "workflows.json", registry, poll_interval=None, tracer_provider=provider)

    async def main():
        async with Client(server, mode="legacy") as client:
            return await client.call_tool("lookup", {"user_id": "mia", "token": SECRET})

    assert anyio.run(main).is_error is False
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["execute_tool get_user", "execute_tool get_reservation", "invoke_workflow lookup"]


def test_another_agents_trace_still_ingests_as_log_calls(env):
    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "execute_tool search",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000100000000",
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                           {"key": "gen_ai.tool.name", "value": {"stringValue": "search"}},
                           {"key": "chainmine.run_id", "value": {"stringValue": "not-ours"}}]}
    line = {"resourceSpans": [{"resource": {"attributes": []},
                               "scopeSpans": [{"scope": {"name": "some.agent"}, "spans": [span]}]}]}
    (env / "agent.jsonl").write_text(json.dumps(line) + "\n")
    assert json.loads(chainmine("ingest", "agent.jsonl", "--db", "a.duckdb", "--json").stdout)["accepted"] == 1
    assert query(env / "a.duckdb", "SELECT tool, origin FROM calls_v") == [("search", "log")]
    assert query(env / "a.duckdb", "SELECT count(*) FROM runs") == [(0,)]


def test_untraced_run_does_not_load_the_sdk(env):
    code = ("import sys; from chainmine.miner.run_store import run_named_workflow; "
            "r = run_named_workflow('lookup', ['tools.py'], library_path='workflows.json', db='plain.duckdb', "
            "input_pairs=['user_id=u', 'token=t']); "
            "print(r.status, 'opentelemetry.sdk.trace' in sys.modules)")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], cwd=env, capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})
    assert out.stdout.split() == ["completed", "False"]


def test_sub_workflow_run_is_nested_under_its_parent(env):
    from chainmine.library.store import WorkflowLibrary
    exporter, provider = _memory_provider()
    outer = WorkflowTemplate.from_dict({
        "name": "outer", "status": "accepted",
        "inputs": {"user_id": {"type": "string"}, "token": {"type": "string", "secret": True}},
        "steps": [{"id": "inner", "tool_name": "workflow:lookup",
                   "parameters": {"user_id": "{{user_id}}", "token": "{{token}}"}}]})
    tools = {"get_user": lambda user_id: {"reservations": ["A"]},
             "get_reservation": lambda reservation_id, token: {"id": reservation_id, "token": token}}
    result = run_workflow(outer, {"user_id": "u", "token": SECRET}, tools=tools, tracer_provider=provider,
                          library=WorkflowLibrary(env / "workflows.json"))
    assert result.status == "completed", result.error
    spans = exporter.get_finished_spans()
    name_of = {s.context.span_id: s.name for s in spans}
    parents = [(s.name, name_of.get(s.parent.span_id) if s.parent else None) for s in spans]
    assert parents == [("execute_tool get_user", "invoke_workflow lookup"),
                       ("execute_tool get_reservation", "invoke_workflow lookup"),
                       ("invoke_workflow lookup", "invoke_workflow outer"), ("invoke_workflow outer", None)]
    assert len({s.context.trace_id for s in spans}) == 1
    assert all(SECRET not in json.dumps(dict(s.attributes)) for s in spans)  # the child's secret input too
