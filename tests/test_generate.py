"""The synthetic log generator: determinism, ground truth, dataflow, noise, failures, demo tools, CLI."""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from itertools import permutations

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from chainmine.library.templates import lookup, parse_path
from chainmine.miner.cli import cli
from chainmine.miner.generate import (FIELDS, SCENARIOS, GenerateError, LogGenerator, generate_logs, generate_records,
                            truth_path_for)
from chainmine.miner.generate.tools import TOOLS

SESSIONS = 1500


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A mixed log written to disk, its truth, and the same rows annotated with what was planted."""
    out = tmp_path_factory.mktemp("gen") / "mixed.jsonl"
    report = generate_logs(out, sessions=SESSIONS, seed=11)
    truth = json.loads(truth_path_for(out).read_text())
    rows = list(generate_records(sessions=SESSIONS, seed=11, annotate=True))
    return out, report, truth, rows


def occurrences(rows):
    """Planted occurrences: (workflow, number) -> list of (position, row), in file order."""
    found = defaultdict(list)
    for pos, row in enumerate(rows):
        tag = row["_planted"]
        if tag is not None:
            found[(tag["workflow"], tag["occurrence"])].append((pos, row))
    return found


def complete(truth, rows):
    """The occurrences written with every step, per workflow name."""
    steps = {w["name"]: len(w["steps"]) for w in truth["workflows"]}
    done = defaultdict(list)
    for (name, _), calls in occurrences(rows).items():
        if {row["_planted"]["step"] for _, row in calls} == set(range(steps[name])):
            done[name].append(calls)
    return done


def by_step(calls):
    """step index -> the calls of that step (a retried step keeps its last attempt last)."""
    out = defaultdict(list)
    for _, row in calls:
        out[row["_planted"]["step"]].append(row)
    return out


# ------------------------------------------------------------------ determinism
@pytest.mark.parametrize("name", ["logs.jsonl", "logs.jsonl.gz", "logs.csv", "logs.csv.gz", "logs.parquet"])
def test_same_seed_gives_byte_identical_files(tmp_path, name):
    a, b = tmp_path / "a" / name, tmp_path / "b" / name
    generate_logs(a, sessions=150, seed=5)
    generate_logs(b, sessions=150, seed=5)
    assert a.read_bytes() == b.read_bytes()
    assert truth_path_for(a).read_bytes() == truth_path_for(b).read_bytes()


@pytest.mark.parametrize("name", ["w.jsonl", "w.csv", "w.parquet"])
def test_worker_processes_write_the_same_bytes(tmp_path, name):
    one, two = tmp_path / "one" / name, tmp_path / "two" / name
    generate_logs(one, sessions=2600, seed=8, workers=1)
    generate_logs(two, sessions=2600, seed=8, workers=2)
    assert one.read_bytes() == two.read_bytes()
    assert truth_path_for(one).read_bytes() == truth_path_for(two).read_bytes()


def test_another_seed_gives_other_logs(tmp_path):
    generate_logs(tmp_path / "a.jsonl", sessions=100, seed=1)
    generate_logs(tmp_path / "b.jsonl", sessions=100, seed=2)
    assert (tmp_path / "a.jsonl").read_bytes() != (tmp_path / "b.jsonl").read_bytes()


@pytest.mark.parametrize("name", ["x.jsonl", "x.jsonl.gz", "x.parquet"])
def test_files_hold_exactly_the_generated_records(tmp_path, name):
    out = tmp_path / name
    report = generate_logs(out, sessions=80, seed=4, scenario="research")
    expected = list(generate_records(sessions=80, seed=4, scenario="research"))
    if name.endswith(".parquet"):
        got = pq.read_table(out).to_pylist()
        for row, want in zip(got, expected):
            # args and object/list results are JSON text, a string result is the string itself
            row["args"] = json.loads(row["args"])
            if not isinstance(want["result"], str):
                row["result"] = json.loads(row["result"])
    else:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(out, "rt") as fh:
            got = [json.loads(line) for line in fh]
    assert got == expected
    assert report.calls == len(expected) == json.loads(truth_path_for(out).read_text())["generator"]["calls"]
    assert all(list(row) == list(FIELDS) for row in got[:50])


# ----------------------------------------------------------------- ground truth
def test_truth_counts_what_was_written(mixed):
    _, report, truth, rows = mixed
    done = complete(truth, rows)
    sessions = {name: {calls[0][1]["session_id"] for calls in occ} for name, occ in done.items()}
    for wf in truth["workflows"]:
        assert wf["occurrences"] == len(done[wf["name"]]) > 50, wf["name"]
        assert wf["sessions"] == len(sessions[wf["name"]]), wf["name"]
    assert truth["generator"] == {"seed": 11, "sessions": SESSIONS, "scenario": "mixed", "calls": len(rows)}
    assert report.occurrences == sum(w["occurrences"] for w in truth["workflows"])


def _matches(sequence, steps, max_gap=1):
    """Count non-overlapping matches of ``steps`` (a list of alternatives per position) in ``sequence``."""
    count, i = 0, 0
    while i < len(sequence):
        end = _match_at(sequence, i, steps, max_gap)
        if end is None:
            i += 1
        else:
            count, i = count + 1, end
    return count


def _match_at(sequence, start, steps, gaps):
    pos = start
    for k, tool in enumerate(steps):
        if pos < len(sequence) and sequence[pos] == tool:
            pos += 1
        elif k > 0 and gaps and pos + 1 < len(sequence) and sequence[pos + 1] == tool:
            gaps, pos = gaps - 1, pos + 2
        else:
            return None
    return pos


def test_tool_sequences_in_the_log_match_truth_occurrences(mixed):
    """Counted from the written file alone: runs collapsed, one stray call allowed, commuting steps either way."""
    out, _, truth, _ = mixed
    sessions = defaultdict(list)
    with open(out) as fh:
        for line in fh:
            rec = json.loads(line)
            sessions[rec["session_id"]].append(rec["tool"])
    collapsed = [[t for i, t in enumerate(seq) if i == 0 or seq[i - 1] != t] for seq in sessions.values()]
    for wf in truth["workflows"]:
        variants = {tuple(o["tools"]) for o in wf.get("orders", [])} or {tuple(wf["tools"])}
        found = sum(_matches(seq, list(v)) for seq in collapsed for v in variants)
        assert wf["occurrences"] <= found <= wf["occurrences"] * 1.05 + 3, wf["name"]


def test_truth_shape(mixed):
    _, _, truth, _ = mixed
    assert set(SCENARIOS) >= {"devops", "support", "research", "commerce", "mixed"}
    names = [w["name"] for w in truth["workflows"]]
    assert len(names) == len(set(names)) >= 12
    for wf in truth["workflows"]:
        assert 2 <= len(wf["steps"]) <= 6
        assert wf["tools"] == [s["tool"] for s in wf["steps"]]
        for i, step in enumerate(wf["steps"]):
            assert set(step) >= {"tool", "map", "parallel_group", "parameters"}
            assert step["map"] == ("map_over" in step)
            for param in step["parameters"].values():
                assert param["kind"] in ("input", "constant", "bound", "item")
                if param["kind"] == "bound":
                    assert 0 <= param["step"] < i and isinstance(param["path"], str)
                if param["kind"] == "item":
                    assert step["map"]
    kinds = Counter(p["kind"] for w in truth["workflows"] for s in w["steps"] for p in s["parameters"].values())
    assert min(kinds[k] for k in ("input", "constant", "bound", "item")) >= 3
    per_domain = Counter(w["domain"] for w in truth["workflows"])
    assert set(per_domain) == {"support", "devops", "research", "commerce"} and min(per_domain.values()) >= 3


# --------------------------------------------------------------------- dataflow
def test_parameters_hold_what_the_truth_says(mixed):
    _, _, truth, rows = mixed
    done = complete(truth, rows)
    checked = Counter()
    for wf in truth["workflows"]:
        for calls in done[wf["name"]]:
            steps = by_step(calls)
            inputs = {}
            for i, spec in enumerate(wf["steps"]):
                for k, call in enumerate(steps[i]):
                    for name, p in spec["parameters"].items():
                        value = call["args"][name]
                        if p["kind"] == "constant":
                            assert value == p["value"]
                        elif p["kind"] == "input":
                            assert inputs.setdefault(p["name"], value) == value
                        elif p["kind"] == "bound":
                            source = steps[p["step"]][-1]
                            assert source["success"], "a step ran on a failed step's result"
                            assert value == lookup(source["result"], parse_path(p["path"]))
                        else:
                            source = steps[spec["map_over"]["step"]][-1]["result"]
                            element = lookup(source, parse_path(spec["map_over"]["path"]))[k]
                            assert value == lookup(element, parse_path(p["path"]))
                        checked[p["kind"]] += 1
    assert min(checked.values()) > 100


@pytest.fixture(scope="module")
def travel():
    """The opt-in travel scenario's truth and annotated rows (the shapes of real logs)."""
    rows = list(generate_records(sessions=400, seed=5, scenario="travel", annotate=True))
    gen = LogGenerator(sessions=400, seed=5, scenario="travel")
    for _ in gen.batches():
        pass
    return gen.truth(), rows


