"""Analytics on a small hand-made log with figures worked out by hand, filters, and an empty store."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from chainmine.miner.analytics import (AnalyticsError, CallFilter, calls_over_time, filter_options, overview, parse_time,
                             session_variants, stats_report, tool_stats, top_errors, transition_graph, transitions)
from chainmine.miner.errors import StoreError
from chainmine.miner.ingest import ingest_paths
from chainmine.miner.store import connect

DAY1 = datetime(2026, 1, 5)
DAY2 = datetime(2026, 1, 6)

# session, agent, start, [(tool, success, duration_ms, cost, error)]
SESSIONS = [
    ("s1", "A", DAY1 + timedelta(hours=10), [("a", True, 100, 0.01, None), ("b", True, 200, None, None),
                                             ("c", False, 300, None, "boom")]),
    ("s2", "A", DAY1 + timedelta(hours=11), [("a", True, 120, None, None), ("b", False, 400, None, "boom"),
                                             ("b", True, 100, None, None)]),
    ("s3", "B", DAY1 + timedelta(hours=12), [("a", True, 80, None, None), ("c", True, 50, 0.03, None)]),
    ("s4", "B", DAY1 + timedelta(hours=13), [("c", False, 60, None, None)]),
    ("s5", "A", DAY2 + timedelta(hours=9), [("a", True, 10, None, None), ("b", True, 20, None, None),
                                            ("c", True, 30, None, None)]),
]


def records():
    out = []
    for sid, agent, start, calls in SESSIONS:
        for k, (tool, ok, ms, cost, error) in enumerate(calls):
            rec = {"session_id": sid, "ts": (start + timedelta(seconds=k)).isoformat() + "Z", "seq": k + 1,
                   "tool": tool, "args": {"k": k}, "result": "Error: x" if not ok else {"ok": True},
                   "success": ok, "duration_ms": ms, "agent": agent, "user": "u"}
            if cost is not None:
                rec["cost"] = cost
            if error is not None:
                rec["error"] = error
            out.append(rec)
    return out


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    """The hand-made log, written in scrambled line order (order must come from ts/seq), ingested."""
    tmp_path = tmp_path_factory.mktemp("hand")
    rows = records()
    random.Random(3).shuffle(rows)
    log = tmp_path / "hand.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    db = connect(tmp_path / "a.duckdb")
    report = ingest_paths(db, [log])
    assert report.accepted == 12
    yield db
    db.close()


def test_overview(con):
    o = overview(con)
    assert (o.calls, o.sessions, o.tools, o.failed_calls, o.agents) == (12, 5, 3, 3, 2)
    assert o.success_rate == pytest.approx(9 / 12)
    assert o.total_cost == pytest.approx(0.04)
    assert (o.first_ts, o.last_ts) == (DAY1 + timedelta(hours=10), DAY2 + timedelta(hours=9, seconds=2))


def test_tool_stats_exact_figures(con):
    stats = {t.tool: t for t in tool_stats(con)}
    assert [t.tool for t in tool_stats(con)] == ["a", "b", "c"]  # 4 calls each: ties by name
    a, b, c = stats["a"], stats["b"], stats["c"]
    assert (a.calls, a.sessions, a.success_rate, a.failures) == (4, 4, 1.0, 0)
    # durations a: 10, 80, 100, 120 -> median 90; 95th: 100 + 0.85 * 20
    assert (a.p50_ms, a.p95_ms) == pytest.approx((90, 117))
    assert a.avg_cost == pytest.approx(0.01 / 4) and a.total_cost == pytest.approx(0.01)
    # b: 20, 100, 200, 400 -> 150; 200 + 0.85 * 200
    assert (b.calls, b.sessions, b.success_rate) == (4, 3, 0.75)
    assert (b.p50_ms, b.p95_ms) == pytest.approx((150, 370))
    assert b.top_errors == (("boom", 1),)
    # c: 30, 50, 60, 300 -> 55; 60 + 0.85 * 240
    assert (c.calls, c.success_rate, c.failures) == (4, 0.5, 2)
    assert (c.p50_ms, c.p95_ms) == pytest.approx((55, 264))
    assert c.avg_cost == pytest.approx(0.03 / 4)
    assert set(c.top_errors) == {("boom", 1), ("(no message)", 1)}


def test_transitions_follow_session_order_and_sum_to_one(con):
    got = {(t.from_tool, t.to_tool): (t.count, t.probability) for t in transitions(con)}
    assert got == {("a", "b"): (3, 0.75), ("a", "c"): (1, 0.25),
                   ("b", "c"): (2, pytest.approx(2 / 3)), ("b", "b"): (1, pytest.approx(1 / 3))}
    totals = {}
    for t in transitions(con):
        totals[t.from_tool] = totals.get(t.from_tool, 0) + t.probability
    assert totals == {"a": pytest.approx(1), "b": pytest.approx(1)}
    assert [t.to_dict() for t in transitions(con, top=1)] == [{"from": "a", "to": "b", "count": 3, "probability": 0.75}]


def test_transition_graph(con):
    g = transition_graph(con)
    assert sorted(g.nodes) == ["a", "b", "c"]
    assert g.nodes["c"] == {"calls": 4, "success_rate": 0.5, "starts": 1, "ends": 4}
    assert g.nodes["a"]["starts"] == 4 and g.nodes["b"]["ends"] == 1
    assert g.edges["a", "b"] == {"count": 3, "probability": 0.75}
    assert g.has_edge("b", "b") and not g.has_edge("c", "a")
    only_c = transition_graph(con, CallFilter(tools=["c"]))
    assert sorted(only_c.edges) == [("a", "c"), ("b", "c")]
    assert only_c.edges["b", "c"]["probability"] == pytest.approx(2 / 3)


def test_session_variants(con):
    got = [(v.tools, v.sessions, v.share) for v in session_variants(con)]
    assert got[0] == (("a", "b", "c"), 2, 0.4)
    assert sorted(got[1:]) == [(("a", "b", "b"), 1, 0.2), (("a", "c"), 1, 0.2), (("c",), 1, 0.2)]
    collapsed = {v.tools: v.sessions for v in session_variants(con, collapse_repeats=True)}
    assert collapsed[("a", "b")] == 1 and ("a", "b", "b") not in collapsed
    assert len(session_variants(con, top=2)) == 2


def test_top_errors(con):
    got = [(e.tool, e.error, e.count, e.share) for e in top_errors(con)]
    assert got == [("b", "boom", 1, 0.25), ("c", "(no message)", 1, 0.25), ("c", "boom", 1, 0.25)]
    assert top_errors(con, top=1)[0].last_seen == DAY1 + timedelta(hours=11, seconds=1)


def test_calls_over_time(con):
    df = calls_over_time(con, bucket="day")
    assert df["bucket"].tolist() == [DAY1, DAY2]
    assert df["calls"].tolist() == [9, 3] and df["errors"].tolist() == [3, 0]
    assert df["sessions"].tolist() == [4, 1]
    assert df["error_rate"].tolist() == pytest.approx([1 / 3, 0])
    assert df["cost"].tolist() == pytest.approx([0.04, 0])
    assert calls_over_time(con, bucket="hour")["calls"].sum() == 12
    with pytest.raises(AnalyticsError, match="unknown time bucket 'fortnight'"):
        calls_over_time(con, bucket="fortnight")


# ---------------------------------------------------------------------- filters
@pytest.mark.parametrize("flt, calls, sessions", [
    (CallFilter(agents=("B",)), 3, 2),
    (CallFilter(agents=("A", "B")), 12, 5),
    (CallFilter(agents=("nobody",)), 0, 0),
    (CallFilter(start=DAY2), 3, 1),
    (CallFilter(end=DAY2), 9, 4),
    (CallFilter(start=DAY1 + timedelta(hours=11), end=DAY1 + timedelta(hours=12)), 3, 1),
    (CallFilter(start=datetime(2026, 1, 6, 10, tzinfo=timezone(timedelta(hours=1)))), 3, 1),
    (CallFilter(tools=("c",)), 4, 4),
    (CallFilter(tools=("c",), agents=("A",)), 2, 2),
])
def test_filters_restrict_every_figure(con, flt, calls, sessions):
    o = overview(con, flt)
    assert (o.calls, o.sessions) == (calls, sessions)
    assert sum(t.calls for t in tool_stats(con, flt)) == calls
    assert calls_over_time(con, flt, bucket="day")["calls"].sum() == calls
    report = stats_report(con, flt)
    assert (report["calls"], report["sessions"]) == (calls, sessions)


def test_time_filter_cuts_sequences(con):
    got = {(t.from_tool, t.to_tool): (t.count, t.probability) for t in transitions(con, CallFilter(start=DAY2))}
    assert got == {("a", "b"): (1, 1.0), ("b", "c"): (1, 1.0)}
    assert [v.tools for v in session_variants(con, CallFilter(start=DAY2))] == [("a", "b", "c")]


def test_tool_filter_keeps_real_neighbours(con):
    got = {(t.from_tool, t.to_tool): (t.count, t.probability) for t in transitions(con, CallFilter(tools=("c",)))}
    assert got == {("b", "c"): (2, pytest.approx(2 / 3)), ("a", "c"): (1, 0.25)}
    variants = {v.tools: (v.sessions, v.share) for v in session_variants(con, CallFilter(tools=("c",)))}
    assert variants == {("a", "b", "c"): (2, 0.5), ("a", "c"): (1, 0.25), ("c",): (1, 0.25)}
    assert {e.tool for e in top_errors(con, CallFilter(tools=("b",)))} == {"b"}
    report = stats_report(con, CallFilter(tools=("c",)))
    assert {(t["from"], t["to"]): t["count"] for t in report["transitions"]} == {("b", "c"): 2, ("a", "c"): 1}
    assert {tuple(v["tools"]): v["sessions"] for v in report["variants"]} == {k: n for k, (n, _) in variants.items()}


def test_filter_options(con):
    opts = filter_options(con)
    assert opts["agents"] == ["A", "B"] and sorted(opts["tools"]) == ["a", "b", "c"]
    assert opts["first_ts"] == DAY1 + timedelta(hours=10)


@pytest.mark.parametrize("kwargs, message", [
    ({"start": DAY2, "end": DAY1}, "the time range is empty"),
    ({"agents": ("",)}, "agents must be non-empty names"),
    ({"start": "yesterday"}, "start must be a datetime"),
])
def test_bad_filters(kwargs, message):
    with pytest.raises(AnalyticsError, match=message):
        CallFilter(**kwargs)


@pytest.mark.parametrize("text, end, expected", [
    ("2026-01-05", False, datetime(2026, 1, 5)),
    ("2026-01-05", True, datetime(2026, 1, 6)),
    ("2026-01-05T08:30:00Z", True, datetime(2026, 1, 5, 8, 30)),
    ("2026-01-05T08:30:00-05:00", False, datetime(2026, 1, 5, 13, 30)),
])
def test_parse_time(text, end, expected):
    assert parse_time(text, end=end) == expected


def test_parse_time_rejects_nonsense():
    with pytest.raises(AnalyticsError, match="use ISO-8601"):
        parse_time("last tuesday")


# ------------------------------------------------------------------ empty store
def test_empty_store_gives_zeros_and_empty_lists(tmp_path):
    con = connect(tmp_path / "empty.duckdb")
    report = stats_report(con)
    assert report["calls"] == report["sessions"] == report["rejects"] == 0
    assert report["tools"] == report["transitions"] == report["variants"] == report["top_errors"] == []
    assert report["time_range"] == {"first": None, "last": None} and report["success_rate"] == 0
    assert transition_graph(con).number_of_nodes() == 0
    assert calls_over_time(con).empty
    json.dumps(report)


def test_database_without_chainmine_tables_is_a_clear_error(tmp_path):
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()
    con = connect(path, read_only=True)
    with pytest.raises(StoreError, match="no chainmine tables"):
        stats_report(con)


def test_report_on_generated_logs_agrees_with_the_records(tmp_path):
    from chainmine.miner.generate import generate_logs, generate_records

    out = tmp_path / "g.jsonl"
    generate_logs(out, sessions=150, seed=9)
    con = connect(tmp_path / "g.duckdb")
    ingest_paths(con, [out])
    rows = list(generate_records(sessions=150, seed=9))
    report = stats_report(con)
    assert report["calls"] == len(rows) and report["sessions"] == 150
    for t in report["tools"]:
        mine = [r for r in rows if r["tool"] == t["tool"]]
        assert t["calls"] == len(mine)
        assert t["success_rate"] == pytest.approx(sum(r["success"] for r in mine) / len(mine))
    pairs = {}
    previous = {}
    for r in rows:
        if r["session_id"] in previous:
            key = (previous[r["session_id"]], r["tool"])
            pairs[key] = pairs.get(key, 0) + 1
        previous[r["session_id"]] = r["tool"]
    assert {(t["from"], t["to"]): t["count"] for t in report["transitions"]} == pairs
