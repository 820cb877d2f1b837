"""Drift: per-window success rates of workflows and the flag on a recent drop."""

from __future__ import annotations

import datetime as dt

import pytest

from chainmine.miner.drift import parse_window, workflow_drift
from chainmine.miner.errors import MiningError
from test_recommend import T0, chain, lookup, make_store

WORKFLOWS = [lookup(), chain("booking", "search", "book", "pay")]


def week_of_sessions(days=14, per_day=6, broken_from_day=None, broken_tool="book"):
    """``per_day`` sessions a day (lookup then booking); ``broken_tool`` fails from ``broken_from_day`` on."""
    sessions, failing = [], set()
    for day in range(days):
        for k in range(per_day):
            sid = f"d{day:02d}_{k}"
            sessions.append((sid, "get_user get_res search book pay", T0 + dt.timedelta(days=day, hours=k)))
            if broken_from_day is not None and day >= broken_from_day:
                failing.add((sid, broken_tool))
    return sessions, failing


@pytest.mark.parametrize("text, expected", [
    ("day", ("day", 24)), ("week", ("week", 168)), ("6 hours", ("hours", 6)),
    ("12h", ("hours", 12)), ("1 hour", ("hours", 1)), (48, ("hours", 48)),
])
def test_windows_are_parsed(text, expected):
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["fortnight", "0 hours", "-3", "6 days", ""])
def test_bad_windows_say_what_is_allowed(text):
    with pytest.raises(MiningError, match="use day, week or a number of hours"):
        parse_window(text)


def test_a_workflow_whose_tool_starts_failing_is_flagged(tmp_path):
    sessions, failing = week_of_sessions(broken_from_day=13)
    con = make_store(tmp_path / "d.duckdb", sessions, failing)
    rows = {r.workflow: r for r in workflow_drift(con, WORKFLOWS, "day")}
    broken, fine = rows["booking"], rows["lookup"]
    assert broken.flagged and not fine.flagged
    assert broken.latest_rate == 0.0 and broken.earlier_rate == 1.0 and broken.earlier_low < 1.0
    assert broken.reason.startswith("dropped: 0% (0 of 6) in the latest window vs 100% (78 of 78) before")
    assert broken.chance < 1e-6
    assert fine.reason.startswith("steady")


def test_one_failure_in_a_small_latest_window_is_a_dip_not_drift(tmp_path):
    # 13 clean days, then 1 failure among 6 on the last one: 83% is below the earlier
    # lower bound (95%), but 6 occurrences cannot tell that from noise
    sessions, _ = week_of_sessions()
    con = make_store(tmp_path / "d.duckdb", sessions, failing={("d13_0", "book")})
    booking = workflow_drift(con, WORKFLOWS, "day")[1]
    assert booking.latest_rate < booking.earlier_low and booking.chance > 0.01
    assert not booking.flagged and booking.reason.startswith("dip within noise")


def test_windows_hold_the_occurrences_of_each_period(tmp_path):
    sessions, failing = week_of_sessions(days=3, per_day=4, broken_from_day=2)
    con = make_store(tmp_path / "d.duckdb", sessions, failing)
    booking = workflow_drift(con, WORKFLOWS, "day")[1]
    assert [(w.start.date(), w.occurrences, w.successes) for w in booking.windows] == [
        (T0.date(), 4, 4), ((T0 + dt.timedelta(days=1)).date(), 4, 4), ((T0 + dt.timedelta(days=2)).date(), 4, 0)]
    assert booking.to_dict()["windows"][2]["success_rate"] == 0.0


def test_steady_failure_rate_is_not_drift(tmp_path):
    # the same tool fails in one session of every day: nothing changed lately
    sessions, _ = week_of_sessions()
    failing = {(sid, "book") for sid, _, _ in sessions if sid.endswith("_0")}
    rows = workflow_drift(make_store(tmp_path / "d.duckdb", sessions, failing), WORKFLOWS, "day")
    assert not any(r.flagged for r in rows)


def test_hour_windows_split_a_day(tmp_path):
    sessions, failing = week_of_sessions(days=1, per_day=24, broken_from_day=None)
    failing = {(sid, "book") for sid, _, start in sessions if start.hour >= 18}
    rows = workflow_drift(make_store(tmp_path / "d.duckdb", sessions, failing), WORKFLOWS, "6 hours")
    booking = rows[1]
    assert [w.occurrences for w in booking.windows] == [6, 6, 6, 6]
    assert booking.flagged


@pytest.mark.parametrize("days, broken_from_day, fragment", [
    (1, None, "too few earlier occurrences"),          # nothing before the latest window
    (14, None, "steady"),
])
def test_reasons_explain_why_nothing_is_flagged(tmp_path, days, broken_from_day, fragment):
    sessions, failing = week_of_sessions(days=days, broken_from_day=broken_from_day)
    rows = workflow_drift(make_store(tmp_path / "d.duckdb", sessions, failing), WORKFLOWS, "day")
    assert all(fragment in r.reason and not r.flagged for r in rows)