def test_travel_picks_credentials_and_rewards_hold_what_the_truth_says(travel):
    truth, rows = travel
    done = complete(truth, rows)
    picked, keys = Counter(), defaultdict(set)
    for wf in truth["workflows"]:
        assert wf["occurrences"] == len(done[wf["name"]]) > 30 and wf["shapes"]
        for calls in done[wf["name"]]:
            steps = by_step(calls)
            for i, spec in enumerate(wf["steps"]):
                for name, p in spec["parameters"].items():
                    value = steps[i][-1]["args"][name]
                    if p["kind"] == "selection":
                        options = lookup(steps[p["step"]][-1]["result"], parse_path(p["path"]))
                        picked[(wf["name"], options.index(value))] += 1
                    elif p["kind"] == "secret":
                        keys[p["name"]].add(value)
        if "reward" in wf["shapes"]:
            sessions = [calls[0][1]["session_outcome"] for calls in done[wf["name"]]]
            assert wf["outcome_rate"] == round(sum(o == 1.0 for o in sessions) / len(sessions), 4) < 0.3
            assert wf["success_rate"] > 0.9  # the calls worked; the sessions did not
    assert {name for name, k in picked if k > 0} == {"travel_review_booking", "travel_cancel_booking"}
    assert {name: len(v) for name, v in keys.items()} == {"api_key": 1, "token": 1}
    assert truth["workflows"][5]["inputs"]["api_key"] == {"type": "string", "secret": True}
    effects = {p["effect"] for w in truth["workflows"] for s in w["steps"] for p in s["parameters"].values()
               if p["kind"] == "selection"}
    assert effects == {"read", "destructive"}


