"""Dataflow shapes real agents produce: selections, same-id back-ends, roles, credentials, statistics."""

from __future__ import annotations

import json
import random

import pytest

from chainmine.library.validate import workflow_problems
from chainmine.miner.chains import Chain
from chainmine.miner.synthesis import build_workflow, infer_dataflow
from chainmine.miner.synthesis.evidence import agrees, constant_holds, looks_secret, secret_name
from test_synthesis import occ, rec


def _user_then(tool, n=8, seed=3, fetch_all=False):
    """get_user returns a list of reservations; the agent then calls ``tool`` on one (or all) of them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ids = [f"R{i}{k}X" for k in range(rng.randint(2, 4))]
        picked = ids if fetch_all else [rng.choice(ids[1:])]
        out.append(occ(rec({"user_id": f"u{i}"}, {"reservations": ids}),
                       tuple(rec({"reservation_id": r}, {"id": r}) for r in picked)))
    return out


def test_a_read_only_step_picking_one_element_maps_over_the_whole_list():
    flow = infer_dataflow(["get_user", "get_reservation"], [0, 1], _user_then("get"), effects=["read", "read"])
    step = flow.steps[1]
    assert step.map_over == "{{get_user.reservations}}"
    assert step.parameters == {"reservation_id": "{{item}}"}
    assert step.sources["reservation_id"].model_extra["selection"] is True
    assert list(flow.inputs) == ["user_id"]


def test_a_destructive_step_picking_one_element_takes_an_input_checked_against_the_list():
    flow = infer_dataflow(["get_user", "cancel"], [0, 1], _user_then("cancel"), effects=["read", "destructive"])
    assert flow.steps[1].map_over is None
    assert flow.steps[1].parameters == {"reservation_id": "{{reservation_id}}"}
    assert flow.inputs["reservation_id"].choices == "{{get_user.reservations}}"
    assert flow.steps[1].references == {0}  # the pick is data flow: cohesion keeps it, the order is fixed


def test_without_side_effect_classes_a_selection_is_never_mapped():
    flow = infer_dataflow(["get_user", "get_reservation"], [0, 1], _user_then("get"))
    assert flow.steps[1].map_over is None


def test_a_whole_list_fetched_in_order_is_a_map_even_for_writes():
    flow = infer_dataflow(["get_user", "notify"], [0, 1], _user_then("notify", fetch_all=True),
                          effects=["read", "write"])
    assert flow.steps[1].map_over == "{{get_user.reservations}}"


def test_an_id_the_back_end_returns_every_time_is_still_bound_not_constant():
    occs = [occ(rec({"sku": f"S{i}"}, {"order_id": 12446, "currency": "USD"}),
                rec({"order_id": 12446, "currency": "USD"}, {"status": "cancelled"})) for i in range(20)]
    flow = infer_dataflow(["place_order", "cancel_order"], [0, 1], occs)
    # the id flows; the currency word merely repeats and stays a constant
    assert flow.steps[1].parameters == {"order_id": "{{place_order.order_id}}", "currency": "USD"}


def test_an_echo_of_the_earlier_steps_own_constant_is_no_data_flow():
    # a result echoing the constant it was given does not wire two runs of a workflow together
    occs = [occ(rec({"sku": f"S{i}", "warehouse": "WH-7"}, {"warehouse": "WH-7", "n": i}),
                rec({"warehouse": "WH-7"}, {})) for i in range(20)]
    assert infer_dataflow(["check", "restock"], [0, 1], occs).steps[1].parameters == {"warehouse": "WH-7"}


@pytest.mark.parametrize("n, sessions, expected", [(3, 3, "input"), (6, 6, "input"), (12, 12, "constant"),
                                                     (12, 1, "input")])
def test_a_constant_needs_occurrences_across_sessions(n, sessions, expected):
    occs = [occ(rec({"q": f"q{i}"}, {"n": i}), rec({"q": f"q{i}", "mode": "fast"}, None)) for i in range(n)]
    if sessions == 1:
        occs = [type(o)("one-session", o.steps) for o in occs]
    flow = infer_dataflow(["first", "second"], [0, 1], occs)
    assert flow.steps[1].sources["mode"].kind == expected


def test_one_odd_occurrence_in_seven_does_not_flip_a_binding():
    occs = [occ(rec({"q": f"q{i}"}, {"geo_id": f"G{i}"}), rec({"geo_id": f"G{i}" if i else "G999"})) for i in range(7)]
    step = infer_dataflow(["search", "hotels"], [0, 1], occs).steps[1]
    assert step.parameters == {"geo_id": "{{search.geo_id}}"}
    # the reviewer sees the share that agrees and the occurrence that does not
    assert step.sources["geo_id"].support == round(6 / 7, 3)
    assert step.sources["geo_id"].model_extra["counter_example"] == {"session": occs[0].session_id, "value": "G999"}
    assert agrees(6, 7) and not agrees(2, 3) and not constant_holds(3, 3, 3)


@pytest.mark.parametrize("args", [
    {"user": "u{i}", "token": "tok-{i}-static"},
    {"user": "u{i}", "auth": {"password": "hunter2"}},
    {"user": "u{i}", "key": "sk-live-9f8A7b6C5d4E3f2G1h0JkLmN"},
])
def test_credentials_are_secret_inputs_never_constants_or_examples(args):
    # the user varies; the credential is the same in every session, so it would otherwise be a constant
    occs = [occ(rec(json.loads(json.dumps(args).replace('"u{i}"', f'"u{i}"')), {"ok": True}),
                rec({"user": f"u{i}"}, None)) for i in range(15)]
    wf = build_workflow(Chain(("login", "get_profile"), 15, 15, 1.0, 0.8, None, None, 2.0, 1.0), occs)
    text = json.dumps(wf.to_dict())
    assert "hunter2" not in text and "sk-live" not in text and "tok-" not in text
    secret = [name for name, spec in wf.inputs.items() if spec.secret]
    assert len(secret) == 1 and wf.inputs[secret[0]].example is None


@pytest.mark.parametrize("path, value, secret", [
    (["api_key"], "x", True), (["Authorization"], "x", True), (["max_tokens"], 256, False),
    (["user_id"], "mia_li_3668", False), (["note"], "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.SflKxwRJSMeKKF2QT4", True),
    (["order_id"], "123e4567-e89b-12d3-a456-426614174000", False),
])
def test_what_counts_as_a_credential(path, value, secret):
    assert (secret_name(path) or looks_secret(value)) is secret


def _airports(n=8):
    cities = ["rome", "oslo", "lima", "nice", "pisa", "bonn", "riga", "kiev", "doha", "baku"]
    out = []
    for i in range(n):
        a, b = cities[i % 10], cities[(i + 3) % 10]
        find = tuple(rec({"query": q}, {"skyId": q.upper(), "entityId": f"{q}-{i}"}) for q in (a, b))
        out.append(occ(find, rec({"originSkyId": a.upper(), "originEntityId": f"{a}-{i}",
                                  "destinationSkyId": b.upper(), "destinationEntityId": f"{b}-{i}"}, {"flights": []})))
    return out


def test_repeated_calls_in_different_roles_become_separate_steps():
    wf = build_workflow(Chain(("search_airport", "search_flights"), 8, 8, 1.0, 0.7, None, None, 3.0, 1.0), _airports())
    assert workflow_problems(wf) == []
    assert wf.tools == ["search_airport", "search_airport", "search_flights"]
    assert wf.steps[2].parameters == {
        "originSkyId": "{{search_airport.skyId}}", "originEntityId": "{{search_airport.entityId}}",
        "destinationSkyId": "{{search_airport_2.skyId}}", "destinationEntityId": "{{search_airport_2.entityId}}"}
    # two lookups that pass each other nothing need not wait for each other
    assert wf.steps[1].depends_on == [] and sorted(wf.steps[2].depends_on) == ["search_airport", "search_airport_2"]


def test_true_repeats_stay_one_step():
    occs = [occ((rec({"q": f"a{i}"}, "Error: timeout", success=False), rec({"q": f"a{i}"}, {"id": f"I{i}"})),
                rec({"id": f"I{i}"})) for i in range(6)]
    wf = build_workflow(Chain(("search", "get"), 6, 6, 1.0, 0.6, None, None, 3.0, 1.0), occs)
    assert wf.tools == ["search", "get"]


def test_a_repeated_step_is_represented_by_its_last_call():
    # the agent looked at two reservations and cancelled the second: cancel reuses that input
    occs = [occ((rec({"reservation_id": f"A{i}"}, {"id": f"A{i}"}), rec({"reservation_id": f"B{i}"}, {"id": f"B{i}"})),
                rec({"reservation_id": f"B{i}"}, {"ok": True})) for i in range(6)]
    occs += [occ(rec({"reservation_id": f"C{i}"}, {"id": f"C{i}"}), rec({"reservation_id": f"C{i}"}, {"ok": True}))
             for i in range(6)]
    wf = build_workflow(Chain(("get_reservation", "cancel_reservation"), 12, 12, 1.0, 0.7, None, None, 2.5, 1.0), occs)
    assert list(wf.inputs) == ["reservation_id"]
    assert [s.effect for s in wf.steps] == ["read", "destructive"]


# --- what an agent can do with a suggestion: one call, savings, outcomes, nesting -------------------------

from chainmine.miner.estimator import ChainMiner  # noqa: E402
from chainmine.miner.store import connect  # noqa: E402
from test_chains import call, make_store  # noqa: E402


def _booking_sessions(n, seen_before):
    """search → book: the booking date appears in an earlier call of the session or nowhere."""
    sessions = []
    for i in range(n):
        date = f"2024-05-{10 + i % 18:02d}"
        lead = [call("get_calendar", {"user": f"u{i}"}, {"free": [date]})] if seen_before else []
        lead += [call("ping", {}, "ok"), call("log_note", {"n": i}, "ok")]  # too far apart to join one chain
        sessions.append(lead + [call("search_flights", {"to": f"C{i}"}, {"flight": f"F{i}"}),
                                call("book_flight", {"flight": f"F{i}", "date": date}, {"ok": True})])
    return sessions


@pytest.mark.parametrize("seen_before, share", [(True, 1.0), (False, None)])
def test_one_call_share_counts_inputs_already_seen_before_the_chain(tmp_path, seen_before, share):
    db = make_store(tmp_path / "t.duckdb", _booking_sessions(12, seen_before))
    con = connect(db, read_only=True)
    try:
        wfs = {tuple(w.tools): w for w in ChainMiner(min_frequency=5, max_length=2).fit(con).workflows_}
    finally:
        con.close()
    stats = wfs[("search_flights", "book_flight")].stats.model_extra
    # without a logged conversation, a date seen nowhere before cannot be judged either way
    assert stats["one_call_share"] == share
    assert stats["one_call_checked"] == (12 if seen_before else 0)


def test_outcome_rate_ranks_and_filters_chains_in_failing_sessions(tmp_path):
    good = [[call("get_user", {"id": f"u{i}"}, {"plan": f"p{i}"}), call("get_plan", {"plan": f"p{i}"}, {})]
            for i in range(10)]
    bad = [[call("find_order", {"q": f"q{i}"}, {"order": f"o{i}"}), call("refund", {"order": f"o{i}"}, {})]
           for i in range(10)]
    db = make_store(tmp_path / "t.duckdb", good + bad)
    con = connect(db)
    con.execute("UPDATE calls SET session_outcome = CASE WHEN session_id < 's00010' THEN 1 "
                "WHEN session_id < 's00013' THEN 1 ELSE 0 END")
    con.close()
    con = connect(db, read_only=True)
    try:
        rated = {w.tools[0]: w.stats.model_extra["outcome_rate"] for w in ChainMiner().fit(con).workflows_}
        kept = [w.tools[0] for w in ChainMiner(min_outcome=0.5).fit(con).workflows_]
    finally:
        con.close()
    assert rated == {"get_user": 1.0, "find_order": 0.3}
    assert kept == ["get_user"]


def test_round_trips_saved_count_only_the_calls_a_workflow_replaces(tmp_path):
    # get_user then get_reservation for each of its reservations: 1 + k calls replaced by one
    sessions = []
    for i in range(10):
        ids = [f"R{i}{k}" for k in range(1 + i % 3)]
        sessions.append([call("get_user", {"id": f"u{i}"}, {"reservations": ids})] +
                        [call("get_reservation", {"id": r}, {"id": r}) for r in ids])
    db = make_store(tmp_path / "t.duckdb", sessions)
    con = connect(db, read_only=True)
    try:
        (wf,) = ChainMiner().fit(con).workflows_
    finally:
        con.close()
    replaced = sum(len(s) for s in sessions)
    assert wf.steps[1].map_over == "{{get_user.reservations}}"
    assert wf.stats.model_extra["round_trips_saved"] == pytest.approx(replaced - len(sessions))


@pytest.mark.parametrize("logged, passed", [("Paris", "paris "), ("New York", "new  york"), (12.3456, 12.35)])
def test_retyped_or_rounded_values_still_bind_with_the_evidence_kept(logged, passed):
    occs = []
    for i in range(8):
        value = f"{logged} {i}" if isinstance(logged, str) else logged + i
        seen = f"{passed} {i}" if isinstance(passed, str) else round(passed + i, 2)
        occs.append(occ(rec({"q": f"q{i}"}, {"city": value}), rec({"where": seen})))
    step = infer_dataflow(["search", "weather"], [0, 1], occs).steps[1]
    assert step.parameters == {"where": "{{search.city}}"}
    assert step.sources["where"].model_extra["loose_matches"] == 8
