"""Bad input is a reject with a reason, or stored, never a traceback (depth, BOM, line ends, gzip damage)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainmine.miner.cli import cli
from chainmine.miner.errors import IngestError
from chainmine.miner.ingest import ingest_paths
from chainmine.miner.ingest.sqltext import MAX_DEPTH
from chainmine.miner.store import connect

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
DEEP = "[" * 5000 + "]" * 5000  # far past Python's recursion limit


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "t.duckdb")
    yield c
    c.close()


def _chat_call(args: str = "{}", content: str = "ok") -> dict:
    return {"messages": [{"role": "assistant", "tool_calls": [{"id": "k", "function": {"name": "f", "arguments": args}}]},
                         {"role": "tool", "tool_call_id": "k", "content": content}]}


DEEP_FILES = {
    "canonical args": ("a.jsonl", '{"tool": "a", "seq": 1, "args": {"x": %s}}\n{"tool": "b", "seq": 2}\n' % DEEP,
                       1, [f"args nested deeper than {MAX_DEPTH} levels"]),
    "canonical result, JSON array": ("a.json", '[{"tool": "a", "seq": 1, "result": {"x": %s}}, {"tool": "b", "seq": 2}]'
                                     % DEEP, 1, [f"result nested deeper than {MAX_DEPTH} levels"]),
    "openai arguments": ("c.jsonl", json.dumps(_chat_call(args='{"x": %s}' % DEEP)) + "\n", 0,
                         [f"args nested deeper than {MAX_DEPTH} levels"]),
    "openai deep conversation": ("c.jsonl", json.dumps(_chat_call())[:-1] + ', "meta": %s}\n' % DEEP, 1, []),
    "anthropic input": ("m.jsonl", '{"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", '
                        '"name": "f", "input": {"q": %s}}]}]}\n' % DEEP, 0, [f"args nested deeper than {MAX_DEPTH} levels"]),
    "otel": ("o.jsonl", '{"resourceSpans": [], "x": %s}\n{"resourceSpans": %s}\n' % (DEEP, DEEP), 0, []),
}


@pytest.mark.parametrize("case", list(DEEP_FILES))
def test_json_nested_past_the_recursion_limit_is_rejected_or_stored(con, tmp_path, case):
    name, text, accepted, reasons = DEEP_FILES[case]
    path = tmp_path / name
    path.write_text(text)
    r = ingest_paths(con, [path])
    assert r.accepted == accepted
    assert sorted(x for (x,) in con.execute("SELECT reason FROM rejects").fetchall()) == reasons


def test_deep_but_allowed_json_is_stored_whole(con, tmp_path):
    value = json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"tool": "a", "seq": 1, "args": {"x": value}}) + "\n")
    assert ingest_paths(con, [path]).accepted == 1
    assert json.loads(con.execute("SELECT args FROM calls_v").fetchone()[0]) == {"x": value}


@pytest.mark.parametrize("sample", ["openai_responses.json", "canonical.jsonl", "anthropic.jsonl", "canonical.csv"])
def test_a_byte_order_mark_is_ignored(con, tmp_path, sample):
    path = tmp_path / sample
    path.write_bytes(b"\xef\xbb\xbf" + (SAMPLES / sample).read_bytes())
    plain = ingest_paths(connect(tmp_path / "plain.duckdb"), [SAMPLES / sample])
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected) == (plain.accepted, plain.rejected) and r.accepted > 0


def _mixed(data: bytes) -> bytes:
    lines = data.split(b"\n")
    return b"".join(ln + (b"\r\n" if i % 2 else b"\n") for i, ln in enumerate(lines[:-1])) + lines[-1]


@pytest.mark.parametrize("sample", ["canonical.jsonl", "openai_chat.jsonl", "bad_rows.jsonl", "canonical.csv"])
@pytest.mark.parametrize("gz", [False, True])
def test_mixed_line_ends_read_like_plain_ones(con, tmp_path, sample, gz):
    data = _mixed((SAMPLES / sample).read_bytes())
    path = tmp_path / (sample + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    plain = connect(tmp_path / "plain.duckdb")
    expected = ingest_paths(plain, [SAMPLES / sample])
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected) == (expected.accepted, expected.rejected)
    lines = "SELECT line, reason FROM rejects ORDER BY line"
    assert con.execute(lines).fetchall() == plain.execute(lines).fetchall()  # same line numbers


def test_mixed_line_ends_past_the_first_mebibyte(con, tmp_path):
    rows = [json.dumps({"session_id": f"s{i // 10}", "tool": "t", "seq": i, "result": "x" * 200}) for i in range(8000)]
    path = tmp_path / "late.jsonl"
    path.write_bytes(("\n".join(rows[:6000]) + "\n" + "\r\n".join(rows[6000:]) + "\r\n").encode())
    assert ingest_paths(con, [path]).accepted == 8000


def test_csv_with_quoted_newlines_keeps_values_and_line_numbers(con, tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('tool,seq,result\na,1,"line one\nline two"\nb,2,plain\n,3,"no\ntool"\nc,4,x\n')
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected) == (3, 1)
    assert con.execute("SELECT tool, line, result ->> '$' FROM calls_v ORDER BY line").fetchall() == [
        ("a", 2, "line one\nline two"), ("b", 4, "plain"), ("c", 7, "x")]
    assert con.execute("SELECT line, reason FROM rejects").fetchall() == [(5, "no tool")]


def _big_gzip(n: int = 30000) -> bytes:
    lines = "".join(json.dumps({"session_id": f"s{i // 5}", "tool": f"t{i % 7}", "seq": i, "result": "r" * (i % 90)})
                    + "\n" for i in range(n))
    return gzip.compress(lines.encode())


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
@pytest.mark.parametrize("suffix", [".jsonl.gz", ".json.gz"])
def test_a_gzip_stream_damaged_part_way_fails_the_file_whole(con, tmp_path, damage, suffix):
    data = _big_gzip()
    if suffix == ".json.gz":
        text = gzip.decompress(data).decode().strip().replace("\n", ",\n")
        data = gzip.compress(f"[{text}]".encode())
    if damage == "truncated":
        data = data[: len(data) * 3 // 4]
    else:
        flipped = bytearray(data)
        flipped[len(data) * 3 // 4] ^= 0x55
        data = bytes(flipped)
    path = tmp_path / ("calls" + suffix)
    path.write_bytes(data)
    with pytest.raises(IngestError, match="not a valid gzip file .*nothing was read from it"):
        ingest_paths(con, [path])
    assert con.execute("SELECT count(*) FROM calls").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0


def run(*args):
    return CliRunner().invoke(cli, ["ingest", *map(str, args)])


def test_an_ingest_that_stores_nothing_and_rejects_everything_exits_1(tmp_path):
    db = tmp_path / "t.duckdb"
    result = run(SAMPLES / "canonical.jsonl", "--format", "openai", "--db", db, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["rejected"] == 16  # the document is still printed
    assert result.stderr.strip().splitlines() == [
        f"error: {SAMPLES / 'canonical.jsonl'}: no call stored, all 16 records rejected (no messages list); "
        "it looks like canonical: pass --format canonical"]


def test_a_file_of_the_right_format_with_only_bad_rows_exits_1(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"tool": "a"}\n{"tool": "b", "seq": "x"}\n')
    result = run(path, "--db", tmp_path / "t.duckdb")
    assert result.exit_code == 1
    assert "it looks like canonical, as it was read" in result.stderr


def test_some_rows_stored_exits_0(tmp_path):
    result = run(SAMPLES / "bad_rows.jsonl", "--db", tmp_path / "t.duckdb")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("record", [
    {"messages": [{"role": "assistant", "content": [{"type": ["tool_use"], "id": "t", "name": "f"}]}]},
    {"items": [{"type": {"function_call": 1}, "call_id": "c"}]},
])
def test_values_of_the_wrong_type_in_detection_are_not_a_crash(con, tmp_path, record):
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps({"tool": "a", "seq": 1}) + "\n")
    assert ingest_paths(con, [path]).accepted == 1


def _otlp(**span_fields) -> dict:
    span = {"name": "execute_tool f", "traceId": "t", "spanId": "s", "startTimeUnixNano": "1", **span_fields}
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


@pytest.mark.parametrize("record", [
    _otlp(attributes=[{"key": ["gen_ai.tool.name"], "value": {"stringValue": "f"}}]),   # a list as a key
    _otlp(attributes=7),
    _otlp(attributes={"gen_ai.tool.name": "f"}),
    {"resourceSpans": [{"scopeSpans": "spans"}]},
    {"resourceSpans": [{"scopeSpans": [{"spans": 3}]}]},
    {"resourceSpans": 5},
])
def test_otlp_spans_of_the_wrong_shape_are_refused_never_a_crash(tmp_path, record):
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps(record) + "\n")
    result = run(path, "--db", tmp_path / "t.duckdb", "--json")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert result.exit_code in (0, 1)


@pytest.mark.parametrize("text", [b'{"tool":"a","seq":1}\n{"tool":"b","seq":2}\r',
                                  b'{"tool":"a","seq":1}\r\n{"tool":"b",\r"seq":2}\n'])
def test_a_lone_carriage_return_in_json_lines_is_whitespace(con, tmp_path, text):
    path = tmp_path / "cr.jsonl"
    path.write_bytes(text)
    assert ingest_paths(con, [path]).accepted == 2


@pytest.mark.parametrize("where", [0, 7, 8, 9, 63, None])
def test_a_carriage_return_is_found_in_any_block_of_a_big_file(tmp_path, monkeypatch, where):
    """The whole-file check for \\r reads block by block (a memory map would count the file as resident)."""
    from chainmine.miner.ingest import sources

    monkeypatch.setattr(sources, "_BLOCK", 8)
    data = bytearray(b"x" * 64)
    if where is not None:
        data[where] = ord("\r")
    path = tmp_path / "big.jsonl"
    path.write_bytes(bytes(data))
    assert sources._holds_cr(path) is (where is not None)