def test_travel_back_end_and_wrapped_ids(travel):
    _, rows = travel
    confirmations = {r["result"]["confirmation_id"] for r in rows if r["tool"] == "book_hotel" and r["success"]}
    wrapped = [r["result"]["ids"] for r in rows if r["tool"] == "find_itineraries" and r["success"]]
    assert len(confirmations) == 1 and wrapped and all(len(ids) == 1 for ids in wrapped)
    roles = defaultdict(set)
    for r in rows:
        if (r["_planted"] or {}).get("workflow") == "travel_find_flights" and r["tool"] == "search_airport":
            roles[r["_planted"]["step"]].add(r["args"]["query"])
    assert sorted(roles) == [0, 1] and not roles[0] & roles[1]  # origin and destination cities never mix


def test_equivalent_sources_really_hold_the_same_value(mixed):
    _, _, truth, rows = mixed
    done = complete(truth, rows)
    listed = 0
    for wf in truth["workflows"]:
        for i, spec in enumerate(wf["steps"]):
            for name, p in spec["parameters"].items():
                for alt in p.get("equivalent", []):
                    listed += 1
                    for calls in done[wf["name"]][:40]:
                        steps = by_step(calls)
                        if not all(c["success"] for _, c in calls):
                            continue
                        value = steps[i][-1]["args"][name]
                        if alt["kind"] == "bound":
                            assert lookup(steps[alt["step"]][-1]["result"], parse_path(alt["path"])) == value
    assert listed >= 3


