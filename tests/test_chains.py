"""Chain mining: supports, runs, gaps, keys, closure, variants, cohesion, ranking and bad thresholds."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
import pytest

from chainmine.miner.chains import Chain, MiningParams, chain_score, find_chains, wilson_lower
from chainmine.miner.chains.keys import KeyCodec
from chainmine.miner.chains.redundancy import closed_mask, connected, group_variants, junction_confidence, plain
from chainmine.miner.errors import EmptyStoreError, MiningError
from chainmine.miner.store import connect, ensure_tools

BASE = datetime(2026, 1, 5, 8, 0, 0)


def call(tool, args=None, result=None, success=True, duration_ms=10.0, cost=None):
    """One logged call for :func:`make_store`."""
    return {"tool": tool, "args": args, "result": result, "success": success, "duration_ms": duration_ms,
            "cost": cost}


def make_store(path, sessions, *, tool_id_offset=0):
    """A real DuckDB store at ``path`` holding ``sessions`` (lists of :func:`call` dicts), in order.

    ``tool_id_offset`` numbers the tools from a high id, to exercise wider chain keys.
    """
    rows = []
    for s, calls in enumerate(sessions):
        for k, c in enumerate(calls):
            rows.append({"session_id": f"s{s:05d}", "seq": k, "tool": c["tool"], "success": c["success"],
                         "args": None if c["args"] is None else json.dumps(c["args"]),
                         "result": None if c["result"] is None else json.dumps(c["result"]),
                         "duration_ms": c["duration_ms"], "cost": c["cost"],
                         "ts": BASE + timedelta(hours=s, seconds=k), "line": len(rows)})
    con = connect(path)
    if tool_id_offset:
        con.execute("INSERT INTO tools VALUES (?, '__padding__')", [tool_id_offset])
    if rows:
        frame = pd.DataFrame(rows)
        con.register("frame", frame)
        ensure_tools(con, "frame")
        con.execute("""
            INSERT INTO calls (id, session_id, ts, seq, tool_id, success, duration_ms, cost, args, result,
                               ingest_id, line)
            SELECT f.line, f.session_id, f.ts, f.seq, t.tool_id, f.success, f.duration_ms, f.cost,
                   f.args::JSON, f.result::JSON, 1, f.line
            FROM frame f JOIN tools t USING (tool)""")
        con.unregister("frame")
    con.close()
    return path


def mine(path, **params):
    con = connect(path, read_only=True)
    try:
        search = find_chains(con, MiningParams(**params))
        return search.chains
    finally:
        con.close()


def tools_of(chains):
    return [c.tools for c in chains]


def lookup_sessions(n, rng, prefix="u"):
    """``get_user_details`` then ``get_reservation_details`` once per reservation it returns."""
    out = []
    for i in range(n):
        res = [f"R{rng.randrange(10**8)}" for _ in range(rng.randint(1, 3))]
        out.append([call("get_user_details", {"user_id": f"{prefix}{i}"}, {"user_id": f"{prefix}{i}", "reservations": res})]
                   + [call("get_reservation_details", {"reservation_id": r}, {"reservation_id": r, "seat": "4A"})
                      for r in res])
    return out


def test_frequency_and_sessions_are_both_counted(tmp_path):
    sessions = [[call("a"), call("b"), call("c"), call("a"), call("b")]] * 3 + [[call("a"), call("b")]] * 2
    chains = mine(make_store(tmp_path / "t.duckdb", sessions), min_confidence=0, keep_all=True)
    (chain,) = [c for c in chains if c.tools == ("a", "b")]
    assert (chain.frequency, chain.sessions) == (8, 5)


def test_a_run_of_one_tool_is_one_step(tmp_path):
    sessions = ([[call("a"), call("b"), call("b"), call("b"), call("c")]] * 4
                + [[call("a"), call("b"), call("c")]] * 4)
    chains = mine(make_store(tmp_path / "t.duckdb", sessions))
    assert tools_of(chains) == [("a", "b", "c")]
    assert chains[0].frequency == 8
    # the repeated calls still count as calls the workflow replaces
    assert chains[0].avg_calls == pytest.approx(4.0)


@pytest.mark.parametrize("gap, expected", [(0, [("b", "c")]), (1, [("a", "b", "c")])])
def test_max_gap_lets_unrelated_calls_sit_inside(tmp_path, gap, expected):
    rng = random.Random(3)
    sessions = [[call("a"), call(f"noise{rng.randrange(50)}"), call("b"), call("c")] for _ in range(6)]
    assert tools_of(mine(make_store(tmp_path / "t.duckdb", sessions), max_gap=gap, max_length=3)) == expected


@pytest.mark.parametrize("offset, kind", [(0, "BIGINT"), (2_000, "HUGEINT"), (5_000_000, "LIST")])
def test_key_width_never_changes_the_result(tmp_path, offset, kind):
    assert KeyCodec.for_tools(offset + 5, 6).kind == kind
    rng = random.Random(5)
    sessions = lookup_sessions(8, rng) + [[call("x"), call("y"), call("z")]] * 5
    chains = mine(make_store(tmp_path / "t.duckdb", sessions, tool_id_offset=offset))
    assert sorted(tools_of(chains)) == [("get_user_details", "get_reservation_details"), ("x", "y", "z")]


def test_success_thresholds_filter_unreliable_chains(tmp_path):
    ok = [[call("a"), call("b")]] * 8
    flaky = [[call("c"), call("d", success=i % 2 == 0)] for i in range(8)]
    chains = mine(make_store(tmp_path / "t.duckdb", ok + flaky))
    assert tools_of(chains) == [("a", "b")]
    assert chains[0].success_rate == 1.0
    assert chains[0].success_rate_low == pytest.approx(wilson_lower(8, 8))
    # the Wilson bound of 8/8 is about 0.68: a stricter --min-success-low drops it
    assert mine(make_store(tmp_path / "u.duckdb", ok), min_success_low=0.7) == []


def test_closure_drops_sub_chains_and_all_keeps_them(tmp_path):
    sessions = [[call("a"), call("b"), call("c")]] * 6
    path = make_store(tmp_path / "t.duckdb", sessions)
    assert tools_of(mine(path)) == [("a", "b", "c")]
    assert set(tools_of(mine(path, keep_all=True, max_gap=0))) == {("a", "b", "c"), ("a", "b"), ("b", "c")}
    # with one call of gap allowed, a ... c is a sub-chain too
    assert ("a", "c") in tools_of(mine(path, keep_all=True))


def test_a_prefix_used_elsewhere_stays_a_workflow(tmp_path):
    sessions = [[call("a"), call("b"), call("c")]] * 6 + [[call("a"), call("b")]] * 6
    assert set(tools_of(mine(make_store(tmp_path / "t.duckdb", sessions)))) == {("a", "b", "c"), ("a", "b")}


def test_steps_seen_in_both_orders_merge_into_parallel_branches(tmp_path):
    sessions = [[call("a"), call("b"), call("c"), call("d")] if i % 2 else [call("a"), call("c"), call("b"), call("d")]
                for i in range(10)]
    (chain,) = mine(make_store(tmp_path / "t.duckdb", sessions))
    assert chain.frequency == 10
    assert chain.slots in ((("a",), ("b", "c"), ("d",)), (("a",), ("c", "b"), ("d",)))
    assert chain.parallel_groups == ((1, 2),)
    assert sorted(chain.variants) == [("a", "b", "c", "d"), ("a", "c", "b", "d")]


def test_independent_workflows_side_by_side_are_not_one_workflow(tmp_path):
    rng = random.Random(11)
    pool = [[call("p"), call("q")], [call("r"), call("s")], [call("t"), call("v")], [call("w"), call("x")]]
    sessions = []
    for _ in range(120):
        picks = rng.sample(range(len(pool)), 3)
        sessions.append([c for i in picks for c in pool[i]])
    chains = mine(make_store(tmp_path / "t.duckdb", sessions))
    assert sorted(tools_of(chains)) == [("p", "q"), ("r", "s"), ("t", "v"), ("w", "x")]


def test_a_stray_call_inside_a_few_occurrences_is_not_a_step(tmp_path):
    sessions = [[call("a"), call("b"), call("c")] for _ in range(40)]
    sessions += [[call("a"), call("stray"), call("b"), call("c")] for _ in range(4)]
    assert tools_of(mine(make_store(tmp_path / "t.duckdb", sessions))) == [("a", "b", "c")]


def test_ranking_is_by_round_trips_saved_times_success(tmp_path):
    short = [[call("a"), call("b")]] * 30          # 30 * 1 saved
    long = [[call("c"), call("d"), call("e"), call("f")]] * 12  # 12 * 3 saved
    chains = mine(make_store(tmp_path / "t.duckdb", short + long))
    assert tools_of(chains) == [("c", "d", "e", "f"), ("a", "b")]
    assert chains[0].round_trips_saved == 36 and chains[0].score == chain_score(12, 4.0, 1.0)
    assert tools_of(mine(make_store(tmp_path / "u.duckdb", short + long), top=1)) == [("c", "d", "e", "f")]


def test_stats_carry_duration_and_cost(tmp_path):
    sessions = [[call("a", duration_ms=100, cost=0.5), call("b", duration_ms=50, cost=0.25)]] * 4
    (chain,) = mine(make_store(tmp_path / "t.duckdb", sessions))
    # b starts 1 s after a (make_store spaces calls a second apart) and runs 50 ms
    assert chain.avg_duration_ms == pytest.approx(1050)
    assert chain.avg_cost == pytest.approx(0.75)


def test_odd_sessions_and_names_never_crash(tmp_path):
    sessions = [[call("lonely")] for _ in range(5)]
    sessions += [[call("svc.lookup user", {"id": i}, "x"), call("ünï code/tool", None, None)] for i in range(5)]
    chains = mine(make_store(tmp_path / "t.duckdb", sessions))
    assert tools_of(chains) == [("svc.lookup user", "ünï code/tool")]


def test_empty_store_says_to_ingest(tmp_path):
    with pytest.raises(EmptyStoreError, match="no tool calls yet: run chainmine ingest"):
        mine(make_store(tmp_path / "t.duckdb", []))


@pytest.mark.parametrize("field, value, message", [
    ("min_frequency", 0, "min_frequency must be at least 1, got 0"),
    ("min_confidence", 1.5, "min_confidence must be between 0.0 and 1.0, got 1.5"),
    ("max_length", 11, "max_length must be between 2 and 10, got 11"),
    ("max_gap", 2.5, "max_gap must be an integer between 0 and 5, got 2.5"),
    ("sample_size", "many", "sample_size must be an integer between 1 and 10000, got 'many'"),
])
def test_out_of_range_parameters_name_the_range(field, value, message):
    with pytest.raises(MiningError) as info:
        MiningParams(**{field: value}).check()
    assert str(info.value) == message


def test_min_length_above_max_length_is_refused():
    with pytest.raises(MiningError, match="min_length .4. must not exceed max_length .3."):
        MiningParams(min_length=4, max_length=3).check()


# --- pure selection functions ------------------------------------------------------------------

@pytest.mark.parametrize("frequency, expected", [
    ({("a",): 10, ("b",): 10, ("a", "b"): 9}, [0.9]),     # both sides almost always together
    ({("a",): 100, ("b",): 10, ("a", "b"): 9}, [0.9]),    # b is nearly always preceded by a
    ({("a",): 100, ("b",): 100, ("a", "b"): 9}, [0.09]),  # a coincidence
])
def test_junction_confidence_takes_the_stronger_direction(frequency, expected):
    assert junction_confidence(plain(("a", "b")), frequency) == pytest.approx(expected)


def test_junction_confidence_lower_bound_discounts_tiny_counts():
    few = junction_confidence(plain(("x", "w")), {("x",): 5, ("w",): 300, ("x", "w"): 3}, lower=True)
    many = junction_confidence(plain(("x", "w")), {("x",): 500, ("w",): 3000, ("x", "w"): 300}, lower=True)
    assert few[0] < 0.5 < many[0]


def test_group_variants_keeps_rare_or_edge_orders_apart():
    f = {("a", "b", "c", "d"): 50, ("a", "c", "b", "d"): 40, ("a", "b", "d", "c"): 2}
    groups = {members: slots for members, slots in group_variants(list(f), f)}
    assert groups[(("a", "b", "c", "d"), ("a", "c", "b", "d"))] == (("a",), ("b", "c"), ("d",))
    assert (("a", "b", "d", "c"),) in groups
    # commuting steps at the edge of a chain are not a workflow's parallel branch
    edge = {("b", "a", "c"): 10, ("a", "b", "c"): 10}
    assert sorted(m for m, _ in group_variants(list(edge), edge)) == [(("a", "b", "c"),), (("b", "a", "c"),)]


def test_closed_mask_uses_gaps_and_outside_absorbers():
    patterns = [(plain(("a", "c")), 100)]
    assert closed_mask(patterns, 0.9, max_gap=0, absorbers=[(plain(("a", "b", "c")), 95)]) == [True]
    assert closed_mask(patterns, 0.9, max_gap=1, absorbers=[(plain(("a", "b", "c")), 95)]) == [False]
    assert closed_mask(patterns, 0.9, max_gap=1, absorbers=[(plain(("a", "b", "c")), 80)]) == [True]


@pytest.mark.parametrize("weak, edges, expected", [
    (set(), [], True),
    ({1}, [], False),
    ({1}, [(0, 1)], True),
    ({1, 2}, [(0, 2)], False),  # the middle step is connected to nothing
    ({1, 2}, [(0, 2), (1, 2)], True),
])
def test_connected(weak, edges, expected):
    assert connected([0, 1, 2], weak, edges) is expected


def test_chain_slots_and_score():
    c = Chain(("a", "b", "c", "d"), 10, 8, 0.9, 0.6, None, None, 4.0, 1.0, parallel_groups=((1, 2),))
    assert c.slots == (("a",), ("b", "c"), ("d",))
    assert c.score == pytest.approx(10 * 3 * 0.9)
    assert c.to_dict()["parallel_groups"] == [[1, 2]]


@given(st.lists(st.integers(min_value=1, max_value=5_000_000), min_size=1, max_size=8),
       st.sampled_from([9, 2_000, 5_000_000]))
def test_keys_round_trip_whatever_their_width(tools, max_tool):
    tools = [min(t, max_tool) for t in tools]
    codec = KeyCodec.for_tools(max_tool, 8)
    assert codec.decode(codec.encode(tools), len(tools)) == tuple(tools)
    assert codec.to_text(codec.encode(tools))  # castable text for DuckDB


@given(st.dictionaries(st.tuples(st.sampled_from("abc")), st.integers(1, 100), min_size=3, max_size=3),
       st.integers(1, 100), st.integers(1, 100))
def test_junction_confidence_is_a_share(singles, ab, bc):
    freq = dict(singles)
    freq[("a", "b")] = min(ab, freq.get(("a",), 1), freq.get(("b",), 1))
    freq[("a", "b", "c")] = min(bc, freq[("a", "b")])
    for lower in (False, True):
        values = junction_confidence(plain(("a", "b", "c")), freq, lower=lower)
        assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)


@pytest.mark.parametrize("timed", [False, True], ids=["no-times", "times"])
def test_samples_are_spread_over_many_windows_that_the_chains_share(timed):
    """Each sample spans SAMPLE_SPREAD windows or more, and different chains read the same windows,
    whether the log is cut by its call times (portable across engines) or, without times, by rowid."""
    import duckdb

    from chainmine.miner.chains.chain_search import SAMPLE_SPREAD, SAMPLE_WINDOW
    from chainmine.miner.chains.mine import find_chains
    from chainmine.miner.chains.params import MiningParams
    from chainmine.miner.store import init_schema

    con = duckdb.connect()
    init_schema(con)
    con.execute("INSERT INTO tools VALUES (1, 'filler'), (2, 'a1'), (3, 'a2'), (4, 'b1'), (5, 'b2')")
    # 300,000 calls: every 10th session is a1 -> a2, every 10th (offset 5) b1 -> b2, others one filler call.
    # Calls are stored in time order, as logs usually are: a stretch of time is a stretch of rowids.
    ts = "TIMESTAMP '2026-03-01' + to_milliseconds(o * 250)" if timed else "NULL"
    con.execute(f"""INSERT INTO calls (id, session_id, seq, tool_id, success, ts)
        SELECT row_number() OVER (), sid, seq, tool_id, true, {ts} FROM (
            SELECT s * 2 + k AS o, 's' || s AS sid, k AS seq,
                   CASE WHEN s % 10 = 0 THEN 2 + k WHEN s % 10 = 5 THEN 4 + k ELSE 1 END AS tool_id
            FROM range(250000) x(s), range(2) y(k) WHERE k = 0 OR s % 5 = 0) ORDER BY o""")
    search = find_chains(con, MiningParams(min_frequency=3, min_length=2))
    assert (search.clock() is not None) is timed
    assert len(search.chains) == 2
    size = 200
    rows = search.sample_events(search.chains, size)
    windows = {cid: {r[7] // SAMPLE_WINDOW for r in rows if r[0] == cid} for cid in (0, 1)}
    starts = {cid: {(r[2], r[3]) for r in rows if r[0] == cid} for cid in (0, 1)}
    assert all(len(starts[c]) == size for c in (0, 1))
    assert all(len(windows[c]) >= SAMPLE_SPREAD for c in (0, 1))
    # far fewer windows than a sample drawn at random (which would touch nearly all of them)
    total_windows = -(-search.summary.calls // SAMPLE_WINDOW)
    assert len(windows[0] | windows[1]) < total_windows / 3 and len(windows[0] & windows[1]) >= SAMPLE_SPREAD
    search.close()


def test_chains_bunched_in_one_stretch_of_the_log_are_still_sampled():
    """Window thinning must not leave short a chain whose occurrences all sit in one window."""
    import duckdb

    from chainmine.miner.chains.chain_search import SAMPLE_WINDOW, sample_plan
    from chainmine.miner.chains.mine import find_chains
    from chainmine.miner.chains.params import MiningParams
    from chainmine.miner.store import init_schema

    con = duckdb.connect()
    init_schema(con)
    bunches, size = 4, 5
    tools = ["filler"] + [f"{kind}{b}" for b in range(bunches) for kind in ("open", "close")]
    con.execute("INSERT INTO tools SELECT i + 1, t FROM (SELECT unnest($t) AS t, generate_subscripts($t, 1) - 1 AS i)",
                {"t": tools})
    # 200,000 one-call filler sessions; each bunch is 300 sessions of open_b -> close_b
    # back to back (600 calls: less than one sampling window), spread through the filler.
    con.execute("""INSERT INTO calls (id, session_id, seq, tool_id, success)
        SELECT row_number() OVER (), sid, seq, tool_id, true FROM (
            SELECT f * 10 AS o, 'f' || f AS sid, 1 AS seq, 1 AS tool_id FROM range(200000) y(f)
            UNION ALL
            SELECT (b * 50000 + 20000) * 10 + s * 2 + k, 'c' || b || '-' || s, k, 2 + 2 * b + k
            FROM range($bunches) x(b), range(300) y(s), range(2) z(k)) ORDER BY o""", {"bunches": bunches})
    search = find_chains(con, MiningParams(min_frequency=3, min_length=2))
    assert sorted(c.frequency for c in search.chains) == [300] * bunches
    modulus, cap = sample_plan(search.summary.calls, 300, size)
    # one window per chain, at most `cap` from it: thinning alone cannot give `size` samples
    assert 600 < SAMPLE_WINDOW and cap < size and modulus > 1
    rows = search.sample_events(search.chains, size)
    per_chain = {cid: len({(r[2], r[3]) for r in rows if r[0] == cid}) for cid in range(bunches)}
    assert per_chain == {cid: size for cid in range(bunches)}
    search.close()


def _two_orders(first, second):
    return ([[call("a"), call("b"), call("c"), call("d")]] * first
            + [[call("a"), call("c"), call("b"), call("d")]] * second)


@pytest.mark.parametrize("first, second, min_frequency", [
    (6, 5, 10),    # each order alone is below the threshold, together above
    (12, 3, 10),   # only one order passes
    (6, 5, 3),     # both pass
])
def test_orders_that_pass_together_are_one_workflow_with_parallel_branches(tmp_path, first, second, min_frequency):
    path = make_store(tmp_path / "t.duckdb", _two_orders(first, second))
    (chain,) = mine(path, min_frequency=min_frequency)
    assert chain.slots == (("a",), ("b", "c"), ("d",))
    assert chain.frequency == first + second and chain.sessions == first + second
    assert sorted(chain.variants) == [("a", "b", "c", "d"), ("a", "c", "b", "d")]


@pytest.mark.parametrize("max_length, min_frequency", [(3, 3), (3, 12), (4, 3)])
def test_fragments_of_a_commuting_workflow_never_count_an_occurrence_twice(tmp_path, max_length, min_frequency):
    # One workflow per session: together the suggestions can hold at most one occurrence each.
    path = make_store(tmp_path / "t.duckdb", _two_orders(8, 7))
    chains = mine(path, min_frequency=min_frequency, max_length=max_length)
    assert chains and sum(c.frequency for c in chains) <= 15
    assert all(c.frequency >= min_frequency for c in chains)


def test_a_fragment_keeps_the_occurrences_no_better_chain_holds(tmp_path):
    # a c d and a b d both hold the 15 runs of the commuting workflow; a c d also occurs 5 more
    # times, ranks first and keeps them; a b d keeps the 4 runs only it holds.
    sessions = (_two_orders(8, 7) + [[call("a"), call("c"), call("x"), call("d")]] * 5
                + [[call("a"), call("b"), call("y"), call("d")]] * 4)
    by_tools = {c.tools: c for c in mine(make_store(tmp_path / "t.duckdb", sessions), max_length=3)}
    assert (by_tools[("a", "c", "d")].frequency, by_tools[("a", "c", "d")].sessions) == (20, 20)
    assert (by_tools[("a", "b", "d")].frequency, by_tools[("a", "b", "d")].sessions) == (4, 4)


@pytest.mark.parametrize("max_gap", [1, 2])
def test_occurrences_of_chains_that_were_not_grown_are_drawn_again_on_demand(max_gap):
    """The search stores only what the next level extends; any other counted chain can still be sampled."""
    from chainmine.miner.chains.search import build_events, occurrence_relation, search_levels, toy_store

    con = toy_store("abcab", 6)
    build_events(con)
    codec = KeyCodec.for_tools(3, 4)
    # Grow nothing that ends in "c": those chains are counted but their occurrences not kept.
    found = search_levels(con, codec, min_frequency=3, min_sessions=2, max_length=4, max_gap=max_gap,
                          extend=lambda tools, frequency: tools[-1] != 3)
    for tools, support in found.values():
        if len(tools) < 2:
            continue
        key = codec.encode(tools)
        rel = occurrence_relation(con, codec, len(tools), f"(SELECT {key} AS key)", max_gap)
        n, ok = con.execute(f"SELECT count(*), count_if(ok) FROM {rel} WHERE key = {key}").fetchone()
        assert (n, ok) == (support.frequency, support.successes), (tools, rel)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name LIKE '_cm_pick%'"
                       ).fetchone()[0] > 0
