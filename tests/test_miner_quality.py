"""Mining quality against the project's generator (ground truth) and on OpenAI Chat agent logs.

Done means: every planted reliable workflow comes back (recall 1.0), at least
80% of suggestions are planted workflows, at least 90% of parameters are wired
as planted (bindings, inputs, constants, map items), list iteration comes back
as a map step, commuting steps as parallel branches, and the frequent but
unreliable workflow is not suggested. The ``travel`` scenario adds the shapes
of real logs: a pick from a list (a read maps over the list, a write takes an
input with ``choices``), credentials (secret inputs), one tool in two roles.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from chainmine.library.templates import format_path, parse_path
from chainmine.miner.generate import generate_logs
from chainmine.miner.ingest import ingest_paths
from chainmine.miner.estimator import ChainMiner
from chainmine.miner.store import connect

CASES = [("mixed", 1500, 7), ("mixed", 1500, 23), ("mixed", 1200, 31), ("commerce", 1000, 5), ("travel", 600, 11)]


def planted_shape(wf: dict) -> tuple[frozenset, ...]:
    slots: list[frozenset] = []
    group = None
    previous = None
    for step in wf["steps"]:
        g = step.get("parallel_group")
        if g is not None and slots and g == group:
            slots[-1] = slots[-1] | {step["tool"]}
        elif step["tool"] == previous:
            pass  # one tool in two roles: independent lookups, one level of the mined DAG
        else:
            slots.append(frozenset([step["tool"]]))
        group, previous = g, step["tool"]
    return tuple(slots)


def mined_shape(wf) -> tuple[frozenset, ...]:
    """Slots from the wiring: steps at the same depth of ``depends_on`` run in parallel."""
    depth: dict[str, int] = {}
    for step in wf.steps:
        depth[step.id] = 1 + max((depth[d] for d in step.depends_on), default=-1)
    levels: dict[int, set] = {}
    for step in wf.steps:
        levels.setdefault(depth[step.id], set()).add(step.tool_name)
    return tuple(frozenset(levels[k]) for k in sorted(levels))


def _expected(source: dict, ids: list[str]) -> tuple:
    kind = source["kind"]
    if kind == "constant":
        return ("constant", json.dumps(source["value"], sort_keys=True))
    if kind in ("input", "secret") or (kind == "selection" and source["effect"] != "read"):
        return ("input",)
    if kind == "selection":  # a read-only pick maps over the whole list
        within = format_path(parse_path(source["within"])) if source.get("within") else ""
        return ("template", "{{item" + within + "}}")
    root = ids[source["step"]] if kind == "bound" else "item"
    path = format_path(parse_path(source["path"])) if source["path"] else ""
    return ("template", "{{" + root + path + "}}")


def _mined(wf, value) -> tuple:
    if isinstance(value, str) and value.startswith("{{") and value.endswith("}}"):
        root = value[2:-2].split(".")[0].split("[")[0]
        return ("input",) if root in wf.inputs else ("template", value)
    return ("constant", json.dumps(value, sort_keys=True))


def ingest_and_mine(log, db):
    """Ingest ``log`` with the regular ingest, then mine the store read-only with default options."""
    con = connect(db)
    report = ingest_paths(con, [log])
    con.close()
    con = connect(db, read_only=True)
    try:
        return ChainMiner().fit(con), report
    finally:
        con.close()


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}-seed{c[2]}")
def outcome(request, tmp_path_factory):
    scenario, sessions, seed = request.param
    d = tmp_path_factory.mktemp(f"q{seed}")
    report = generate_logs(d / "logs.jsonl", sessions=sessions, seed=seed, scenario=scenario, workers=1)
    truth = json.loads(open(report.truth_path).read())
    miner, _ = ingest_and_mine(d / "logs.jsonl", d / "t.duckdb")
    planted = {planted_shape(w): w for w in truth["workflows"]}
    mined = {mined_shape(wf): wf for wf in miner.workflows_}
    return planted, mined


def found_pairs(planted, mined):
    """``(truth, workflow, mined step per truth step, step ids in truth order)`` for every reliable workflow found.

    The k-th truth step of a tool is the k-th mined step of that tool (a tool called in two roles is two steps).
    """
    for shape, truth in planted.items():
        if truth["reliable"] and shape in mined:
            wf = mined[shape]
            seen: Counter = Counter()
            steps = []
            for s in truth["steps"]:
                steps.append([m for m in wf.steps if m.tool_name == s["tool"]][seen[s["tool"]]])
                seen[s["tool"]] += 1
            yield truth, wf, steps, [m.id for m in steps]


def test_every_reliable_planted_workflow_is_found(outcome):
    planted, mined = outcome
    missing = [w["name"] for shape, w in planted.items() if w["reliable"] and shape not in mined]
    assert missing == []


def test_most_suggestions_are_planted_workflows(outcome):
    planted, mined = outcome
    hits = sum(1 for shape in mined if shape in planted)
    assert mined and hits / len(mined) >= 0.8, sorted(wf.name for s, wf in mined.items() if s not in planted)


def test_the_unreliable_workflow_is_not_suggested(outcome):
    planted, mined = outcome
    assert [w["name"] for s, w in planted.items() if not w["reliable"] and s in mined] == []


def test_parameters_are_wired_as_planted(outcome):
    planted, mined = outcome
    right = total = 0
    wrong = []
    for truth, wf, steps, ids in found_pairs(planted, mined):
        for step, got in zip(truth["steps"], steps):
            for name, source in step["parameters"].items():
                total += 1
                accepted = [_expected(source, ids)] + [_expected(e, ids) for e in source.get("equivalent", [])]
                if _mined(wf, got.parameters.get(name)) in accepted:
                    right += 1
                else:
                    wrong.append((truth["name"], step["tool"], name, got.parameters.get(name)))
    assert total and right / total >= 0.9, wrong


def test_list_iteration_comes_back_as_a_map_step(outcome):
    planted, mined = outcome
    checked = 0
    for truth, _, steps, ids in found_pairs(planted, mined):
        for step, got in zip(truth["steps"], steps):
            over = step.get("map_over") or read_selection(step)
            if over:
                path = format_path(parse_path(over["path"])) if over["path"] else ""
                assert got.map_over == "{{" + ids[over["step"]] + path + "}}"
                checked += 1
            else:
                assert got.map_over is None, (truth["name"], step["tool"])
    scenario_has_map = any(step.get("map") or read_selection(step)
                           for w in planted.values() if w["reliable"] for step in w["steps"])
    assert (checked > 0) == scenario_has_map


def read_selection(step: dict) -> dict | None:
    """The planted pick from a list of a read-only step (mined as a map over that list), if any."""
    picks = [p for p in step["parameters"].values() if p["kind"] == "selection" and p["effect"] == "read"]
    return picks[0] if picks else None


def test_writing_picks_are_inputs_with_choices_and_credentials_secret_inputs(outcome):
    planted, mined = outcome
    checked = 0
    for truth, wf, steps, ids in found_pairs(planted, mined):
        for step, got in zip(truth["steps"], steps):
            for name, source in step["parameters"].items():
                if source["kind"] == "selection" and source["effect"] != "read":
                    spec = wf.inputs[got.parameters[name][2:-2]]
                    assert spec.choices == "{{" + ids[source["step"]] + format_path(parse_path(source["path"])) + "}}"
                    checked += 1
                elif source["kind"] == "secret":
                    spec = wf.inputs[got.parameters[name][2:-2]]
                    assert spec.secret and spec.example is None
                    checked += 1
    assert (checked > 0) == any(p["kind"] in ("selection", "secret") for w in planted.values() if w["reliable"]
                                for s in w["steps"] for p in s["parameters"].values())


def test_commuting_steps_come_back_as_parallel_branches(outcome):
    planted, mined = outcome
    groups = [(shape, slot) for shape in planted if shape in mined for slot in shape if len(slot) > 1]
    for shape, slot in groups:
        steps = [s for s in mined[shape].steps if s.tool_name in slot]
        assert len({tuple(s.depends_on) for s in steps}) == 1  # the branches share their parent
        ids = {s.id for s in steps}
        assert all(not (set(s.depends_on) & ids) for s in steps)
    scenario_has_parallel = any(len(slot) > 1 for shape, w in planted.items() if w["reliable"] for slot in shape)
    assert bool(groups) == scenario_has_parallel


def _chat_log(path, conversations: int, seed: int) -> None:
    """OpenAI Chat conversations: look a user up, then fetch each reservation it lists."""
    rng = random.Random(seed)
    lines = []
    for i in range(conversations):
        uid = f"{rng.choice(['mia', 'omar', 'li', 'ana'])}_{rng.randrange(10**4)}"
        res = [f"{rng.choice('ABCDEFGH')}{rng.randrange(10**5):05d}" for _ in range(rng.randint(1, 3))]
        msgs = [{"role": "system", "content": "You are an airline support agent."},
                {"role": "user", "content": f"Hi, I'm {uid}. Can you check my bookings?"}]

        def tool_call(cid, name, args, result):
            msgs.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]})
            msgs.append({"role": "tool", "tool_call_id": cid, "content": json.dumps(result)})

        if rng.random() < 0.3:
            tool_call(f"c{i}_w", "get_weather", {"city": rng.choice(["SFO", "JFK"])}, {"temp_c": rng.randrange(30)})
        tool_call(f"c{i}_u", "get_user_details", {"user_id": uid},
                  {"user_id": uid, "name": uid.split("_")[0].title(), "membership": "gold", "reservations": res})
        for k, r in enumerate(res):
            tool_call(f"c{i}_{k}", "get_reservation_details", {"reservation_id": r},
                      {"reservation_id": r, "origin": "SFO", "destination": "JFK", "status": "confirmed"})
        msgs.append({"role": "assistant", "content": f"You have {len(res)} reservation(s)."})
        lines.append(json.dumps({"id": f"conv_{i}", "messages": msgs}))
    path.write_text("\n".join(lines) + "\n")


def test_openai_chat_logs_give_a_map_over_the_lookup_result(tmp_path):
    log = tmp_path / "chat.jsonl"
    _chat_log(log, 40, seed=3)
    miner, report = ingest_and_mine(log, tmp_path / "t.duckdb")
    assert report.files[0]["format"] == "openai" and report.rejected == 0
    wf = miner.workflows_[0]  # the best-ranked suggestion
    assert wf.tools == ["get_user_details", "get_reservation_details"]
    lookup, detail = wf.steps
    assert lookup.parameters == {"user_id": "{{user_id}}"}
    assert detail.map_over == "{{get_user.reservations}}"
    assert detail.parameters == {"reservation_id": "{{item}}"}
    assert detail.depends_on == ["get_user"]
    assert wf.stats.frequency == 40