def test_map_steps_call_once_per_element_in_order_and_consecutively(mixed):
    _, _, truth, rows = mixed
    done = complete(truth, rows)
    maps = [(wf, i) for wf in truth["workflows"] for i, s in enumerate(wf["steps"]) if s["map"]]
    assert len(maps) >= 3
    lengths = Counter()
    for wf, i in maps:
        spec = wf["steps"][i]
        for calls in done[wf["name"]]:
            mine = [(pos, row) for pos, row in calls if row["_planted"]["step"] == i]
            source = by_step(calls)[spec["map_over"]["step"]][-1]["result"]
            elements = lookup(source, parse_path(spec["map_over"]["path"]))
            assert [row["_planted"]["item"] for _, row in mine] == list(range(len(elements)))
            positions = [pos for pos, _ in mine]
            assert positions == list(range(positions[0], positions[0] + len(positions)))
            lengths[len(elements)] += 1
    assert len(lengths) >= 3, "lists of several lengths"


def test_commuting_steps_appear_in_both_orders(mixed):
    _, _, truth, rows = mixed
    done = complete(truth, rows)
    grouped = [wf for wf in truth["workflows"] if any(s["parallel_group"] is not None for s in wf["steps"])]
    assert grouped
    for wf in grouped:
        group = [i for i, s in enumerate(wf["steps"]) if s["parallel_group"] is not None]
        orders = Counter()
        for calls in done[wf["name"]]:
            seen = [row["_planted"]["step"] for _, row in calls if row["_planted"]["step"] in group]
            orders[tuple(dict.fromkeys(seen))] += 1
        total = sum(orders.values())
        assert set(orders) == set(permutations(group)), wf["name"]
        assert min(orders.values()) >= 0.3 * total, (wf["name"], orders)
        for i in group:  # both depend on the step before the group only
            deps = {p["step"] for p in wf["steps"][i]["parameters"].values() if p["kind"] == "bound"}
            assert deps <= {min(group) - 1}


# --------------------------------------------------------------------- failures
def test_unreliable_chains_fail_often_and_reliable_ones_rarely(mixed):
    _, _, truth, rows = mixed
    done = complete(truth, rows)
    rates = {}
    for wf in truth["workflows"]:
        occ = done[wf["name"]]
        rates[wf["name"]] = sum(all(row["success"] for _, row in calls) for calls in occ) / len(occ)
        assert rates[wf["name"]] == pytest.approx(wf["success_rate"], abs=1e-4)
    unreliable = [w["name"] for w in truth["workflows"] if not w["reliable"]]
    assert unreliable
    for wf in truth["workflows"]:
        if wf["reliable"]:
            assert rates[wf["name"]] >= 0.9, wf["name"]
        else:
            assert rates[wf["name"]] < 0.7, wf["name"]
            assert wf["occurrences"] >= 0.6 * max(w["occurrences"] for w in truth["workflows"]), "frequent"


