"""The miner on real agent logs nobody here wrote (slices in tests/data/real, with their licences)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from chainmine.miner.cli import cli

REAL = Path(__file__).parent / "data" / "real"


def _mine(tmp_path, log, *args):
    db = tmp_path / "real.duckdb"
    runner = CliRunner()
    ingest = runner.invoke(cli, ["ingest", str(log), "--db", str(db), "--quiet"])
    assert ingest.exit_code == 0, ingest.output
    mined = runner.invoke(cli, ["mine", "--db", str(db), "--json", "--quiet", *args])
    assert mined.exit_code == 0, mined.output
    return {tuple(s["tool_name"] for s in w["steps"]): w for w in json.loads(mined.stdout)}


@pytest.fixture(scope="module")
def tau(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tau")
    log = tmp / "airline.jsonl"
    with gzip.open(REAL / "tau_airline" / "gpt-4o-airline.json.gz", "rt") as f, log.open("w") as out:
        for s in json.load(f):
            out.write(json.dumps({"id": f"{s['task_id']}-{s.get('trial', 0)}", "messages": s["traj"],
                                  "reward": s["reward"]}) + "\n")
    return _mine(tmp, log)


def test_tau_lookups_of_a_users_reservations_map_over_the_list_the_agent_picked_from(tau):
    wf = tau[("get_user_details", "get_reservation_details")]
    # the agent fetched them all, in order, only sometimes; it always picked from the user's list
    assert wf["steps"][1]["map_over"] == "{{get_user.reservations}}"
    assert wf["steps"][1]["parameters"] == {"reservation_id": "{{item}}"}
    assert list(wf["inputs"]) == ["user_id"]
    assert [s["effect"] for s in wf["steps"]] == ["read", "read"]
    saved = wf["stats"]["round_trips_saved"]
    assert wf["stats"]["frequency"] < saved < wf["stats"]["frequency"] * 4


def test_tau_a_cancellation_reuses_the_looked_up_reservation_and_is_destructive(tau):
    wf = tau[("get_reservation_details", "cancel_reservation")]
    assert list(wf["inputs"]) == ["reservation_id"]
    assert wf["steps"][1]["parameters"]["reservation_id"] == "{{reservation_id}}"
    assert wf["steps"][1]["effect"] == "destructive"


def test_tau_rewards_give_each_suggestion_an_outcome_rate(tau):
    rates = [w["stats"]["outcome_rate"] for w in tau.values()]
    assert rates and all(r is not None and 0 <= r <= 1 for r in rates)
    assert any(r < 1 for r in rates)  # GPT-4o fails some airline tasks


@pytest.fixture(scope="module")
def nestful(tmp_path_factory):
    return _mine(tmp_path_factory.mktemp("nestful"), REAL / "nestful" / "slice.jsonl")


def test_nestful_origin_and_destination_searches_are_two_steps_wired_to_their_own_parameters(nestful):
    airports = [w for tools, w in nestful.items() if tools[:2] == ("SkyScrapperSearchAirport",) * 2]
    assert len(airports) == 1
    first, second, search = airports[0]["steps"]
    assert search["parameters"]["originSkyId"] == "{{" + first["id"] + ".skyId}}"
    assert search["parameters"]["destinationEntityId"] == "{{" + second["id"] + ".entityId}}"


def test_nestful_one_odd_occurrence_does_not_cost_a_binding(nestful):
    wf = nestful[("Tripadvisor_Search_Restaurant_Location", "Tripadvisor_Search_Restaurants")]
    assert wf["steps"][1]["parameters"] == {"locationId": "{{" + wf["steps"][0]["id"] + ".locationId}}"}
    assert wf["steps"][1]["sources"]["locationId"]["support"] < 1


def test_nestful_lookups_that_share_a_country_fold_into_one_suggestion(nestful):
    countries = [w for tools, w in nestful.items() if tools[0] == "Get_Country_Details_By_Country_Name"]
    assert len(countries) == 1
    steps = countries[0]["steps"]
    assert all(s["parameters"] == {"location": "{{get_country.short_name}}"} for s in steps[1:])
    assert all(s["depends_on"] == ["get_country"] for s in steps[1:])  # stats and news run side by side


def test_tau_suggestions_are_the_ones_an_agent_could_call_with_what_it_knew(tau):
    # the date of a flight search, a transfer summary: told or written mid-chain, so not one call
    assert ("get_reservation_details", "search_direct_flight") not in tau
    assert ("get_reservation_details", "transfer_to_human_agents") not in tau
    assert all(w["stats"]["one_call_share"] >= 0.5 for w in tau.values())
    assert tau[("get_user_details", "get_reservation_details")]["stats"]["one_call_share"] == 1.0


SHARED = Path(__file__).resolve().parents[2] / "shared" / "real-logs" / "tau_airline"


@pytest.mark.skipif(not (SHARED / "oneshot.py").exists(), reason="the shared τ-bench replay script is not beside the clone")
def test_tau_workflows_are_one_call_and_replay_against_the_real_tools():
    import re
    import shutil
    import subprocess
    import sys

    chainmine = shutil.which("chainmine") or str(Path(sys.executable).with_name("chainmine"))
    out = subprocess.run([sys.executable, str(SHARED / "oneshot.py"), chainmine], capture_output=True, text=True,
                         timeout=600, check=True).stdout
    total = re.search(r"one-call (\d+)/(\d+) occurrences .*?(\d+) logged calls replaceable", out)
    one, occurrences, calls = map(int, total.groups())
    assert one >= 0.8 * occurrences and calls >= 350, out
    # every read-only workflow replays; one that cancels runs only with --yes (tests/test_runner_safety.py)
    for line in out.splitlines():
        replayed = re.search(r"replayed (\d+)/(\d+)", line)
        if replayed and "cancel" not in line and not line.startswith("airline:"):
            assert replayed.group(1) == replayed.group(2), line
