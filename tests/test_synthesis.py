"""Synthesis: dataflow inference, map steps, names, descriptions, categories and whole workflows."""

from __future__ import annotations

import itertools
import random

import pandas as pd
import pytest

from chainmine.library.builder import WorkflowBuilder
from chainmine.library.store import WorkflowLibrary
from chainmine.library.templates import resolve
from chainmine.library.validate import workflow_problems
from chainmine.miner.chains import Chain
from chainmine.miner.errors import MiningError
from chainmine.miner.estimator import ChainMiner, PatternDetector
from chainmine.miner.store import connect
from chainmine.miner.synthesis import (CallRecord, CategoryClassifier, Occurrence, build_workflow, categorize,
                             infer_dataflow, step_ids, workflow_name)
from chainmine.miner.synthesis.categories import namespace
from chainmine.miner.synthesis.describe import describe, phrase
from chainmine.miner.synthesis.naming import distinct_names, slugify
from chainmine.miner.synthesis.values import arg_leaves, comparable_nodes, json_type, parse_text, value_key
from test_chains import call, lookup_sessions, make_store


def rec(args, result=None, success=True, duration_ms=10.0, cost=None):
    return CallRecord("s", args, result, success, duration_ms, cost, None)


_SESSIONS = itertools.count()


def occ(*steps):
    """An occurrence from one record (or a tuple of records for a repeated step) per step, in a session of its own."""
    return Occurrence(f"s{next(_SESSIONS)}", tuple(s if isinstance(s, tuple) else (s,) for s in steps))


def flow_of(occurrences, ids=("first", "second", "third"), slots=None):
    n = len(occurrences[0].steps)
    return infer_dataflow(list(ids[:n]), slots or list(range(n)), occurrences)


# --- values -----------------------------------------------------------------------------------------

def test_json_text_is_parsed_and_plain_text_kept():
    assert parse_text(' {"a": [1]} ') == {"a": [1]}
    assert parse_text("[not json") == "[not json"
    assert parse_text("Error: boom") == "Error: boom"


def test_value_keys_ignore_values_that_prove_nothing():
    assert value_key(None) is value_key(True) is value_key("") is value_key([]) is None
    assert value_key(7) == value_key(7.0) != value_key("7")


def test_comparable_nodes_skip_keys_a_template_cannot_spell():
    paths = [p for p, _ in comparable_nodes({"ok key": 1, "a.b": 2, "good": {"id": "x"}, "list": '["y"]'})]
    assert ("good", "id") in paths and ("list", 0) in paths
    assert not any(p and p[0] in ("ok key", "a.b") for p in paths)


def test_arg_leaves_and_types():
    assert arg_leaves({"a": {"b": 1, "c": [1]}, "d": {}}) == [(("a", "b"), 1), (("a", "c"), [1]), (("d",), {})]
    assert [json_type(v) for v in (["x"], [1, 2], [True], [{}], [[1]], [None])] == \
        ["string", "integer", "boolean", "object", "array", "any"]


# --- dataflow -----------------------------------------------------------------------------------------

def test_bound_to_an_indexed_path_when_the_first_element_is_taken():
    occs = [occ(rec({"customer_id": f"c{i}"}, {"orders": [{"order_no": f"o{i}"}, {"order_no": f"p{i}"}]}),
                rec({"order_no": f"o{i}"}, {"status": "shipped"})) for i in range(5)]
    flow = flow_of(occs)
    assert flow.steps[1].parameters == {"order_no": "{{first.orders[0].order_no}}"}
    assert flow.steps[1].map_over is None
    assert flow.steps[1].sources["order_no"].kind == "bound"
    assert flow.steps[1].references == {0}


def test_a_scalar_result_binds_as_the_whole_step():
    occs = [occ(rec({"email": f"e{i}@x.org"}, f"user_{i}"), rec({"user_id": f"user_{i}"}, [])) for i in range(4)]
    assert flow_of(occs).steps[1].parameters == {"user_id": "{{first}}"}


def test_inputs_constants_and_one_input_for_one_value():
    occs = [occ(rec({"user_id": f"u{i}", "limit": 5}, {"n": i}),
                rec({"user_id": f"u{i}", "mode": "fast" if i else "slow"}, None)) for i in range(24)]
    flow = flow_of(occs)
    assert flow.steps[0].parameters == {"user_id": "{{user_id}}", "limit": 5}
    # 23 of 24 is enough evidence for a constant despite one odd occurrence
    assert flow.steps[1].parameters == {"user_id": "{{user_id}}", "mode": "fast"}
    assert list(flow.inputs) == ["user_id"]
    spec = flow.inputs["user_id"]
    assert (spec.type, spec.example, spec.required) == ("string", "u0", True)
    assert flow.steps[1].references == set()