def test_failed_calls_look_like_failures(mixed):
    _, _, _, rows = mixed
    failed = [r for r in rows if not r["success"]]
    assert 0.02 < len(failed) / len(rows) < 0.15
    for r in failed:
        assert r["error"] and ": " in r["error"]
        assert isinstance(r["result"], str) and r["result"].startswith("Error: ")
    assert all(r["error"] is None for r in rows if r["success"])
    per_tool = Counter(r["tool"] for r in failed)
    assert len(per_tool) >= 10 and len({r["error"] for r in failed}) >= 5


# ------------------------------------------------------------------------ noise
def test_sessions_mix_workflows_noise_and_single_calls(mixed):
    _, _, _, rows = mixed
    sessions = defaultdict(list)
    for r in rows:
        sessions[r["session_id"]].append(r)
    assert len(sessions) == SESSIONS
    sizes = Counter(len(v) for v in sessions.values())
    assert sizes[1] >= 0.03 * SESSIONS
    stray_between = stray_inside = 0
    for calls in sessions.values():
        tags = [c["_planted"] for c in calls]
        occ = [(t["workflow"], t["occurrence"]) if t else None for t in tags]
        for k in range(1, len(calls) - 1):
            if occ[k] is None and occ[k - 1] is not None and occ[k - 1] == occ[k + 1]:
                stray_inside += 1
            elif occ[k] is None:
                stray_between += 1
        for k in range(len(calls) - 1):
            # a stray call never forms a run with its neighbour (it would pass for a retry or a map element)
            if tags[k] is None or tags[k + 1] is None:
                assert calls[k]["tool"] != calls[k + 1]["tool"] or (tags[k] and tags[k + 1])
        assert len({o for o in occ if o}) <= 3
    assert stray_inside >= 20 and stray_between >= SESSIONS // 2
    tools = Counter(r["tool"] for r in rows)
    assert len(tools) >= 50
    assert sum(1 for n in tools.values() if n < len(rows) / 1000) >= 10, "a long tail of rare tools"


def test_timestamps_agents_users_costs(mixed):
    _, _, _, rows = mixed
    previous = {}
    for r in rows:
        prev = previous.get(r["session_id"])
        if prev is not None:
            assert r["ts"] > prev["ts"] and r["seq"] == prev["seq"] + 1
            assert r["agent"] == prev["agent"] and r["user"] == prev["user"]
        else:
            assert r["seq"] == 1
        assert r["ts"].endswith("Z") and r["duration_ms"] >= 0
        previous[r["session_id"]] = r
    assert len({r["agent"] for r in rows}) >= 5 and len({r["user"] for r in rows}) >= 20
    costed = {r["tool"] for r in rows if r["cost"] is not None}
    assert 3 <= len(costed) < len({r["tool"] for r in rows})
    assert all(r["cost"] > 0 for r in rows if r["cost"] is not None)
    outcome = defaultdict(lambda: 1.0)
    for r in rows:
        if not r["success"]:
            outcome[r["session_id"]] = 0.0
    assert all(r["session_outcome"] == outcome[r["session_id"]] for r in rows)


@pytest.mark.parametrize("scenario", ["devops", "support", "research", "commerce", "travel"])
def test_single_domain_scenarios_plant_only_their_workflows(tmp_path, scenario):
    out = tmp_path / "s.jsonl"
    generate_logs(out, sessions=120, seed=2, scenario=scenario)
    truth = json.loads(truth_path_for(out).read_text())
    assert {w["domain"] for w in truth["workflows"]} == {scenario}
    assert truth["generator"]["scenario"] == scenario
    assert all(w["occurrences"] > 0 for w in truth["workflows"])
    other = {t for wf in SCENARIOS["mixed"].workflows if wf.domain != scenario for t in wf.tools}
    assert not other & {json.loads(line)["tool"] for line in open(out)}


