"""Mining the shapes of real agent logs, planted by the generator's ``travel`` scenario.

Each planted workflow of the scenario names its shape in the ground truth
(``shapes``); each test finds the mined workflow with the planted tools and
checks that the shape came back as the miner promises: a read-only pick from a
list becomes a map over the list, a destructive pick an input with
``choices``, an id a seeded back-end always returns a binding, a tool called
twice in two roles two steps, an id wrapped in a one-element list a ``[0]``
binding, a credential a secret input stored nowhere, and a chain in sessions
that fail their task a low ``outcome_rate`` (left out with ``min_outcome``).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from chainmine.miner.generate import generate_logs
from chainmine.miner.ingest import ingest_paths
from chainmine.miner.estimator import ChainMiner
from chainmine.miner.store import connect

SEEDS = (3, 17)
SESSIONS = 400


@pytest.fixture(scope="module", params=SEEDS, ids=lambda s: f"travel-seed{s}")
def mined(request, tmp_path_factory):
    """Generated travel logs, their truth and rows, and the workflows mined with and without ``min_outcome``."""
    d = tmp_path_factory.mktemp(f"travel{request.param}")
    report = generate_logs(d / "logs.jsonl", sessions=SESSIONS, seed=request.param, scenario="travel", workers=1)
    truth = json.loads(open(report.truth_path).read())
    rows = [json.loads(line) for line in open(d / "logs.jsonl")]
    con = connect(d / "t.duckdb")
    ingest_paths(con, [d / "logs.jsonl"])
    con.close()
    con = connect(d / "t.duckdb", read_only=True)
    try:
        plain = ChainMiner().fit(con).workflows_
        strict = ChainMiner(min_outcome=0.5).fit(con).workflows_
    finally:
        con.close()
    return truth, rows, plain, strict


def planted(truth, shape):
    (wf,) = [w for w in truth["workflows"] if shape in w.get("shapes", ())]
    return wf


def found(workflows, tools):
    """The mined workflow whose steps call ``tools`` in order, or ``None``."""
    hits = [wf for wf in workflows if [s.tool_name for s in wf.steps] == list(tools)]
    return hits[0] if hits else None


def selection(mined, effect):
    """The mined workflow of the planted pick from a list whose picking step has side-effect class ``effect``."""
    truth, _, plain, _ = mined
    (wf,) = [w for w in truth["workflows"] if "selection" in w["shapes"]
             and w["steps"][1]["parameters"]["booking_id"]["effect"] == effect]
    got = found(plain, [s["tool"] for s in wf["steps"]])
    assert got is not None
    return got


def test_every_shape_is_planted_often_enough(mined):
    truth, _, _, _ = mined
    shapes = Counter(s for w in truth["workflows"] for s in w.get("shapes", ()))
    assert set(shapes) == {"selection", "same_id", "roles", "wrapped", "credentials", "reward"}
    assert all(w["occurrences"] >= 30 and w["sessions"] >= 30 for w in truth["workflows"])


def test_read_selection_is_mined_as_a_map_over_the_list(mined):
    got = selection(mined, "read")
    first, pick = got.steps
    assert pick.map_over == "{{" + first.id + ".bookings}}"
    assert pick.parameters == {"booking_id": "{{item}}"}
    assert pick.effect == "read" and "booking_id" not in got.inputs


def test_destructive_selection_is_an_input_checked_against_the_list(mined):
    got = selection(mined, "destructive")
    first, cancel = got.steps
    assert cancel.map_over is None and cancel.effect == "destructive"
    name = cancel.parameters["booking_id"][2:-2]
    assert got.inputs[name].choices == "{{" + first.id + ".bookings}}"
    assert cancel.parameters["reason"] == "change_of_plans"  # a planted constant stays one


def test_an_id_the_back_end_always_returns_is_bound_not_constant(mined):
    truth, rows, plain, _ = mined
    wf = planted(truth, "same_id")
    producer, consumer = (s["tool"] for s in wf["steps"])
    ids = {r["result"]["confirmation_id"] for r in rows if r["tool"] == producer and r["success"]}
    assert len(ids) == 1  # the seeded back-end really answers with one id
    got = found(plain, [producer, consumer])
    assert got is not None
    assert got.steps[1].parameters == {"confirmation_id": "{{" + got.steps[0].id + ".confirmation_id}}"}
    assert got.steps[1].depends_on == [got.steps[0].id]


def test_repeated_calls_in_two_roles_become_two_steps(mined):
    truth, _, plain, _ = mined
    wf = planted(truth, "roles")
    got = found(plain, [s["tool"] for s in wf["steps"]])
    assert got is not None
    origin, destination, flights = got.steps
    assert origin.id != destination.id
    assert flights.parameters["origin"] == "{{" + origin.id + ".code}}"
    assert flights.parameters["destination"] == "{{" + destination.id + ".code}}"
    assert set(flights.depends_on) == {origin.id, destination.id}
    assert origin.parameters["query"] != destination.parameters["query"]  # two inputs, one per role


def test_a_value_wrapped_in_a_one_element_list_is_bound_at_index_zero(mined):
    truth, _, plain, _ = mined
    wf = planted(truth, "wrapped")
    assert wf["steps"][1]["parameters"]["itinerary_id"] == {"kind": "bound", "step": 0, "path": "ids[0]"}
    got = found(plain, [s["tool"] for s in wf["steps"]])
    assert got is not None
    assert got.steps[1].parameters == {"itinerary_id": "{{" + got.steps[0].id + ".ids[0]}}"}
    assert got.steps[1].map_over is None


def test_credentials_are_secret_inputs_stored_nowhere(mined):
    truth, rows, plain, _ = mined
    wf = planted(truth, "credentials")
    secrets = {(s["tool"], name) for s in wf["steps"] for name, p in s["parameters"].items() if p["kind"] == "secret"}
    assert secrets == {("get_fare_quote", "api_key"), ("hold_fare", "token")}
    values = {r["args"][name] for r in rows for tool, name in secrets if r["tool"] == tool}
    assert len(values) == 2  # one key per credential, the same in every call: constant-looking
    got = found(plain, [s["tool"] for s in wf["steps"]])
    assert got is not None
    by_tool = {s.tool_name: s for s in got.steps}
    for tool, name in secrets:
        spec = got.inputs[by_tool[tool].parameters[name][2:-2]]
        assert spec.secret and spec.example is None
    text = json.dumps(got.to_dict())
    assert not [v for v in values if v in text]


def test_a_chain_in_failing_sessions_has_a_low_outcome_rate_and_is_left_out(mined):
    truth, _, plain, strict = mined
    wf = planted(truth, "reward")
    tools = [s["tool"] for s in wf["steps"]]
    assert wf["success_rate"] >= 0.9 and wf["outcome_rate"] < 0.3
    got = found(plain, tools)
    assert got is not None and got.stats.success_rate >= 0.9
    assert got.stats.outcome_rate is not None and abs(got.stats.outcome_rate - wf["outcome_rate"]) < 0.15
    assert found(strict, tools) is None
    kept = {tuple(s.tool_name for s in w.steps) for w in strict}
    assert kept == {tuple(s["tool"] for s in w["steps"]) for w in truth["workflows"] if w is not wf}


@pytest.mark.parametrize("shape", ["selection", "same_id", "roles", "wrapped", "credentials"])
def test_other_shapes_keep_a_good_outcome_rate(mined, shape):
    truth, _, plain, _ = mined
    for wf in [w for w in truth["workflows"] if shape in w["shapes"]]:
        got = found(plain, [s["tool"] for s in wf["steps"]])
        assert got is not None and got.stats.outcome_rate >= 0.5