@pytest.mark.parametrize("logged", [
    "Hi {{name}}, your order shipped",
    {"subject": "{{ order.id }}", "lines": ["{{'{{'}}", "}} {{{x}}}"]},
])
def test_constants_holding_braces_are_escaped_and_resolve_to_the_logged_value(logged):
    occs = [occ(rec({"to": f"c{i}@x"}, {"ok": True}), rec({"to": f"c{i}@x", "body": logged}, "sent")) for i in range(10)]
    flow = flow_of(occs)
    body = flow.steps[1].parameters["body"]
    assert body != logged and resolve(body, {}) == logged
    assert {k: v.kind for k, v in flow.steps[1].sources.items() if k != "to"} == dict.fromkeys(
        ["body"] if isinstance(logged, str) else ["body.subject", "body.lines"], "constant")
    wf = build_workflow(Chain(("get_contact", "send_email"), 10, 10, 1.0, 0.5, None, None, 2.0, 1.0), occs)
    assert resolve(wf.step("send_email").parameters["body"], {}) == logged
    flow_inputs = flow_of([occ(rec({"body": f"Hi {{{{name}}}} #{i}"})) for i in range(5)]).inputs
    assert flow_inputs["body"].example == "Hi {{name}} #0"  # a value, not template text: never escaped


def test_input_names_do_not_clash_with_step_ids_or_each_other():
    occs = [occ(rec({"first": i, "q": f"a{i}"}), rec({"q": f"b{i}"})) for i in range(4)]
    flow = flow_of(occs)
    assert flow.steps[0].parameters == {"first": "{{first_2}}", "q": "{{q}}"}
    assert flow.steps[1].parameters == {"q": "{{q_2}}"}
    assert set(flow.inputs) == {"first_2", "q", "q_2"}


@pytest.mark.parametrize("result, item", [
    (lambda ids: {"issues": [{"number": n} for n in ids]}, "{{item.number}}"),
    (lambda ids: {"issues": ids}, "{{item}}"),
])
def test_repeated_calls_fed_item_by_item_become_a_map_step(result, item):
    rng = random.Random(2)
    occs = []
    for i in range(6):
        ids = [rng.randrange(10**6) for _ in range(rng.randint(1, 3))]
        occs.append(occ(rec({"repo": "acme/web" if i % 2 else "acme/api"}, result(ids)),
                        tuple(rec({"number": n, "repo": "acme/web" if i % 2 else "acme/api"}) for n in ids)))
    flow = flow_of(occs, ids=("list_issues", "get_issue"))
    step = flow.steps[1]
    assert step.map_over == "{{list_issues.issues}}"
    assert step.parameters == {"number": item, "repo": "{{repo}}"}
    assert step.sources["number"].map_over == "{{list_issues.issues}}"


def test_a_retried_call_is_not_a_map_step():
    occs = []
    for i in range(6):
        second = (rec({"url": f"https://x/{i}"}, "Error: timeout", success=False), rec({"url": f"https://x/{i}"}, "ok")) \
            if i % 2 else rec({"url": f"https://x/{i}"}, "ok")
        occs.append(occ(rec({"q": f"q{i}"}, [{"url": f"https://x/{i}"}, {"url": f"https://y/{i}"}]), second))
    step = flow_of(occs).steps[1]
    assert step.map_over is None
    assert step.parameters == {"url": "{{first[0].url}}"}


def test_commuting_steps_never_feed_each_other():
    occs = [occ(rec({"id": f"t{i}"}, {"customer": f"c{i}", "plan": f"p{i}"}),
                rec({"customer": f"c{i}"}, {"plan": f"p{i}"}),
                rec({"plan": f"p{i}"}, {})) for i in range(5)]
    flow = flow_of(occs, slots=[0, 1, 1])
    assert flow.steps[2].parameters == {"plan": "{{first.plan}}"}


def test_the_nearest_producer_of_a_value_is_preferred():
    occs = [occ(rec({"q": f"q{i}"}, {"id": f"x{i}"}), rec({"id": f"x{i}"}, {"id": f"x{i}", "text": f"t{i}"}),
                rec({"id": f"x{i}", "text": f"t{i}"})) for i in range(5)]
    # the id was bound on the way, so the third step reuses that binding; the text comes from step two
    assert flow_of(occs).steps[2].parameters == {"id": "{{first.id}}", "text": "{{second.text}}"}