# ------------------------------------------------------------------- demo tools
def test_demo_tools_reproduce_the_logged_results(mixed):
    _, _, _, rows = mixed
    seen = Counter()
    for r in rows:
        if r["success"] and seen[r["tool"]] < 5:
            seen[r["tool"]] += 1
            assert TOOLS[r["tool"]](**r["args"]) == r["result"], r["tool"]
    assert set(seen) <= set(TOOLS) and len(seen) >= 50


@pytest.mark.parametrize("tool, args", [
    ("get_user_details", {"user_id": ""}),
    ("get_user_details", {"user_id": 42}),
    ("find_user_id_by_email", {"email": "not-an-email"}),
    ("github_get_issue", {"repo": "no-slash", "number": 12}),
    ("github_list_issues", {"repo": "acme/x", "state": "sideways"}),
    ("issue_refund", {"order_id": "#W1", "amount": -5, "reason": "customer_request"}),
    ("fetch_url", {"url": "ftp://example.org"}),
    ("describe_columns", {"dataset_id": "ds_1", "columns": []}),
    ("add_to_cart", {"cart_id": "c", "sku": "SKU-1", "quantity": 0}),
    ("jira_search", {"query": "wrong argument name"}),
])
def test_demo_tools_refuse_clearly_invalid_input(tool, args):
    with pytest.raises((ValueError, TypeError)):
        TOOLS[tool](**args)


def test_demo_tools_chain_like_the_planted_workflow():
    user = TOOLS["get_user_details"](user_id="mia_li_3668")
    details = [TOOLS["get_reservation_details"](reservation_id=r) for r in user["reservations"]]
    assert [d["reservation_id"] for d in details] == user["reservations"]
    assert TOOLS["find_user_id_by_email"](email=user["email"]) == "mia_li_3668"


# -------------------------------------------------------------------------- API
@pytest.mark.parametrize("kwargs, message", [
    ({"sessions": 0}, "sessions must be a positive integer"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"scenario": "space"}, "unknown scenario 'space'"),
])
def test_bad_arguments_raise_generate_error(tmp_path, kwargs, message):
    with pytest.raises(GenerateError, match=message):
        generate_logs(tmp_path / "x.jsonl", **kwargs)
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize("out, truth", [
    ("data/sample_logs.jsonl", "data/sample_logs.truth.json"),
    ("big.jsonl.gz", "big.truth.json"),
    ("t.parquet", "t.truth.json"),
    ("calls.csv.gz", "calls.truth.json"),
    ("noext", "noext.truth.json"),
])
def test_truth_path_is_beside_the_log(out, truth):
    assert truth_path_for(out).as_posix() == truth