def test_a_workflow_absent_lately_or_never_is_not_flagged(tmp_path):
    sessions, _ = week_of_sessions(days=3)
    sessions.append(("late", "get_user get_res", T0 + dt.timedelta(days=5)))
    rows = workflow_drift(make_store(tmp_path / "d.duckdb", sessions), [*WORKFLOWS, chain("ghost", "x", "y")], "day")
    assert [r.reason for r in rows[1:]] == ["no occurrences in the latest window", "no occurrences in the logs"]
    assert "too few occurrences in the latest window (1; need 3)" in rows[0].reason


def test_drift_on_generator_logs_flags_the_workflow_that_starts_failing(tmp_path):
    from chainmine.miner.generate import generate_logs
    from chainmine.miner.ingest import ingest_paths
    from chainmine.miner.estimator import ChainMiner
    from chainmine.miner.store import connect

    report = generate_logs(tmp_path / "logs.jsonl", sessions=1500, seed=11, scenario="mixed")
    con = connect(tmp_path / "gen.duckdb")
    ingest_paths(con, [report.path])
    workflows = ChainMiner().fit(con).workflows_
    broken = next(wf for wf in workflows if wf.tools == ["get_customer", "get_order", "track_shipment"])
    # the shipment tracker breaks on the log's last day
    con.execute("""UPDATE calls SET success = false, error = 'TrackingError: upstream down'
                   WHERE tool_id = (SELECT tool_id FROM tools WHERE tool = 'track_shipment')
                     AND ts >= (SELECT date_trunc('day', max(ts)) FROM calls)""")
    rows = {r.workflow: r for r in workflow_drift(con, workflows, "day")}
    assert rows[broken.name].flagged, rows[broken.name].reason
    assert rows[broken.name].latest_rate == 0.0 and len(rows[broken.name].windows) >= 10  # about two weeks of days
    assert [name for name, r in rows.items() if r.flagged] == [broken.name]


# -- chainmine stats --drift -------------------------------------------------------------

@pytest.fixture
def drift_cli(tmp_path):
    from chainmine.library.store import WorkflowLibrary

    sessions, failing = week_of_sessions(broken_from_day=13)
    make_store(tmp_path / "d.duckdb", sessions, failing).close()
    lib = WorkflowLibrary(tmp_path / "lib.json")
    for wf in [*WORKFLOWS, chain("dropped", "get_user", "pay", status="rejected")]:
        lib.register(wf)
    return ["--db", str(tmp_path / "d.duckdb"), "--library", str(tmp_path / "lib.json")]


def stats(args):
    from click.testing import CliRunner
    from chainmine.miner.cli import cli

    return CliRunner().invoke(cli, ["stats", "--drift", *args])


def test_stats_drift_json_lists_windows_and_flags(drift_cli):
    import json

    result = stats([*drift_cli, "--window", "day", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["workflow"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"lookup", "booking"}                    # rejected workflows are left out
    assert rows["booking"]["flagged"] and not rows["lookup"]["flagged"]
    assert len(rows["booking"]["windows"]) == 14
    assert rows["booking"]["windows"][-1]["success_rate"] == 0.0


def test_stats_drift_table_marks_the_drop(drift_cli):
    result = stats([*drift_cli, "--window", "day"])
    assert result.exit_code == 0
    booking = next(line for line in result.stdout.splitlines() if "booking" in line)
    assert "DRIFT" in booking


def test_stats_drift_default_week_window_dilutes_one_bad_day(drift_cli):
    import json

    # two Monday-aligned weeks; the second holds one broken day in seven (36 of 42 succeed),
    # below the first week's lower bound but not clearly: a dip, not drift
    rows = {r["workflow"]: r for r in json.loads(stats([*drift_cli, "--json"]).stdout)}
    booking = rows["booking"]
    assert [w["occurrences"] for w in booking["windows"]] == [42, 42]
    assert booking["windows"][1]["successes"] == 36
    assert not booking["flagged"] and booking["reason"].startswith("dip within noise")


@pytest.mark.parametrize("extra, fragment", [
    (["--window", "fortnight"], "error: unknown window 'fortnight'"),
    (["--library", "{tmp}/none.json"], "error: the workflow library"),
])
def test_stats_drift_bad_input_is_one_line(drift_cli, tmp_path, extra, fragment):
    result = stats([*drift_cli, *[e.format(tmp=tmp_path) for e in extra]])
    assert result.exit_code == 1
    assert result.stderr.startswith(fragment) and result.stderr.count("\n") == 1


@pytest.mark.parametrize("successes, total, rate, expected", [
    (3, 3, 0.9, 1.0),                        # nothing below all-succeeded
    (2, 3, 0.9, 1 - 0.9 ** 3),               # at least one failure in three
    (0, 4, 0.5, 0.5 ** 4),
    (1, 4, 0.5, 5 / 16),
    (0, 2000, 0.99, 0.0),                    # far in the tail, no underflow error
])
def test_binomial_tail_is_the_chance_of_so_few_successes(successes, total, rate, expected):
    from chainmine.miner.evaluation import binomial_tail

    assert binomial_tail(successes, total, rate) == pytest.approx(expected, abs=1e-12)