def test_missing_arguments_are_unknown_and_missing_results_give_inputs():
    occs = [occ(rec(None, {"id": f"x{i}"}), rec({"id": f"y{i}"}, None)) for i in range(4)]
    flow = flow_of(occs)
    assert flow.steps[0].parameters == {}
    assert flow.steps[0].sources["*"].kind == "unknown"
    assert flow.steps[1].parameters == {"id": "{{id}}"}


def test_results_holding_json_text_are_looked_into():
    occs = [occ(rec({"q": f"q{i}"}, '{"items": [{"id": "I%d"}]}' % i), rec({"item_id": f"I{i}"})) for i in range(4)]
    assert flow_of(occs).steps[1].parameters == {"item_id": "{{first.items[0].id}}"}


# --- names, descriptions, categories --------------------------------------------------------------------

def test_step_ids_are_short_unique_slugs():
    assert step_ids(["get_user_details", "get_user_info", "slack.sendMessage", "42 ünïcode"]) == \
        ["get_user", "get_user_2", "slack_send_message", "t_42_unicode"]
    assert slugify("☃") == "step"


def test_workflow_names_are_stable_readable_and_bounded():
    ids = ["get_user", "get_reservation"]
    assert workflow_name(ids, [[0], [1]], map_steps=[1]) == "get_user_then_each_get_reservation"
    long = workflow_name([f"step_number_{i}" for i in range(6)], [[i] for i in range(6)])
    assert long == "step_number_0_to_step_number_5_6_steps" and len(long) <= 60
    assert distinct_names(["w", "w"], ["a|b", "c|d"]) == distinct_names(["w", "w"], ["a|b", "c|d"])
    assert len(set(distinct_names(["w", "w"], ["a|b", "c|d"]))) == 2


def test_description_states_steps_and_evidence():
    text = describe(["search_flights", "book_flight", "send_email"], [[0], [1, 2]], {}, 12, 9, 0.9166)
    assert text == ("Searches flights, then creates flight and sends email (in either order) "
                    "— seen 12× in 9 sessions, 92% success.")
    assert phrase("frobnicate") == "calls frobnicate"


@pytest.mark.parametrize("tool, ns", [("github_list_issues", "github"), ("slack.send_message", "slack"),
                                      ("jira:create_issue", "jira"), ("get_user_details", None),
                                      ("fs/read_file", "fs")])
def test_namespaces(tool, ns):
    assert namespace(tool) == ns


def test_category_comes_from_a_trained_classifier_before_namespaces():
    clf = CategoryClassifier().fit([(["get_user_details", "get_reservation_details"], "airline"),
                                    (["github_list_issues", "github_get_issue"], "engineering")])
    assert categorize(["github_get_issue", "github_create_pr"], clf) == "engineering"
    assert categorize(["github_get_issue", "github_create_pr"]) == "github"
    assert categorize(["weather_now"], clf) == "general"


# --- whole workflows ------------------------------------------------------------------------------------

def _parallel_chain(freq=20):
    return Chain(("get_ticket", "get_history", "check_sla", "escalate"), freq, freq, 0.95, 0.8, 900.0, 0.01,
                 4.0, 0.9, parallel_groups=((1, 2),),
                 variants=(("get_ticket", "get_history", "check_sla", "escalate"),
                           ("get_ticket", "check_sla", "get_history", "escalate")))


def test_build_workflow_wires_parallel_branches_and_validates():
    occs = [occ(rec({"ticket_id": f"T{i}"}, {"customer_id": f"C{i}", "plan": "gold"}, cost=0.002),
                rec({"customer_id": f"C{i}"}, {"n": i}),
                rec({"ticket_id": f"T{i}", "plan": "gold"}, {"breached": False}),
                rec({"ticket_id": f"T{i}", "priority": "high"}, "ok")) for i in range(10)]
    wf = build_workflow(_parallel_chain(), occs)
    assert workflow_problems(wf) == []
    assert (wf.status, wf.source) == ("suggested", "mined")
    deps = {s.id: s.depends_on for s in wf.steps}
    # check_sla reads nothing get_ticket returns, and both only read: no wait from log order
    assert deps == {"get_ticket": [], "get_history": ["get_ticket"], "check_sla": [],
                    "escalate": ["get_history", "check_sla"]}
    assert wf.step("check_sla").parameters == {"ticket_id": "{{ticket_id}}", "plan": "gold"}
    assert wf.step("get_history").parameters == {"customer_id": "{{get_ticket.customer_id}}"}
    assert wf.step("escalate").parameters == {"ticket_id": "{{ticket_id}}", "priority": "high"}
    assert wf.name == "get_ticket_then_get_history_and_check_sla_then_escalate"
    assert wf.stats.score == pytest.approx(20 * 3 * 0.95)
    assert wf.stats.model_extra["round_trips_saved"] == pytest.approx(60)
    assert wf.step("get_ticket").cost_estimate == pytest.approx(0.002)
    assert wf.step("get_ticket").duration_estimate_ms == pytest.approx(10.0)
    assert "in either order" in wf.description and "seen 20×" in wf.description
    assert "parallel" in wf.tags