# -------------------------------------------------------------------------- CLI
def test_cli_generate_writes_logs_and_truth(tmp_path):
    out = tmp_path / "logs" / "agents.jsonl"
    result = CliRunner().invoke(cli, ["generate", "--out", str(out), "--sessions", "60", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["calls"] == sum(1 for _ in open(out)) and report["sessions"] == 60
    assert report["truth_path"] == str(tmp_path / "logs" / "agents.truth.json")
    assert len(report["planted"]) == report["workflows"] >= 12


def test_cli_generate_summary_names_the_paths(tmp_path):
    out = tmp_path / "d.parquet"
    truth = tmp_path / "elsewhere.json"
    result = CliRunner().invoke(cli, ["generate", "-o", str(out), "-n", "30", "--scenario", "devops",
                                      "--truth", str(truth)])
    assert result.exit_code == 0, result.output
    assert "devops_deploy_service" in result.stdout and str(truth) in result.stdout.replace("\n", "")
    assert pq.read_table(out).num_rows > 0 and json.loads(truth.read_text())["generator"]["scenario"] == "devops"


@pytest.mark.parametrize("args, code, message", [
    (["--out", "{tmp}/x.parquet", "--format", "jsonl"], 1, "does not match --format jsonl"),
    (["--out", "{tmp}/x.parquet.gz", "--format", "parquet"], 1, "Parquet is compressed already"),
    (["--out", "{tmp}/x.csv", "--format", "jsonl"], 1, "the .csv suffix does not match --format jsonl"),
    (["--out", "{tmp}/x.jsonl", "--truth", "{tmp}/x.jsonl"], 1, "would overwrite the log"),
    (["--out", "{tmp}/x.jsonl", "--scenario", "space"], 2, "space"),
    (["--out", "{tmp}/x.jsonl", "--sessions", "0"], 2, "0"),
])
def test_cli_generate_bad_input(tmp_path, args, code, message):
    result = CliRunner().invoke(cli, ["generate", *(a.format(tmp=tmp_path) for a in args)])
    assert result.exit_code == code
    assert message in result.stderr
    if code == 1:
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / "x.jsonl").exists()


STORED = ("id", "session_id", "ts", "seq", "tool", "success", "error", "duration_ms", "cost", "args::VARCHAR",
          "result::VARCHAR", "call_id", "agent", '"user"', "session_outcome")


def _ingested(path, db) -> list[tuple]:
    from chainmine.miner.ingest import ingest_paths
    from chainmine.miner.store import connect

    con = connect(db)
    try:
        report = ingest_paths(con, [path])
        assert (report.rejected, report.duplicates) == (0, 0)
        return con.execute(f"SELECT {', '.join(STORED)}, line FROM calls_v ORDER BY line").fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("name", ["calls.csv", "calls.csv.gz"])
def test_csv_out_is_csv_that_ingests_to_the_calls_of_the_jsonl(tmp_path, name):
    out = tmp_path / name
    result = CliRunner().invoke(cli, ["generate", "--out", str(out), "--sessions", "120", "--seed", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["format"] == "csv" + (".gz" if name.endswith(".gz") else "")
    generate_logs(tmp_path / "calls.jsonl", sessions=120, seed=5)
    text = (gzip.open(out, "rt") if name.endswith(".gz") else open(out)).read()
    assert text.startswith(",".join(FIELDS) + "\n")
    from_csv = _ingested(out, tmp_path / "csv.duckdb")
    from_jsonl = _ingested(tmp_path / "calls.jsonl", tmp_path / "jsonl.duckdb")
    assert [row[:-1] for row in from_csv] == [row[:-1] for row in from_jsonl] and len(from_csv) > 500
    # Results with line breaks span lines: each call points at the line its record starts on.
    lines = text.split("\n")
    assert any(from_csv[i + 1][-1] - from_csv[i][-1] > 1 for i in range(len(from_csv) - 1))
    assert all(lines[row[-1] - 1].startswith(f'"{row[1]}",') for row in from_csv)


def test_committed_sample_is_what_the_generator_writes(tmp_path):
    from pathlib import Path

    data = Path(__file__).resolve().parent.parent / "data"
    out = tmp_path / "sample_logs.jsonl"
    generate_logs(out, sessions=300, seed=7)
    assert out.read_bytes() == (data / "sample_logs.jsonl").read_bytes(), \
        "regenerate: chainmine generate --out data/sample_logs.jsonl --sessions 300 --seed 7"
    assert truth_path_for(out).read_bytes() == (data / "sample_logs.truth.json").read_bytes()


def test_parquet_out_ingests_to_the_calls_of_the_jsonl(tmp_path):
    """String results in Parquet are the strings themselves, not their JSON text (no double encoding)."""
    generate_logs(tmp_path / "calls.parquet", sessions=120, seed=5)
    generate_logs(tmp_path / "calls.jsonl", sessions=120, seed=5)
    from_parquet = _ingested(tmp_path / "calls.parquet", tmp_path / "pq.duckdb")
    from_jsonl = _ingested(tmp_path / "calls.jsonl", tmp_path / "jsonl.duckdb")
    assert [row[:-1] for row in from_parquet] == [row[:-1] for row in from_jsonl] and len(from_parquet) > 500
