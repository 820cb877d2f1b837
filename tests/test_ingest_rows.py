"""Bad rows are rejected with a specific reason, never dropped; counts always add up."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainmine.miner.errors import IngestError
from chainmine.miner.ingest import ingest_paths, list_rejects
from chainmine.miner.store import connect

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
GOOD = {"session_id": "s", "tool": "t", "seq": 1}


@pytest.fixture
def con(tmp_path):
    c = connect(tmp_path / "t.duckdb")
    yield c
    c.close()


def ingest_lines(con, tmp_path, lines: list[str], name: str = "rows.jsonl", **kw):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return ingest_paths(con, [path], format=kw.pop("format", "canonical"), **kw)


BAD_ROWS = [
    ('{"tool": "t", "seq": 1', "invalid JSON"),
    ("not json at all", "invalid JSON"),
    ('["t", 1]', "not a JSON object"),
    ('"just a string"', "not a JSON object"),
    ("42", "not a JSON object"),
    ('{"seq": 1, "args": {}}', "no tool"),
    ('{"tool": null, "seq": 1}', "no tool"),
    ('{"tool": "", "seq": 1}', "empty tool"),
    ('{"tool": "   ", "seq": 1}', "empty tool"),
    ('{"tool": 42, "seq": 1}', "tool is not a string"),
    ('{"tool": ["a"], "seq": 1}', "tool is not a string"),
    ('{"tool": "t", "ts": "next tuesday"}', "unparseable ts"),
    ('{"tool": "t", "ts": "2024-13-45T99:00:00Z"}', "unparseable ts"),
    ('{"tool": "t", "ts": true}', "unparseable ts"),
    ('{"tool": "t", "ts": 1e300}', "unparseable ts"),
    ('{"tool": "t"}', "neither ts nor seq"),
    ('{"tool": "t", "seq": "first"}', "seq is not an integer"),
    ('{"tool": "t", "seq": 1.5}', "seq is not an integer"),
    ('{"tool": "t", "seq": 1, "duration_ms": -1}', "negative duration_ms"),
    ('{"tool": "t", "seq": 1, "duration_ms": "slow"}', "duration_ms is not a number"),
    ('{"tool": "t", "seq": 1, "latency": -0.5}', "negative latency"),
    ('{"tool": "t", "seq": 1, "cost": -0.01}', "negative cost"),
    ('{"tool": "t", "seq": 1, "cost": {"usd": 1}}', "cost is not a number"),
    ('{"tool": "t", "seq": 1, "args": [1, 2]}', "args is not a JSON object"),
    ('{"tool": "t", "seq": 1, "args": "x=1"}', "args is not a JSON object"),
    ('{"tool": "t", "seq": 1, "args": "[1]"}', "args is not a JSON object"),
    ('{"tool": "t", "seq": 1, "args": 3}', "args is not a JSON object"),
    ('{"tool": "t", "seq": 1, "success": "perhaps"}', "success is not true/false"),
    ('{"tool": "t", "seq": 1, "success": 2}', "success is not true/false"),
    ('{"tool": "t", "seq": 1, "status": "pending"}', "unknown status (expected ok/error/success/failed)"),
    ('{"tool": "t", "seq": 1, "session_id": {"id": 1}}', "session_id is not a string"),
    ('{"tool": "t", "seq": 1, "reward": "great"}', "session_outcome is not a bool or number"),
    ('{"tool": "t", "seq": 1, "agent": ["a"]}', "agent is not a string"),
]


@pytest.fixture(scope="module")
def bad_batch(tmp_path_factory):
    """One ingest of a good row followed by every bad row (line i + 2 holds BAD_ROWS[i])."""
    tmp = tmp_path_factory.mktemp("bad")
    con = connect(tmp / "t.duckdb")
    report = ingest_lines(con, tmp, [json.dumps(GOOD)] + [raw for raw, _ in BAD_ROWS])
    rejects = {r["line"]: r for r in list_rejects(con, limit=1000)}
    con.close()
    return tmp / "rows.jsonl", report, rejects


def test_bad_rows_are_counted_and_never_dropped(bad_batch):
    _, report, rejects = bad_batch
    assert (report.accepted, report.rejected, report.duplicates) == (1, len(BAD_ROWS), 0)
    assert sorted(rejects) == list(range(2, len(BAD_ROWS) + 2))
    expected: dict[str, int] = {}
    for _, reason in BAD_ROWS:
        expected[reason] = expected.get(reason, 0) + 1
    assert report.reject_reasons == expected


@pytest.mark.parametrize("index", range(len(BAD_ROWS)), ids=[reason for _, reason in BAD_ROWS])
def test_each_bad_row_is_rejected_with_its_reason(bad_batch, index):
    path, _, rejects = bad_batch
    raw, reason = BAD_ROWS[index]
    assert rejects[index + 2] == {"ingest_id": 1, "source": str(path), "line": index + 2, "reason": reason,
                                  "raw": raw}


def test_the_bad_rows_sample(con):
    r = ingest_paths(con, [SAMPLES / "bad_rows.jsonl"])
    assert (r.accepted, r.rejected, r.duplicates) == (2, 14, 0)
    lines = [x["line"] for x in list_rejects(con)]
    assert lines == list(range(2, 16))  # line 16 is blank: not a record; 1 and 17 are good


def test_rejects_keep_raw_text_up_to_10_kb(con, tmp_path):
    raw = '{"tool": "t", "seq": 1, "args": "' + "x" * 20_000 + '"}'
    ingest_lines(con, tmp_path, [raw])
    stored = con.execute("SELECT raw FROM rejects").fetchone()[0]
    assert stored == raw[:10_000]
    assert len(list_rejects(con)[0]["raw"]) == 200


@pytest.mark.parametrize("value", [True, "true", "1", 1, "yes"])
def test_bool_like_success_values(con, tmp_path, value):
    ingest_lines(con, tmp_path, [json.dumps({**GOOD, "success": value, "error": "x"})])
    assert con.execute("SELECT success FROM calls").fetchone()[0] is True


@pytest.mark.parametrize("ts, expected", [
    (1714557600, dt.datetime(2024, 5, 1, 10)),
    (1714557600.25, dt.datetime(2024, 5, 1, 10, 0, 0, 250000)),
    (1714557600250, dt.datetime(2024, 5, 1, 10, 0, 0, 250000)),
    (1714557600250000, dt.datetime(2024, 5, 1, 10, 0, 0, 250000)),
    (1714557600250000000, dt.datetime(2024, 5, 1, 10, 0, 0, 250000)),
    ("1714557600", dt.datetime(2024, 5, 1, 10)),
    ("2024-05-01T10:00:00Z", dt.datetime(2024, 5, 1, 10)),
    ("2024-05-01T10:00:00.250+00:00", dt.datetime(2024, 5, 1, 10, 0, 0, 250000)),
    ("2024-05-01T12:00:00+02:00", dt.datetime(2024, 5, 1, 10)),
    ("2024-05-01T05:30:00-0430", dt.datetime(2024, 5, 1, 10)),
    ("2024-05-01 10:00:00", dt.datetime(2024, 5, 1, 10)),
    ("2024-05-01T10:00:00z", dt.datetime(2024, 5, 1, 10)),
    ("2024-05-01 10:00:00.250001Z", dt.datetime(2024, 5, 1, 10, 0, 0, 250001)),
    ("2024-05-01T10:00Z", dt.datetime(2024, 5, 1, 10)),
    ("2024-05-01T10:00:00.1234567Z", dt.datetime(2024, 5, 1, 10, 0, 0, 123456)),
])
def test_time_formats_and_epoch_units_land_in_utc(con, tmp_path, ts, expected):
    ingest_lines(con, tmp_path, [json.dumps({"tool": "t", "ts": ts})])
    assert con.execute("SELECT ts FROM calls").fetchone()[0] == expected


@pytest.mark.parametrize("field, text, stored", [
    ("args", ' {"b": [1, 2],  "a": 1} ', {"b": [1, 2], "a": 1}),
    ("result", '[1, {"x": null}]', [1, {"x": None}]),
    ("result", '  {"ok": true}', {"ok": True}),
    ("result", '{"broken": ', '{"broken": '),
    ("result", "Error: [x] not found", "Error: [x] not found"),
])
def test_json_held_in_strings_is_parsed_when_valid(con, tmp_path, field, text, stored):
    ingest_lines(con, tmp_path, [json.dumps({**GOOD, field: text})])
    assert json.loads(con.execute(f"SELECT {field} FROM calls").fetchone()[0]) == stored


def test_strings_are_kept_exactly_apart_from_surrounding_space_in_names(con, tmp_path):
    rec = {"session_id": " s1 ", "tool": " search ", "seq": 1, "error": " boom ", "args": {"q": " a \"b\" \\ c "},
           "result": "  spaced\ttext  "}
    ingest_lines(con, tmp_path, [json.dumps(rec)])
    row = con.execute("SELECT session_id, tool, error, args, result FROM calls_v").fetchone()
    assert row[:3] == ("s1", "search", " boom ")
    assert json.loads(row[3]) == {"q": " a \"b\" \\ c "}
    assert json.loads(row[4]) == "  spaced\ttext  "


def test_lines_that_are_not_text_are_rejected_with_their_line(con, tmp_path):
    path = tmp_path / "enc.jsonl"
    path.write_bytes(b'{"tool": "a", "seq": 1}\n{"tool": "b\xff", "seq": 2}\n{"tool": "c", "seq": 3}\n'
                     b'{"tool": "d\xf4\x8f\xbf\xbf", "seq": 4}\n\n{"tool": "e", "seq": 6}\n')
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected) == (3, 2)
    assert con.execute("SELECT line, reason FROM rejects ORDER BY line").fetchall() == [
        (2, "unreadable line: invalid encoding (not UTF-8)"), (4, "unreadable line: contains U+10FFFF")]
    assert con.execute("SELECT tool, line FROM calls_v ORDER BY line").fetchall() == [("a", 1), ("c", 3), ("e", 6)]


def test_backslash_zero_in_a_line_does_not_split_it(con, tmp_path):
    rec = {**GOOD, "args": {"path": "C:\\0dir\\new"}}
    ingest_lines(con, tmp_path, [json.dumps(rec)])
    assert json.loads(con.execute("SELECT args FROM calls").fetchone()[0]) == {"path": "C:\\0dir\\new"}


def test_duplicates_inside_one_batch_count_as_duplicates(con, tmp_path):
    a = json.dumps({**GOOD, "args": {"x": 1}})
    b = json.dumps({**GOOD, "seq": 2})
    r = ingest_lines(con, tmp_path, [a, b, a, a])
    assert (r.accepted, r.duplicates, r.rejected) == (2, 2, 0)
    assert con.execute("SELECT line FROM calls ORDER BY line").fetchall() == [(1,), (2,)]  # the first copy wins


def test_same_call_differently_formatted_is_a_duplicate(con, tmp_path):
    a = '{"session_id": "s", "tool": "t", "seq": 1, "args": {"a": 1, "b": [1, 2]}}'
    b = '{"args":{"a":1,"b":[1,2]},"seq":1,"tool":"t","session_id":"s"}'
    r = ingest_lines(con, tmp_path, [a, b])
    assert (r.accepted, r.duplicates) == (1, 1)


def test_calls_that_differ_in_any_field_are_distinct(con, tmp_path):
    base = {**GOOD, "ts": "2024-05-01T10:00:00Z", "args": {"a": 1}}
    variants = [base, {**base, "seq": 2}, {**base, "args": {"a": 2}}, {**base, "result": 1},
                {**base, "error": "e"}, {**base, "duration_ms": 5}, {**base, "call_id": "c"},
                {**base, "session_id": "other"}, {**base, "ts": "2024-05-01T10:00:01Z"}]
    r = ingest_lines(con, tmp_path, [json.dumps(v) for v in variants])
    assert (r.accepted, r.duplicates) == (len(variants), 0)


def test_session_gap_cut_per_agent_and_user(con, tmp_path):
    t0 = dt.datetime(2024, 5, 1, 9)
    rows = []
    for agent, minutes in [("a", 0), ("a", 10), ("a", 45), ("b", 1), ("b", 2)]:
        rows.append({"tool": "t", "agent": agent, "ts": (t0 + dt.timedelta(minutes=minutes)).isoformat()})
    rows.append({"tool": "t", "user": "u9", "ts": t0.isoformat()})
    rows.append({"tool": "t", "ts": t0.isoformat()})
    r = ingest_lines(con, tmp_path, [json.dumps(x) for x in rows], name="day.jsonl")
    assert r.sessions == 5
    got = con.execute("SELECT regexp_replace(session_id, '^day:[0-9a-f]{12}:', 'day:'), count(*) FROM calls "
                      "GROUP BY 1 ORDER BY 1").fetchall()
    assert got == [("day:1", 1), ("day:a:1", 2), ("day:a:2", 1), ("day:b:1", 2), ("day:u9:1", 1)]
    fresh = connect(tmp_path / "fresh.duckdb")  # here the same calls are stored already, cut as they were
    r = ingest_lines(fresh, tmp_path, [json.dumps(x) for x in rows], name="day2.jsonl", session_gap_s=3600)
    fresh.close()
    assert r.sessions == 4  # the 35-minute pause no longer splits agent a


# Arbitrary JSON values (and some near-miss records) written as JSON Lines.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10)
field_values = st.one_of(st.none(), st.booleans(), st.integers(-2**66, 2**66), st.floats(allow_nan=False),
                         st.text(max_size=12), st.sampled_from(["2024-05-01T10:00:00Z", "ok", "error", "{}",
                                                                '{"a": 1}', "1714557600000"]),
                         st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
                         st.lists(st.integers(), max_size=2))
records = st.dictionaries(st.sampled_from(["session_id", "tool", "tool_name", "ts", "seq", "success", "status",
                                           "error", "duration_ms", "latency", "cost", "args", "result", "call_id",
                                           "agent", "user", "reward", "time"]),
                          field_values, max_size=8)
lines = st.lists(st.one_of(json_values.map(json.dumps), records.map(json.dumps),
                           st.text(max_size=30).filter(lambda s: "\n" not in s and "\r" not in s)),
                 min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=lines)
def test_ingest_never_raises_and_accounts_for_every_record(tmp_path_factory, batch):
    tmp = tmp_path_factory.mktemp("prop")
    con = connect(tmp / "p.duckdb")
    try:
        path = tmp / "rows.jsonl"
        path.write_text("".join(line + "\n" for line in batch), encoding="utf-8")
        records_in = sum(1 for line in batch if line.strip(" \t\r\n"))
        if records_in == 0:  # a file of blank lines is empty: one clear error, nothing written
            with pytest.raises(IngestError, match="is empty"):
                ingest_paths(con, [path], format="canonical")
            assert con.execute("SELECT count(*) FROM ingests").fetchone()[0] == 0
            return
        r = ingest_paths(con, [path], format="canonical")
        assert r.accepted + r.rejected + r.duplicates == records_in
        stored = con.execute("SELECT count(*) FROM calls").fetchone()[0]
        rejected = con.execute("SELECT count(*) FROM rejects").fetchone()[0]
        assert (stored, rejected) == (r.accepted, r.rejected)
        again = ingest_paths(con, [path], format="canonical")
        assert (again.accepted, again.duplicates, again.rejected) == (0, r.accepted + r.duplicates, r.rejected)
    finally:
        con.close()


CSV_LAYOUTS = {
    # name: (file text, [(tool, physical line)] stored, [physical line] rejected)
    "multi-line quoted fields": (
        'session_id,tool,seq,args\ns,a,1,"{""x"":\n1}"\ns,b\ns,c,3,"{""note"":\n""multi"",\n""n"": 1}"\n'
        's,d,4,\ns,e,5,,extra\ns,f,6,"{}"\n',
        [("a", 2), ("c", 5), ("d", 8), ("f", 10)], [4, 9]),
    "blank lines between records": (
        "session_id,tool,seq\ns,a,1\n\n\ns,b,2\ns,c\ns,d,4\n\n",
        [("a", 2), ("b", 5), ("d", 7)], [6]),
    "a quoted field holding a blank line": (
        'session_id,tool,seq,result\ns,a,1,"p\n\nq"\n  \ns,b,2,z\n',
        [("a", 2), ("b", 6)], [5]),
    "CRLF line ends": (
        'session_id,tool,seq,result\r\ns,a,1,"two\r\nlines"\r\ns,b\r\n\r\ns,c,3,x\r\n',
        [("a", 2), ("c", 6)], [4]),
    "backslash-escaped quotes": (
        'session_id,tool,seq,result\ns,a,1,"say \\"hi\\"\nthere"\ns,b,2,"\\"q\\""\ns,c\ns,d,4,x\n',
        [("a", 2), ("b", 4), ("d", 6)], [5]),
}


@pytest.mark.parametrize("text, stored, rejected", CSV_LAYOUTS.values(), ids=CSV_LAYOUTS.keys())
def test_csv_lines_are_the_physical_lines_where_records_start(con, tmp_path, text, stored, rejected):
    path = tmp_path / "calls.csv"
    path.write_bytes(text.encode())
    r = ingest_paths(con, [path])
    assert (r.accepted, r.rejected) == (len(stored), len(rejected))
    assert con.execute("SELECT tool, line FROM calls_v ORDER BY line").fetchall() == stored
    assert [x["line"] for x in list_rejects(con)] == rejected
