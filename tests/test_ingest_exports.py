"""Tracing-tool exports (LangSmith, Langfuse, OpenInference, Claude Code, GenAI and MCP spans) and --map."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from chainmine.miner.cli import cli
from chainmine.miner.errors import IngestError
from chainmine.miner.ingest import detect_format, ingest_paths
from chainmine.miner.store import connect

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "t.duckdb")
    yield c
    c.close()


def rows(con, cols: str = "session_id, tool, success, error") -> list[tuple]:
    return con.execute(f"SELECT {cols} FROM calls_v ORDER BY session_id, ts, seq, line").fetchall()


def tools_by_session(con) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for session, tool, *_ in rows(con):
        out.setdefault(session, []).append(tool)
    return out


# file, format, accepted, rejected, skipped, sessions, failed calls
SAMPLE_COUNTS = [
    ("langsmith.jsonl", "langsmith", 9, 1, 9, 3, 2),
    ("langsmith.parquet", "langsmith", 9, 1, 9, 3, 2),
    ("langfuse.jsonl", "langfuse", 8, 1, 8, 3, 2),
    ("langfuse_spans.csv", "langfuse", 5, 0, 4, 2, 1),
    ("openinference.jsonl", "openinference", 5, 0, 4, 2, 1),
    ("phoenix_spans.jsonl", "openinference", 5, 1, 4, 2, 1),
    ("claude_code.jsonl", "claude-code", 10, 1, 14, 2, 2),
    ("otel_legacy.jsonl", "otel", 5, 0, 0, 2, 2),
    ("mcp.jsonl", "mcp", 5, 0, 3, 2, 2),
]


@pytest.mark.parametrize("name, fmt, accepted, rejected, skipped, sessions, failed", SAMPLE_COUNTS)
def test_sample_is_detected_and_ingested_to_exact_counts(con, name, fmt, accepted, rejected, skipped, sessions,
                                                         failed):
    assert detect_format(SAMPLES / name) == fmt
    r = ingest_paths(con, [SAMPLES / name])
    assert (r.accepted, r.rejected, r.skipped, r.sessions) == (accepted, rejected, skipped, sessions)
    assert r.files[0]["format"] == fmt
    assert con.execute("SELECT count(*) FROM calls_v WHERE NOT success").fetchone()[0] == failed
    again = ingest_paths(con, [SAMPLES / name])
    assert (again.accepted, again.duplicates, again.rejected, again.skipped) == (0, accepted, rejected, skipped)


def test_langsmith_runs_keep_tool_runs_in_trace_order(con):
    ingest_paths(con, [SAMPLES / "langsmith.jsonl"])
    assert tools_by_session(con) == {
        "1f0c3c2e-8a41-4d6f-9a55-0b7f6e2d1a01": ["get_user_details", "get_reservation_details",
                                                 "get_reservation_details"],
        "2a9d4b7e-1c33-4e8a-b0f2-6d5c4a3b2c01": ["github_list_issues", "github_create_pr", "github_create_pr",
                                                 "slack_send_message"],
        "3b8e5c6d-2d44-4f9b-a1c3-7e6d5b4c3d01": ["search_docs", "fetch_doc"],
    }
    first = rows(con, "tool, args, result, duration_ms, call_id")[0]
    assert first == ("get_user_details", '{"user_id":"mia_li_3668"}',
                     '{"user_id":"mia_li_3668","reservations":["ZFA04Y","8JX2WO"]}', 212.0,
                     "1f0c3c2e-8a41-4d6f-9a55-0b7f6e2d1a03")  # {"output": ...} unwrapped
    errors = [e for *_, e in rows(con) if e]
    assert errors == ["ToolException('reservation 8JX2WO not found')", "HTTPError: 422 Validation Failed"]


def test_langfuse_tool_observations_and_input_shapes(con):
    ingest_paths(con, [SAMPLES / "langfuse.jsonl"])
    got = {t: (a, s, e) for _, t, s, e, a in rows(con, "session_id, tool, success, error, args")}
    assert got["book_flight"][0] == '{"flight":"TP218","passenger":"ana.silva"}'  # decorator kwargs
    assert got["kb_search"][0] == '{"input":"reset password"}'  # a plain input wrapped
    assert got["get_fare"][1:] == (False, "fare service timed out")
    assert "format_answer" not in got  # a SPAN is no tool call where TOOL observations exist


def test_langfuse_older_export_reads_nested_spans_as_tools(con):
    ingest_paths(con, [SAMPLES / "langfuse_spans.csv"])
    assert tools_by_session(con) == {"c1d2e3f4a5b6c7d8": ["lookup_order", "refund_order", "notify_customer"],
                                     "d2e3f4a5b6c7d8e9": ["lookup_order", "ship_order"]}
    assert rows(con, "result")[2] == ('"sent"',)  # JSON text in a CSV cell decoded


def test_langfuse_parquet_reads_like_its_json_lines(con, tmp_path):
    path = tmp_path / "observations.parquet"
    duckdb.execute(f"""COPY (SELECT json ->> 'id' AS id, json ->> 'traceId' AS "traceId", json ->> 'type' AS type,
                                  json ->> 'name' AS name, json ->> 'startTime' AS "startTime",
                                  json ->> 'endTime' AS "endTime", json ->> 'parentObservationId' AS "parentObservationId",
                                  (json -> 'input')::VARCHAR AS input, (json -> 'output')::VARCHAR AS output,
                                  json ->> 'level' AS level, json ->> 'statusMessage' AS "statusMessage"
                           FROM read_json_objects('{SAMPLES / "langfuse.jsonl"}', ignore_errors = true)
                           WHERE json IS NOT NULL)
                       TO '{path}' (FORMAT parquet)""")
    assert detect_format(path) == "langfuse"
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected, r.skipped, r.sessions) == (8, 0, 8, 3)


@pytest.mark.parametrize("name, session, user", [
    ("openinference.jsonl", "chat-42", "u-1007"),  # session.id and user.id attributes
    ("phoenix_spans.jsonl", "support-77", None),
])
def test_openinference_session_attribute_wins_over_the_trace(con, name, session, user):
    ingest_paths(con, [SAMPLES / name])
    assert {u for s, u in rows(con, 'session_id, "user"') if s == session} == {user}


def test_openinference_arguments_and_flat_nested_attributes(con):
    ingest_paths(con, [SAMPLES / "openinference.jsonl"])
    args = dict(rows(con, "tool, args"))
    assert args["fetch_url"] == '{"input":"https://duckdb.org/2024/06/03/announcing-duckdb-100"}'
    assert args["get_weather"] == '{"city":"Lisbon"}'  # input.value, not the tool.parameters schema
    ingest_paths(con, [SAMPLES / "phoenix_spans.jsonl"])
    assert dict(rows(con, "tool, result"))["send_confirmation"] == '{"sent":true}'  # {"tool": {"name": ...}}


def test_claude_code_pairs_results_by_id_in_order(con):
    ingest_paths(con, [SAMPLES / "claude_code.jsonl"])
    got = rows(con, "seq, tool, success, duration_ms")[:4]
    assert got == [(1, "Read", True, 130.0), (2, "Grep", True, 380.0), (3, "Read", True, 380.0),
                   (4, "Edit", False, 110.0)]


def test_claude_code_repeated_ids_pair_earliest_unanswered_first(con, tmp_path):
    def event(kind, ts, blocks):
        return json.dumps({"type": kind, "sessionId": "s", "uuid": ts, "timestamp": f"2025-01-01T00:00:{ts}Z",
                           "message": {"role": kind, "content": blocks}})
    use = {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "make"}}
    path = tmp_path / "resumed.jsonl"
    path.write_text("\n".join([
        event("assistant", "01", [use]), event("assistant", "02", [use]),
        event("user", "04", [{"type": "tool_result", "tool_use_id": "t1", "content": "boom", "is_error": True}]),
        event("user", "07", [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}])]) + "\n")
    ingest_paths(con, [path])
    assert rows(con, "success, error, duration_ms") == [(False, "boom", 3000.0), (True, None, 5000.0)]


def test_genai_spans_of_both_convention_generations(con):
    ingest_paths(con, [SAMPLES / "otel_legacy.jsonl"])
    got = rows(con, "tool, success, error, args, result, call_id")
    assert got == [
        ("get_customer", True, None, None, '{"customer_id":"C-17","orders":["77","78"]}', "call_k1"),  # event
        ("get_order", False, "order 77 not found", None, '"Error: order 77 not found"', "call_k2"),  # name in span
        ("get_order", True, None, '{"order_id":"78"}', '{"order_id":"78","status":"shipped"}', "call_k3"),
        ("search_docs", True, None, '{"query":"rate limits","top_k":3}', '{"hits":["d-3","d-9"]}', "toolu_9a"),
        ("fetch_doc", False, "timeout", '{"doc_id":"d-3"}', None, "toolu_9b"),
    ]
    assert {s for s, t, *_ in rows(con) if t in ("search_docs", "fetch_doc")} == {"conv_5fa1"}  # gen_ai.conversation.id


def test_mcp_spans_session_and_tool_name_sources(con):
    ingest_paths(con, [SAMPLES / "mcp.jsonl"])
    assert tools_by_session(con) == {
        "191c4850af6c49e08843a3f6c80e5046": ["get_weather", "get_alerts", "get_weather"],  # mcp.session.id
        "e5f60718293a4b5c6d7e8f90a1b2c3d4": ["search_repositories", "create_issue"],  # trace id, span name
    }
    assert [e for *_, e in rows(con) if e] == ["Invalid params: region must be a string", "tool_error"]


def test_mcp_span_inside_an_execute_tool_span_is_one_call(con, tmp_path):
    def span(sid, name, attrs, parent=None):
        return {"traceId": "t", "spanId": sid, "parentSpanId": parent, "name": name,
                "startTimeUnixNano": "1722506400000000000", "endTimeUnixNano": "1722506400100000000",
                "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]}
    line = {"resourceSpans": [{"scopeSpans": [{"spans": [
        span("a", "execute_tool get_weather", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"}),
        span("b", "tools/call get_weather", {"mcp.method.name": "tools/call"}, parent="a")]}]}]}
    path = tmp_path / "nested.jsonl"
    path.write_text(json.dumps(line) + "\n")
    assert detect_format(path) == "otel"
    assert ingest_paths(con, [path]).accepted == 1


@pytest.mark.parametrize("head, fmt", [
    (b'{"id": "r", "run_type": "chain", "trace_id": "t", "name": "agent"}\n', "langsmith"),
    (b'{"id": "o", "traceId": "t", "type": "GENERATION", "name": "gpt"}\n', "langfuse"),
    (b'{"type": "user", "sessionId": "s", "uuid": "u", "message": {"role": "user", "content": "hi"}}\n',
     "claude-code"),
    (b'{"name": "x", "context": {"trace_id": "t", "span_id": "s"}, "span_kind": "LLM"}\n', "openinference"),
    (b"id,run_type,trace_id,name\nr1,tool,t1,search\n", "langsmith"),
    (b"id,traceId,type,name,startTime\no1,t1,TOOL,search,2024-01-01\n", "langfuse"),
])
def test_detect_exports_by_content(head, fmt):
    assert detect_format(head) == fmt


@pytest.mark.parametrize("name, content", [
    ("calls.csv", "conv_id,fn,payload,when\nc1,search,\"{\"\"q\"\": 1}\",2024-05-01T10:00:00Z\n"
                  "c1,open,\"{\"\"id\"\": 2}\",2024-05-01T10:00:05Z\nc2,search,{},2024-05-01T11:00:00Z\n"),
    ("calls.jsonl", '{"conv_id": "c1", "fn": "search", "payload": {"q": 1}, "when": "2024-05-01T10:00:00Z"}\n'
                    '{"conv_id": "c1", "fn": "open", "payload": "{\\"id\\": 2}", "when": "2024-05-01T10:00:05Z"}\n'
                    '{"conv_id": "c2", "fn": "search", "payload": {}, "when": "2024-05-01T11:00:00Z"}\n'),
])
def test_column_map_renames_source_columns(con, tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)
    r = ingest_paths(con, [path], columns="tool=fn,session_id=conv_id,args=payload,ts=when")
    assert (r.accepted, r.rejected, r.sessions) == (3, 0, 2)
    assert rows(con, "session_id, tool, args") == [("c1", "search", '{"q":1}'), ("c1", "open", '{"id":2}'),
                                                  ("c2", "search", "{}")]


def test_column_map_renames_parquet_columns(con, tmp_path):
    path = tmp_path / "calls.parquet"
    duckdb.execute(f"""COPY (SELECT * FROM (VALUES ('c1', 'search', 1), ('c1', 'open', 2), ('c2', 'search', 1))
                              v(conv_id, fn, step)) TO '{path}' (FORMAT parquet)""")
    r = ingest_paths(con, [path], columns="tool=fn,session_id=conv_id,seq=step")
    assert (r.accepted, r.rejected, r.sessions) == (3, 0, 2)
    assert rows(con, "session_id, seq, tool") == [("c1", 1, "search"), ("c1", 2, "open"), ("c2", 1, "search")]


def test_exports_also_read_as_a_json_array(con, tmp_path):
    path = tmp_path / "runs.json"
    path.write_text(json.dumps([json.loads(line) for line in (SAMPLES / "langsmith.jsonl").read_text().splitlines()]))
    r = ingest_paths(con, [path])
    assert (r.files[0]["format"], r.accepted, r.rejected, r.skipped, r.sessions) == ("langsmith", 9, 1, 9, 3)


def test_column_map_value_replaces_the_field_whole(con, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"tool": "old", "fn": "search", "args": {"a": 1}, "payload": {"b": null, "c": [1, {}]}, "seq": 1}\n'
                    '{"fn": "open", "seq": 2}\n')
    ingest_paths(con, [path], columns="tool=fn,args=payload")
    assert rows(con, "tool, args") == [("search", '{"b":null,"c":[1,{}]}'), ("open", None)]


def test_column_map_key_no_longer_feeds_its_alias(con, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"fn": "search", "name": "bob", "seq": 1}\n')
    ingest_paths(con, [path], columns={"tool": "fn", "agent": "name"})
    assert rows(con, "tool, agent") == [("search", "bob")]


@pytest.mark.parametrize("name, content, columns, message", [
    ("a.csv", "fn,seq\nx,1\n", "tool=fun", "--map tool=fun: .*a.csv has no column 'fun'; check the name"),
    ("a.jsonl", '{"fn": "x", "seq": 1}\n', "tool=fun", "--map tool=fun: .*a.jsonl has no column 'fun'"),
    ("a.jsonl", '{"fn": "x", "seq": 1}\n', "colour=fn", "unknown canonical field 'colour'; use one of: session_id"),
    ("a.jsonl", '{"fn": "x", "seq": 1}\n', "tool", "tool names no column; write tool=COLUMN"),
])
def test_column_map_errors_in_one_line_with_exit_1(tmp_path, name, content, columns, message):
    path = tmp_path / name
    path.write_text(content)
    result = CliRunner().invoke(cli, ["ingest", str(path), "--db", str(tmp_path / "t.duckdb"), "--map", columns])
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(IngestError, match=message):
        ingest_paths(connect(tmp_path / "u.duckdb"), [path], columns=columns)


def test_column_map_needs_canonical_format(con, tmp_path):
    with pytest.raises(IngestError, match="drop --format otel or --map"):
        ingest_paths(con, [SAMPLES / "otel.jsonl"], format="otel", columns="tool=fn")


@pytest.mark.parametrize("fmt", ["langsmith", "langfuse", "openinference", "claude-code", "mcp"])
def test_cli_format_choice_and_skipped_in_json(tmp_path, fmt):
    name = {"langsmith": "langsmith.jsonl", "langfuse": "langfuse.jsonl", "openinference": "openinference.jsonl",
            "claude-code": "claude_code.jsonl", "mcp": "mcp.jsonl"}[fmt]
    result = CliRunner().invoke(cli, ["ingest", str(SAMPLES / name), "--db", str(tmp_path / "t.duckdb"),
                                      "--format", fmt, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = next(c for c in SAMPLE_COUNTS if c[0] == name)
    assert (data["accepted"], data["rejected"], data["skipped"], data["files"][0]["skipped"]) == (
        expected[2], expected[3], expected[4], expected[4])


def test_phoenix_spans_dataframe_as_parquet(con, tmp_path):
    path = tmp_path / "spans.parquet"
    attr = lambda k: f"""coalesce(json -> '$.attributes."{k}"', json -> '$.attributes.{k}') ->> '$'"""
    duckdb.execute(f"""COPY (SELECT json ->> 'name' AS name, json ->> 'span_kind' AS span_kind,
                                  json ->> 'start_time' AS start_time, json ->> 'end_time' AS end_time,
                                  json ->> 'status_code' AS status_code, json ->> 'status_message' AS status_message,
                                  json ->> '$.context.trace_id' AS "context.trace_id",
                                  json ->> '$.context.span_id' AS "context.span_id",
                                  {attr('tool.name')} AS "attributes.tool.name",
                                  {attr('input.value')} AS "attributes.input.value",
                                  {attr('output.value')} AS "attributes.output.value",
                                  {attr('session.id')} AS "attributes.session.id"
                           FROM read_json_objects('{SAMPLES / "phoenix_spans.jsonl"}'))
                       TO '{path}' (FORMAT parquet)""")
    assert detect_format(path) == "openinference"
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected, r.skipped, r.sessions) == (5, 1, 4, 2)
    assert rows(con, "tool, args")[0] == ("lookup_customer", '{"email":"lee@example.com"}')


BAD_RECORDS = [
    {"run_type": "tool", "name": 5, "inputs": [1], "start_time": "nope"}, {"run_type": None},
    {"traceId": 3, "type": "TOOL", "input": None, "startTime": 17},
    {"traceId": "t", "type": "TOOL", "name": "x", "startTime": "2024-01-01T00:00:00Z", "costDetails": {"total": "a"}},
    {"resourceSpans": [{"scopeSpans": [{"spans": [1, "x", {"attributes": "bad"}]}]}]}, {"resourceSpans": "x"},
    {"context": {"trace_id": 1}, "attributes": [1, 2]},
    {"type": "assistant", "sessionId": 5, "message": {"content": [{"type": "tool_use", "id": 1, "name": None}]}},
    {"type": "assistant", "sessionId": "s", "message": {"content": "text"}}, [1], "str", 3,
]


@pytest.mark.parametrize("fmt, rejected, skipped", [
    ("langsmith", 13, 0), ("langfuse", 13, 0), ("openinference", 13, 2), ("claude-code", 10, 3), ("mcp", 14, 1),
])
def test_bad_records_become_rejects_with_reasons(con, tmp_path, fmt, rejected, skipped):
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in BAD_RECORDS) + "{bad\n")
    r = ingest_paths(con, [path], format=fmt)
    assert (r.accepted, r.rejected, r.skipped) == (0, rejected, skipped)
    assert all(reason for reason in r.reject_reasons)


def test_cli_table_output_reports_skipped_records(tmp_path):
    result = CliRunner().invoke(cli, ["ingest", str(SAMPLES / "langsmith.jsonl"), "--db", str(tmp_path / "t.duckdb")])
    assert result.exit_code == 0, result.output
    assert "skipped 9 records that are no tool call" in result.stdout


@pytest.mark.parametrize("name, forced, suggested", [
    ("openinference.jsonl", "mcp", "openinference"), ("openinference.jsonl", "otel", "openinference"),
    ("mcp.jsonl", "openinference", "mcp"),
])
def test_span_file_forced_into_another_convention_is_refused(con, name, forced, suggested):
    with pytest.raises(IngestError, match=f"read as {forced} holds no tool call.*pass --format {suggested}"):
        ingest_paths(con, [SAMPLES / name], format=forced)
