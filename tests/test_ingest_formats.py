"""Every log format lands in the store as the same canonical calls (samples in data/samples)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path

import pytest

from chainmine.miner.errors import IngestError
from chainmine.miner.ingest import detect_format, ingest_paths
from chainmine.miner.ingest.canonical import CONVERSATION
from chainmine.miner.store import connect

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "t.duckdb")
    yield c
    c.close()


DIGEST = re.compile(r"^([^:]+):[0-9a-f]{12}:")


def calls(con, where: str = "true") -> list[dict]:
    """Stored calls in session order, as dicts with parsed args/results.

    A derived session id is shown without its source digest (``day:<digest>:a:1`` as
    ``day:a:1``); test_ingest_ids covers the digest.
    """
    cur = con.execute(f"""SELECT session_id, ts, seq, tool, success, error, duration_ms, cost, args, result,
                                 call_id, agent, "user", session_outcome, line
                          FROM calls_v WHERE {where} ORDER BY session_id, ts NULLS LAST, seq NULLS LAST, line""")
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    for r in rows:
        r["session_id"] = DIGEST.sub(r"\1:", r["session_id"])
        r["args"] = None if r["args"] is None else json.loads(r["args"])
        r["result"] = None if r["result"] is None else json.loads(r["result"])
    return rows


def by_session(rows: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in rows:
        out.setdefault(r["session_id"], []).append(r["tool"])
    return out


@pytest.mark.parametrize("name, fmt", [
    ("canonical.jsonl", "canonical"), ("aliases.jsonl", "canonical"), ("canonical.csv", "canonical"),
    ("canonical.parquet", "canonical"), ("openai_chat.jsonl", "openai"),
    ("openai_responses.json", "openai-responses"), ("anthropic.jsonl", "anthropic"), ("otel.jsonl", "otel"),
])
def test_detect_format_on_every_sample(name, fmt):
    assert detect_format(SAMPLES / name) == fmt


@pytest.mark.parametrize("head, fmt", [
    (b'{"tool_name": "a", "timestamp": 1}\n', "canonical"),
    (b'[{"messages": [{"role": "assistant", "tool_calls": []}, {"role": "tool", "tool_call_id": "x"}]}]', "openai"),
    (b'{"input": [], "output": [{"type": "function_call", "name": "f", "call_id": "c"}]}\n', "openai-responses"),
    (b'{"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]}\n', "anthropic"),
    (b'{"resourceSpans": []}\n', "otel"),
    (b'tool,ts\nsearch,1\n', "canonical"),
])
def test_detect_format_by_content(head, fmt):
    assert detect_format(head) == fmt


@pytest.mark.parametrize("head", [b"hello world\n", b'{"foo": 1}\n{"bar": 2}\n', b"[1, 2, 3]"])
def test_unknown_content_is_an_ingest_error(head):
    with pytest.raises(IngestError, match="not in a known log format"):
        detect_format(head)


def test_canonical_jsonl_sample(con):
    r = ingest_paths(con, [SAMPLES / "canonical.jsonl"])
    assert (r.accepted, r.rejected, r.duplicates, r.sessions) == (16, 0, 0, 4)
    rows = calls(con)
    assert by_session(rows) == {
        "cs-1001": ["get_user_details", "get_reservation_details", "get_reservation_details",
                    "search_direct_flight", "update_reservation_flights"],
        "cs-1002": ["get_user_details", "get_reservation_details", "get_reservation_details", "cancel_reservation"],
        "dev-77": ["github_list_issues", "github_create_pr", "slack_send_message"],
        "dev-78": ["github_list_issues", "github_create_pr", "github_create_pr", "slack_send_message"],
    }
    failed = [(r["session_id"], r["seq"], r["error"]) for r in rows if not r["success"]]
    assert failed == [("cs-1002", 2, "reservation Q7P2LN not found"), ("dev-78", 2, "422 Validation Failed")]
    first = rows[0]
    assert first["ts"] == dt.datetime(2024, 5, 1, 9, 0)
    assert first["args"] == {"user_id": "mia_li_3668"}
    assert first["result"]["reservations"] == ["ZFA04Y", "8JX2WO"]
    assert (first["duration_ms"], first["call_id"], first["agent"], first["user"]) == (212, "c-1", "airline-agent",
                                                                                       "mia_li_3668")
    assert rows[1]["ts"] == dt.datetime(2024, 5, 1, 9, 0, 1, 250000)
    outcomes = con.execute("SELECT session_id, session_outcome FROM sessions WHERE session_outcome IS NOT NULL "
                           "ORDER BY 1").fetchall()
    assert outcomes == [("cs-1001", 1.0), ("cs-1002", 0.0)]


def test_aliases_and_epoch_units(con):
    r = ingest_paths(con, [SAMPLES / "aliases.jsonl"])
    assert (r.accepted, r.rejected, r.sessions) == (6, 0, 2)
    rows = calls(con)
    got = [(x["session_id"], x["tool"], x["ts"], x["duration_ms"], x["success"], x["args"], x["session_outcome"])
           for x in rows]
    assert got == [
        ("t-1", "search_docs", dt.datetime(2024, 5, 1, 10, 0, 0), 420.0, True, {"q": "refund policy"}, 1.0),  # s
        ("t-1", "fetch_doc", dt.datetime(2024, 5, 1, 10, 0, 1, 500000), 200.0, True, {"doc_id": "d-17"}, 1.0),  # ms
        ("t-1", "summarize", dt.datetime(2024, 5, 1, 10, 0, 5), 1500.0, True,
         {"doc_id": "d-17", "max_words": 50}, None),  # microseconds
        ("t-2", "search_docs", dt.datetime(2024, 5, 1, 10, 1, 40), None, False, {"q": "baggage"}, None),  # ns
        ("t-2", "search_docs", dt.datetime(2024, 5, 1, 10, 1, 50), None, False,
         {"q": "baggage allowance"}, None),  # +02:00 offset → UTC
        ("t-2", "fetch_doc", dt.datetime(2024, 5, 1, 10, 2, 0), None, True, {"doc_id": "d-4"}, None),  # no zone
    ]
    assert rows[0]["result"] == {"hits": 3}
    assert rows[1]["result"] == "Refunds are possible within 24 hours."
    assert rows[3]["error"] == "timeout after 10s"
    assert rows[5]["result"] == {"title": "Baggage", "kg": 23}  # a string holding JSON is parsed


TOOL_KEYS = ["tool", "tool_name", "name"]
TS_KEYS = ["ts", "timestamp", "start_time", "time"]
SESSION_KEYS = ["session_id", "trace_id", "execution_id", "conversation_id", "session"]
ARGS_KEYS = ["args", "arguments", "parameters", "input", "params"]
RESULT_KEYS = ["result", "output", "response"]


def test_every_alias_maps_onto_the_canonical_field(con, tmp_path):
    path = tmp_path / "a.jsonl"
    lines = []
    for i in range(60):  # every combination of the aliases appears at least once
        rec = {TOOL_KEYS[i % 3]: f"tool{i}", TS_KEYS[i % 4]: 1714557600 + i, SESSION_KEYS[i % 5]: f"s{i % 5}",
               ARGS_KEYS[i % 5]: {"i": i}, RESULT_KEYS[i % 3]: [i]}
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    assert ingest_paths(con, [path]).accepted == 60
    got = con.execute("SELECT tool, ts, session_id, args::VARCHAR, result::VARCHAR FROM calls_v ORDER BY line").fetchall()
    assert got == [(f"tool{i}", dt.datetime(2024, 5, 1, 10) + dt.timedelta(seconds=i), f"s{i % 5}",
                    f'{{"i":{i}}}', f"[{i}]") for i in range(60)]


def test_canonical_key_wins_over_its_alias(con, tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"tool": "real", "name": "display name", "seq": 1, "args": {"a": 1},
                                "input": {"b": 2}}) + "\n")
    ingest_paths(con, [path])
    assert con.execute("SELECT tool, args::VARCHAR FROM calls_v").fetchone() == ("real", '{"a":1}')


@pytest.mark.parametrize("status, success", [("ok", True), ("success", True), ("error", False), ("failed", False),
                                             ("FAILED", False)])
def test_status_sets_success(con, tmp_path, status, success):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"tool": "t", "seq": 1, "status": status}) + "\n")
    ingest_paths(con, [path])
    assert con.execute("SELECT success FROM calls").fetchone()[0] is success


@pytest.mark.parametrize("record, success", [
    ({}, True), ({"error": "boom"}, False), ({"error": ""}, True), ({"success": False}, False),
    ({"success": "true", "error": "ignored"}, True), ({"success": 0}, False),
])
def test_success_defaults_from_error(con, tmp_path, record, success):
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"tool": "t", "seq": 1, **record}) + "\n")
    ingest_paths(con, [path])
    assert con.execute("SELECT success FROM calls").fetchone()[0] is success


def test_csv_without_session_ids_is_cut_per_agent_at_idle_gaps(con):
    r = ingest_paths(con, [SAMPLES / "canonical.csv"])
    assert (r.accepted, r.rejected, r.sessions) == (8, 0, 3)
    assert by_session(calls(con)) == {
        "canonical:ops-bot:1": ["list_alerts", "ack_alert"],
        "canonical:support-bot:1": ["lookup_order", "track_shipment", "send_email"],
        "canonical:support-bot:2": ["lookup_order", "track_shipment", "send_email"],
    }
    row = calls(con, "tool = 'ack_alert'")[0]
    assert (row["success"], row["duration_ms"], row["args"]) == (False, 40.0, {"alert_id": "AL-9"})
    assert calls(con, "tool = 'track_shipment'")[0]["cost"] == 0.001
    lines = [x[0] for x in con.execute("SELECT line FROM calls ORDER BY line").fetchall()]
    assert lines == list(range(2, 10))  # file lines, after the header


def test_session_gap_option_changes_the_cut(con):
    r = ingest_paths(con, [SAMPLES / "canonical.csv"], session_gap_s=3 * 3600)
    assert r.sessions == 2


def test_csv_rows_that_cannot_be_split_are_rejected_with_their_line(con, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("session_id,tool,seq\ns1,a,1\ns1,b\ns1,c,3,extra\ns1,d,4\n")
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected) == (2, 2)
    assert con.execute("SELECT line, reason FROM rejects ORDER BY line").fetchall() == [
        (3, "malformed CSV row: missing columns"), (4, "malformed CSV row: too many columns")]
    assert con.execute("SELECT tool, line FROM calls_v ORDER BY line").fetchall() == [("a", 2), ("d", 5)]


def test_parquet_gives_exactly_the_same_calls_as_jsonl(con):
    """Same content, same normalised record, same content hash: the second file is all duplicates."""
    first = ingest_paths(con, [SAMPLES / "canonical.jsonl"])
    second = ingest_paths(con, [SAMPLES / "canonical.parquet"])
    assert (first.accepted, second.accepted, second.duplicates) == (16, 0, 16)


def test_parquet_alone(con):
    r = ingest_paths(con, [SAMPLES / "canonical.parquet"])
    assert (r.accepted, r.sessions) == (16, 4)
    assert calls(con, "session_id = 'dev-77'")[1]["result"] == {"number": 418,
                                                                "url": "https://github.com/acme/api/pull/418"}


def test_openai_chat_sample(con):
    r = ingest_paths(con, [SAMPLES / "openai_chat.jsonl"])
    assert (r.accepted, r.rejected, r.sessions) == (6, 1, 3)
    rows = calls(con)
    assert [(x["session_id"], x["seq"], x["tool"], x["success"]) for x in rows] == [
        ("chat-001", 0, "get_user_details", True),
        ("chat-001", 1, "get_reservation_details", True),
        ("chat-001", 2, "get_reservation_details", True),
        ("chat-003", 1, "list_all_airports", True),
        ("openai_chat:2", 0, "get_reservation_details", False),  # result text starts with "Error"
        ("openai_chat:2", 1, "search_direct_flight", False),  # result is JSON with an "error" key
    ]
    assert rows[1]["args"] == {"reservation_id": "ZFA04Y"}
    # results are matched by tool_call_id, not by position (they arrive swapped)
    assert rows[1]["result"]["origin"] == "SFO" and rows[2]["result"]["origin"] == "JFK"
    assert rows[3]["result"] == ["SFO", "JFK", "SEA", "ORD"]  # content parts joined, then parsed
    assert rows[4]["error"] == "Error: reservation XXXX1 not found"
    assert rows[5]["error"] == "invalid date 2024-02-30"
    assert {x["session_id"]: x["session_outcome"] for x in rows} == {"chat-001": 1.0, "chat-003": None,
                                                                     "openai_chat:2": 0.0}
    assert con.execute("SELECT line, reason FROM rejects").fetchall() == [(3, "args is not a JSON object")]


def test_openai_responses_sample(con):
    r = ingest_paths(con, [SAMPLES / "openai_responses.json"])
    assert (r.accepted, r.rejected, r.sessions) == (4, 0, 2)
    rows = calls(con)
    assert [(x["session_id"], x["tool"], x["success"], x["call_id"]) for x in rows] == [
        ("resp-conv-1", "get_weather", True, "call_w1"),
        ("resp-conv-1", "get_forecast", False, "call_w2"),
        ("resp-conv-2", "lookup_order", True, "call_o1"),
        ("resp-conv-2", "refund_order", True, "call_o2"),  # no output yet: a call without a result
    ]
    assert rows[0]["result"] == {"temp_c": 18, "sky": "clear"}
    assert rows[1]["error"] == "Error: upstream timeout"
    assert rows[3]["args"] == {"order_id": 5521, "amount": 42.5} and rows[3]["result"] is None


def test_anthropic_sample(con):
    r = ingest_paths(con, [SAMPLES / "anthropic.jsonl"])
    assert (r.accepted, r.rejected, r.sessions) == (4, 1, 2)
    rows = calls(con)
    assert [(x["session_id"], x["tool"], x["success"]) for x in rows] == [
        ("anthropic:2", "calendar_list_events", True),
        ("claude-1", "github_list_issues", True),
        ("claude-1", "github_create_pr", False),  # tool_result.is_error
        ("claude-1", "slack_send_message", True),
    ]
    assert rows[2]["error"].startswith("422 Validation Failed")
    assert rows[1]["args"] == {"repo": "acme/api", "state": "open"}
    assert rows[1]["result"] == [{"number": 412, "title": "500 on /orders"}]
    assert rows[3]["result"] == {"ok": True}
    assert rows[1]["session_outcome"] == 0.5
    assert con.execute("SELECT line, reason FROM rejects").fetchall() == [(2, "no tool")]


def test_otel_sample(con):
    r = ingest_paths(con, [SAMPLES / "otel.jsonl"])
    assert (r.accepted, r.rejected, r.sessions) == (4, 0, 2)
    rows = calls(con, "session_id = '4bf92f3577b34da6a3ce929d0e0e4736'")
    assert [(x["tool"], x["success"], x["error"], x["duration_ms"]) for x in rows] == [
        ("get_user_details", True, None, 212.0),
        ("get_reservation_details", False, "NotFoundError", 95.0),
    ]
    assert rows[0]["ts"] == dt.datetime(2024, 5, 2, 9, 0, 1)
    assert rows[0]["args"] == {"user_id": "mia_li_3668"}
    assert rows[0]["result"] == {"user_id": "mia_li_3668", "reservations": ["ZFA04Y"]}
    assert (rows[0]["call_id"], rows[0]["agent"]) == ("call_u1", "travel")
    other = calls(con, "session_id = '0af7651916cd43dd8448eb211c80319c'")
    # a span named "execute_tool book_flight" without gen_ai attributes still counts
    assert [x["tool"] for x in other] == ["search_direct_flight", "book_flight"]


def test_otel_status_code_alone_marks_failure(con, tmp_path):
    span = {"traceId": "t", "spanId": "s", "name": "execute_tool x", "startTimeUnixNano": "1714640400000000000",
            "endTimeUnixNano": "1714640400500000000", "status": {"code": 2, "message": "denied"},
            "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
                           {"key": "gen_ai.tool.name", "value": {"stringValue": "x"}}]}
    path = tmp_path / "o.jsonl"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}) + "\n")
    ingest_paths(con, [path])
    assert con.execute("SELECT success, error, duration_ms FROM calls").fetchone() == (False, "denied", 500.0)


def test_forced_format_overrides_detection(con, tmp_path):
    path = tmp_path / "conv.jsonl"
    path.write_text((SAMPLES / "anthropic.jsonl").read_text())
    r = ingest_paths(con, [path], format="canonical")
    assert r.accepted == 0 and r.rejected == 2
    # A conversation read as tool-call records says so, rather than "no tool" or "neither ts nor seq".
    assert {x[0] for x in con.execute("SELECT reason FROM rejects").fetchall()} == {CONVERSATION}


def test_forcing_a_conversation_format_on_csv_is_refused(con):
    with pytest.raises(IngestError, match="needs JSON or JSON Lines"):
        ingest_paths(con, [SAMPLES / "canonical.csv"], format="openai")


@pytest.mark.parametrize("name", ["canonical.jsonl", "openai_chat.jsonl", "canonical.csv",
                                  "openai_responses.json"])
def test_gzip_gives_the_same_result(con, tmp_path, name):
    gz = tmp_path / (name + ".gz")
    gz.write_bytes(gzip.compress((SAMPLES / name).read_bytes()))
    plain = ingest_paths(con, [SAMPLES / name])
    again = ingest_paths(con, [gz])
    assert plain.accepted > 0
    if name.startswith("canonical"):  # derived session ids do not depend on the .gz suffix
        assert (again.accepted, again.duplicates) == (0, plain.accepted)
    assert again.accepted + again.duplicates == plain.accepted
    assert again.files[0]["format"] == plain.files[0]["format"]


def test_stdin_is_read_like_a_file(con):
    import io
    data = (SAMPLES / "canonical.jsonl").read_bytes()
    r = ingest_paths(con, ["-"], stdin=io.BytesIO(data))
    assert (r.accepted, r.sessions) == (16, 4)
    assert r.files[0]["path"] == "<stdin>"
    assert con.execute("SELECT DISTINCT source FROM ingests").fetchall() == [("<stdin>",)]


def test_gzipped_stdin(con):
    import io
    data = gzip.compress((SAMPLES / "otel.jsonl").read_bytes())
    assert ingest_paths(con, ["-"], stdin=io.BytesIO(data)).accepted == 4


def test_pretty_printed_json_array_and_object_stream(con, tmp_path):
    records = [{"session_id": "p", "seq": i, "tool": f"t{i}"} for i in range(3)]
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(records, indent=2))
    stream = tmp_path / "stream.json"
    stream.write_text("\n".join(json.dumps(r, indent=2) for r in records))
    assert ingest_paths(con, [pretty]).accepted == 3
    assert ingest_paths(con, [stream]).duplicates == 3


def test_typed_parquet_columns_keep_their_types(con, tmp_path):
    import duckdb
    path = tmp_path / "typed.parquet"
    duckdb.sql(f"""COPY (SELECT 'lookup' AS "Tool", 7::INTEGER AS seq, TIMESTAMP '2024-05-01 10:00:00' AS ts,
                               {{'q': 'x', 'n': 2}} AS args, [1, 2, 3] AS result, false AS success,
                               0.125::DECIMAL(10, 4) AS cost, 12.5::FLOAT AS duration_ms, 'tr-1' AS "Trace_ID",
                               'ignored' AS notes)
                   TO '{path}' (FORMAT parquet)""")
    assert ingest_paths(con, [path]).accepted == 1
    row = calls(con)[0]
    assert {k: row[k] for k in ("session_id", "tool", "seq", "ts", "args", "result", "success", "cost",
                                "duration_ms")} == {
        "session_id": "tr-1", "tool": "lookup", "seq": 7, "ts": dt.datetime(2024, 5, 1, 10),
        "args": {"q": "x", "n": 2}, "result": [1, 2, 3], "success": False, "cost": 0.125, "duration_ms": 12.5}


def test_table_without_a_tool_column_is_refused(con, tmp_path):
    path = tmp_path / "no_tool.csv"
    path.write_text("session_id,ts\ns,1\n")
    with pytest.raises(IngestError, match="has no tool column"):
        ingest_paths(con, [path])
    assert con.execute("SELECT count(*) FROM ingests").fetchone()[0] == 0


def _chat(i: int, tools: bool) -> dict:
    """An OpenAI Chat conversation with multimodal user content, with or without one tool call."""
    msgs = [{"role": "user", "content": [{"type": "text", "text": f"look at picture {i}"},
                                         {"type": "image_url", "image_url": {"url": f"https://x.test/{i}.png"}}]}]
    if tools:
        msgs += [{"role": "assistant", "content": None, "tool_calls": [
                     {"id": f"k{i}", "type": "function", "function": {"name": "describe", "arguments": "{}"}}]},
                 {"role": "tool", "tool_call_id": f"k{i}", "content": "a cat"}]
    return {"id": f"c{i}", "messages": msgs + [{"role": "assistant", "content": "done"}]}


def _claude(i: int, tools: bool) -> dict:
    msgs = [{"role": "user", "content": f"question {i}"}]
    if tools:
        msgs += [{"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": "lookup", "input": {}}]},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": "ok"}]}]
    return {"messages": msgs + [{"role": "assistant", "content": "answer"}]}


LATE_EVIDENCE = {
    # name: (file name, lines or a JSON document, expected format, accepted, rejected)
    "openai chat, multimodal first": ("chat.jsonl", [_chat(i, i >= 60) for i in range(65)], "openai", 5, 0),
    "openai chat as one JSON array": ("chat.json", [[_chat(i, i >= 60) for i in range(65)]], "openai", 5, 0),
    "anthropic after text-only turns": ("claude.jsonl", [_claude(i, i >= 55) for i in range(58)], "anthropic", 3, 0),
    "canonical after rows without a tool": (
        "calls.jsonl", [{"seq": i, "args": {}} for i in range(60)] + [{"tool": "t", "seq": i} for i in range(3)],
        "canonical", 3, 60),
    "canonical after lines that are not JSON": (
        "calls.log", ["garbage line"] * 70 + [{"tool": "t", "seq": i} for i in range(4)], "canonical", 4, 70),
}


@pytest.mark.parametrize("name, rows, fmt, accepted, rejected", LATE_EVIDENCE.values(), ids=LATE_EVIDENCE.keys())
def test_tool_calls_past_the_first_records_decide_the_format(con, tmp_path, name, rows, fmt, accepted, rejected):
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    assert detect_format(path) == fmt
    r = ingest_paths(con, [path])
    assert [f["format"] for f in r.files] == [fmt]
    assert (r.accepted, r.rejected) == (accepted, rejected)


@pytest.mark.parametrize("sample, forced, hint", [
    ("openai_chat.jsonl", "anthropic", "openai"), ("anthropic.jsonl", "openai", "anthropic"),
])
def test_a_format_that_silently_finds_no_call_where_another_would_is_an_error(con, sample, forced, hint):
    ingest_paths(con, [SAMPLES / "otel.jsonl"])
    before = con.execute("SELECT count(*), (SELECT count(*) FROM ingests) FROM calls").fetchone()
    with pytest.raises(IngestError, match=f"--format {hint}") as err:
        ingest_paths(con, [SAMPLES / "canonical.jsonl", SAMPLES / sample], format=forced)
    assert "\n" not in str(err.value) and sample in str(err.value)
    assert con.execute("SELECT count(*), (SELECT count(*) FROM ingests) FROM calls").fetchone() == before


@pytest.mark.parametrize("sample, forced, reason", [
    ("canonical.jsonl", "openai", "no messages list"), ("openai_responses.json", "anthropic", "no messages list"),
    ("anthropic.jsonl", "openai-responses", "no items list (items, or input and output)"),
])
def test_records_that_are_not_conversations_of_the_forced_format_are_rejected(con, sample, forced, reason):
    r = ingest_paths(con, [SAMPLES / sample], format=forced)
    assert r.accepted == 0 and r.rejected > 0 and r.reject_reasons == {reason: r.rejected}