def test_chain_miner_checks_parameters_in_fit(tmp_path):
    path = make_store(tmp_path / "t.duckdb", [[call("a"), call("b")]] * 4)
    miner = ChainMiner(min_confidence=3)
    assert miner.min_confidence == 3
    con = connect(path, read_only=True)
    try:
        with pytest.raises(MiningError, match="between 0.0 and 1.0"):
            miner.fit(con)
    finally:
        con.close()


def test_chain_miner_end_to_end_with_a_categorised_library(tmp_path):
    path = make_store(tmp_path / "t.duckdb", lookup_sessions(12, random.Random(4)))
    lib = WorkflowLibrary(tmp_path / "lib.json")
    lib.register(WorkflowBuilder("old_lookup").category("airline").input("user_id")
                 .add_step("u", "get_user_details", user_id="{{user_id}}").build())
    con = connect(path, read_only=True)
    try:
        miner = ChainMiner().fit(con, library=lib)
    finally:
        con.close()
    (chain,), (wf,) = miner.chains_, miner.workflows_
    assert chain.tools == ("get_user_details", "get_reservation_details")
    assert wf.category == "airline"
    assert wf.step("get_reservation").map_over == "{{get_user.reservations}}"
    assert len(wf.stats.example_sessions) == 5
    assert set(miner.stats_) >= {"frequent", "reliable", "cohesive", "closed"}


@pytest.mark.parametrize("as_frame", [False, True])
def test_pattern_detector_accepts_records_and_frames(as_frame):
    rng = random.Random(9)
    logs = []
    for i in range(6):
        uid = f"u{i}"
        orders = [f"o{rng.randrange(10**6)}"]
        logs += [{"session_id": f"s{i}", "seq": 1, "tool_name": "find_user", "arguments": {"email": f"{uid}@x.org"},
                  "output": {"user_id": uid, "orders": orders}},
                 {"session_id": f"s{i}", "seq": 2, "tool_name": "get_order", "arguments": {"order_id": orders[0]},
                  "output": {"status": "ok"}}]
    detector = PatternDetector(min_frequency=3, min_success_rate=0.8)
    (seq,) = detector.analyze_logs(pd.DataFrame(logs) if as_frame else logs)
    assert (seq.tools, seq.frequency, seq.sessions, seq.success_rate) == (("find_user", "get_order"), 6, 6, 1.0)
    wf = detector.suggest_workflow(seq)
    assert wf.steps[1].parameters == {"order_id": "{{find_user.orders[0]}}"}
    assert detector.suggest_workflow(["find_user", "get_order"]) is wf


def test_pattern_detector_explains_misuse():
    detector = PatternDetector()
    with pytest.raises(MiningError, match="call analyze_logs"):
        detector.suggest_workflow(["a", "b"])
    with pytest.raises(MiningError, match="list of call records"):
        detector.analyze_logs("logs.jsonl")
    detector.analyze_logs([{"session_id": f"s{i}", "tool": t, "seq": k} for i in range(4) for k, t in enumerate("ab")])
    with pytest.raises(MiningError, match="no detected sequence x -> y"):
        detector.suggest_workflow(["x", "y"])


@pytest.mark.parametrize("bound, expected", [(True, [("search_flights", "book_flight")]), (False, [])])
def test_a_weak_junction_is_kept_only_when_data_flows_across_it(tmp_path, bound, expected):
    rng = random.Random(8)
    sessions = []
    others = ["get_weather", "convert_currency", "get_visa_rules", "get_offer"]
    for i in range(200):
        flights = [f"F{rng.randrange(10**6)}" for _ in range(2)]
        pick = rng.random()
        if pick < 0.25:  # search, then book what it found (or, without dataflow, something else)
            booked = flights[0] if bound else f"F{rng.randrange(10**6)}"
            sessions.append([call("search_flights", {"to": f"c{i}"}, flights), call("book_flight", {"flight": booked})])
        elif pick < 0.5:  # search, then something else
            sessions.append([call("search_flights", {"to": f"c{i}"}, flights), call(rng.choice(others), {"q": i})])
        elif pick < 0.75:  # book what another tool offered
            sessions.append([call(rng.choice(others), {"u": i}, {"f": flights[1]}), call("book_flight", {"flight": flights[1]})])
        else:  # unrelated calls
            sessions.append([call(t, {"q": i}) for t in rng.sample(others, 2)])
    path = make_store(tmp_path / "t.duckdb", sessions)
    con = connect(path, read_only=True)
    try:
        miner = ChainMiner().fit(con)
    finally:
        con.close()
    assert [c.tools for c in miner.chains_ if c.tools[0] == "search_flights"] == expected
    if bound:
        chain, wf = miner.chains_[0], miner.workflows_[0]
        assert chain.confidence < 0.5 and chain.dataflow_junctions == (1,)
        assert wf.step("book_flight").parameters == {"flight": "{{search_flights[0]}}"}


def test_awkward_logs_are_mined_without_crashing(tmp_path):
    sessions = []
    for i in range(12):
        sessions.append([
            call("svc.lookup user", {"id": f"u{i}", "blob": "x" * 200_000}, f"ID-{i}"),     # huge args, plain string result
            call("ünïcode tool", {"ref": f"ID-{i}"}, [f"a{i}", f"b{i}"]),                   # list result
            call("no args tool", None, None),                                              # nothing logged
            call("json-string", {"q": f"ID-{i}"}, '{"items": [{"id": "I%d"}]}' % i),        # JSON held in a string
            call("uses item", {"item_id": f"I{i}"}, "ok", success=i != 0)])
    sessions += [[call("lonely")] for _ in range(5)]
    path = make_store(tmp_path / "t.duckdb", sessions)
    con = connect(path, read_only=True)
    try:
        (wf,) = ChainMiner().fit(con).workflows_
    finally:
        con.close()
    steps = {s.tool_name: s for s in wf.steps}
    assert steps["ünïcode tool"].parameters == {"ref": "{{svc_lookup_user}}"}
    assert steps["no args tool"].parameters == {} and steps["no args tool"].sources["*"].kind == "unknown"
    assert steps["json-string"].parameters == {"q": "{{svc_lookup_user}}"}
    assert steps["uses item"].parameters == {"item_id": "{{json_string.items[0].id}}"}
    assert steps["svc.lookup user"].parameters["blob"] == "x" * 200_000
    assert wf.stats.success_rate == pytest.approx(11 / 12, abs=1e-4)


@pytest.mark.parametrize("sessions", [8, 100, 3000])
@pytest.mark.parametrize("apart, seen", [(1, True), (2, True), (3, False), (11, False)])
def test_the_flow_screen_looks_back_as_far_as_a_chain_can_reach(sessions, apart, seen):
    """A value handed on ``apart`` calls later counts only within one chain's span ((max_length - 1) steps here)."""
    import duckdb

    from chainmine.miner.chains.mine import find_chains
    from chainmine.miner.chains.params import MiningParams
    from chainmine.miner.store import init_schema
    from chainmine.miner.synthesis.screen import flow_screen

    con = duckdb.connect()
    init_schema(con)
    con.execute("INSERT INTO tools SELECT i + 1, 't' || i FROM range(12) r(i)")
    # Sessions of t0..t11; t0's result holds a token that the call `apart` later is given.
    con.execute("""INSERT INTO calls (id, session_id, seq, tool_id, success, args, result)
        SELECT s * 100 + k, 's' || s, k, k + 1, true,
               CASE WHEN k = $apart THEN json_object('token', 'tok-' || s) ELSE json_object('q', 'q' || s || '-' || k) END,
               CASE WHEN k = 0 THEN json_object('token', 'tok-' || s) ELSE json_object('r', 'r' || s || '-' || k) END
        FROM range($n) a(s), range(12) b(k)""", {"n": sessions, "apart": apart})
    search = find_chains(con, MiningParams(min_frequency=3, max_length=3, max_gap=0))
    assert flow_screen(search).likely(1, 1 + apart) is seen
    search.close()
