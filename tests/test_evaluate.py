"""Backtest: occurrence matching, session split, coverage, recurrence and ranking figures, CLI."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from click.testing import CliRunner

from chainmine.library.model import WorkflowStep as Step
from chainmine.library.model import WorkflowTemplate as Workflow
from chainmine.miner.cli import cli
from chainmine.miner.errors import MiningError
from chainmine.miner.evaluation.backtest import backtest, split_sessions
from chainmine.miner.evaluation import find_occurrences, ranking_scores
from chainmine.miner.store import connect
from test_recommend import T0, chain, lookup, make_store


def parallel(name="fan"):
    """a, then b and c in parallel, then d (needs both)."""
    return Workflow(name=name, steps=[
        Step(id="a", tool_name="a"),
        Step(id="b", tool_name="b", depends_on=["a"]),
        Step(id="c", tool_name="c", depends_on=["a"]),
        Step(id="d", tool_name="d", depends_on=["b", "c"])])


def optional_step():
    return Workflow(name="maybe", steps=[
        Step(id="a", tool_name="a"),
        Step(id="b", tool_name="b", depends_on=["a"], condition="{{a.ok}} == true"),
        Step(id="c", tool_name="c", depends_on=["a"])])


def with_fallback():
    return Workflow(name="fb", steps=[
        Step(id="a", tool_name="a"),
        Step(id="b", tool_name="b", depends_on=["a"], fallback_tool="b_backup")])


@pytest.mark.parametrize("workflow, tools, expected", [
    # map step: every consecutive repeat belongs to the occurrence
    (lookup(), "x get_user get_res get_res get_res y", [(1, 4, 4)]),
    (lookup(), "get_user get_res get_user get_res get_res", [(0, 1, 2), (2, 4, 3)]),
    (lookup(), "get_res get_user", []),                            # wrong order
    # parallel branches in either order, but all of them
    (parallel(), "a b c d", [(0, 3, 4)]),
    (parallel(), "a c b d", [(0, 3, 4)]),
    (parallel(), "a b d", []),
    # a conditional step may be skipped
    (optional_step(), "a b c", [(0, 2, 3)]),
    (optional_step(), "a c", [(0, 1, 2)]),
    # a fallback tool stands in for its step
    (with_fallback(), "a b_backup", [(0, 1, 2)]),
    # a tool never seen in the logs: the workflow cannot occur
    (chain("ghost", "a", "never_called"), "a b c", []),
])
def test_occurrences_follow_the_workflow_structure(tmp_path, workflow, tools, expected):
    assert occurrences_in(tmp_path, workflow, tools, max_gap=0) == expected


@pytest.mark.parametrize("tools, max_gap, expected", [
    ("get_user x get_res", 0, []),
    ("get_user x get_res", 1, [(0, 2, 2)]),                      # the gap call is not one of its calls
    ("get_user x y get_res", 1, []),
    ("get_user x y get_res get_res", 2, [(0, 4, 3)]),
    ("x get_user get_res", 1, [(1, 2, 2)]),                      # never starts on a gap call
])
def test_unrelated_calls_between_steps_up_to_max_gap(tmp_path, tools, max_gap, expected):
    assert occurrences_in(tmp_path, lookup(), tools, max_gap) == expected


def occurrences_in(tmp_path, workflow, tools, max_gap):
    con = make_store(tmp_path / "o.duckdb", [("s", tools, T0), ("pad", "a b c d b_backup get_user get_res", T0)])
    found = find_occurrences(con, [workflow], max_gap=max_gap)
    found = found[found.session_id == "s"]
    return list(zip(found.start_pos, found.end_pos, found.calls))


def test_an_occurrence_succeeds_only_when_all_its_calls_do(tmp_path):
    con = make_store(tmp_path / "o.duckdb", [("ok", "a b", T0), ("bad", "a b", T0)], failing={("bad", "b")})
    found = find_occurrences(con, [chain("ab", "a", "b")]).set_index("session_id")
    assert found.loc["ok", "succeeded"] and not found.loc["bad", "succeeded"]
    assert found.loc["ok", "started_at"] == T0


@pytest.mark.parametrize("ranks, expected", [
    ([(1, 1), (2, 1), (4, 2)], (0.25, 0.5, (1 + 0.5 + 0.25 + 0.25) / 4)),
    ([(None, 3)], (0.0, 0.0, 0.0)),
])
def test_ranking_scores(ranks, expected):
    scores = ranking_scores(ranks)
    assert (scores.hit_at_1, scores.hit_at_3, scores.mrr) == pytest.approx(expected)


# -- backtest on a small hand-made log --------------------------------------------------

class FixedMiner:
    """Stands in for the chain miner: always 'mines' the given workflows, records what it saw."""

    def __init__(self, workflows):
        self.workflows = workflows

    def fit(self, con):
        self.seen_sessions_ = sorted(r[0] for r in con.execute("SELECT DISTINCT session_id FROM calls").fetchall())
        self.workflows_ = self.workflows
        return self


def day_sessions(n=20):
    """Session i starts on day i: 'get_user get_res get_res' then 'search book pay' (even i) or 'note' (odd i)."""
    return [(f"d{i:02d}", "get_user get_res get_res " + ("search book pay" if i % 2 == 0 else "note"),
             T0 + dt.timedelta(days=i)) for i in range(n)]


WORKFLOWS = [lookup("suggested"), chain("booking", "search", "book", "pay", status="suggested")]


@pytest.fixture
def day_store(tmp_path):
    con = make_store(tmp_path / "b.duckdb", day_sessions())
    yield con
    con.close()


def test_time_split_trains_on_the_earliest_sessions(day_store):
    miner = FixedMiner(WORKFLOWS)
    report = backtest(day_store, split=0.75, by="time", miner=miner)
    assert miner.seen_sessions_ == [f"d{i:02d}" for i in range(15)]
    assert report.train == {"sessions": 15, "calls": sum(len(t.split()) for _, t, _ in day_sessions()[:15])}
    assert report.test["sessions"] == 5


def test_session_split_is_a_stable_hash_and_not_the_time_order(day_store):
    first, second = FixedMiner(WORKFLOWS), FixedMiner(WORKFLOWS)
    backtest(day_store, split=0.5, by="session", miner=first)
    backtest(day_store, split=0.5, by="session", miner=second)
    assert first.seen_sessions_ == second.seen_sessions_
    assert first.seen_sessions_ != [f"d{i:02d}" for i in range(10)]
    assert len(first.seen_sessions_) == 10


def test_coverage_round_trips_and_recurrence_on_held_out_sessions(day_store):
    report = backtest(day_store, split=0.75, by="time", miner=FixedMiner(WORKFLOWS))
    # held out: d15..d19 -> d16, d18 have 6 calls all covered; d15, d17, d19 have 4 calls, 3 covered
    assert report.test["calls"] == 2 * 6 + 3 * 4
    assert report.coverage == pytest.approx((2 * 6 + 3 * 3) / 24)
    # lookup saves 2 round-trips (3 calls -> 1) five times, booking 2 twice
    assert report.round_trips_saved == 5 * 2 + 2 * 2
    assert report.test["occurrences"] == 7 and report.test["start_points"] == 7
    assert report.recurrence == 1.0 and report.workflows == 2


def test_recommendation_uses_context_and_beats_most_frequent_first(day_store):
    report = backtest(day_store, split=0.75, by="time", miner=FixedMiner(WORKFLOWS))
    # lookup starts every session; booking starts after get_res → get_res: the context tells them apart,
    # while 'most frequent first' always says lookup and misses the two booking starts at rank 1
    assert report.hit_at_1 == 1.0 and report.mrr == 1.0
    assert report.baseline["hit_at_1"] == pytest.approx(5 / 7)
    assert report.baseline["mrr"] == pytest.approx((5 + 2 * 0.5) / 7)


def test_overlapping_occurrences_are_not_counted_twice(tmp_path):
    con = make_store(tmp_path / "b.duckdb", [(f"s{i}", "a b c", T0 + dt.timedelta(days=i)) for i in range(10)])
    workflows = [chain("ab", "a", "b"), chain("abc", "a", "b", "c")]
    report = backtest(con, split=0.5, miner=FixedMiner(workflows))
    assert report.round_trips_saved == 5 * 2          # only the longer workflow counts
    assert report.coverage == 1.0 and report.hit_at_1 == 1.0


def test_nothing_mined_is_reported_not_failed(day_store):
    report = backtest(day_store, split=0.5, miner=FixedMiner([]))
    assert report.workflows == 0 and report.hit_at_3 is None and "lower --min-frequency" in report.note


def test_same_data_and_options_give_the_same_report(day_store):
    runs = [backtest(day_store, split=0.6, by=by, miner=FixedMiner(WORKFLOWS)).to_dict()
            for by in ("session", "session")]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("sessions, split", [(8, 0.8), (9, 0.5), (30, 0.9), (12, 0.3)])
def test_too_little_data_to_split_says_how_much_is_needed(tmp_path, sessions, split):
    with pytest.raises(MiningError) as info:
        split_sessions(make_store(tmp_path / "few.duckdb", day_sessions(sessions)), split)
    needed = int(re.search(r"needs at least (\d+)", str(info.value)).group(1))
    # the figure is exact: that many sessions split, one fewer does not
    assert split_sessions(make_store(tmp_path / "enough.duckdb", day_sessions(needed)), split)[1] >= 5
    with pytest.raises(MiningError):
        split_sessions(make_store(tmp_path / "short.duckdb", day_sessions(needed - 1)), split)


def test_an_empty_store_asks_for_an_ingest(tmp_path):
    with pytest.raises(MiningError, match="chainmine ingest"):
        split_sessions(connect(tmp_path / "empty.duckdb"))


@pytest.mark.parametrize("split, by", [(0.0, "time"), (1.0, "time"), (0.5, "random")])
def test_bad_split_options_are_rejected(day_store, split, by):
    with pytest.raises(MiningError):
        split_sessions(day_store, split, by)


# -- CLI --------------------------------------------------------------------------------

def test_cli_too_little_data_is_one_line_exit_1(tmp_path):
    db = tmp_path / "small.duckdb"
    make_store(db, day_sessions(6)).close()
    result = CliRunner().invoke(cli, ["evaluate", "--db", str(db)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: too little data to split") and result.stderr.count("\n") == 1


@pytest.mark.parametrize("args", [["--split", "1.5"], ["--by", "random"], ["--min-confidence", "3"], ["--max-gap", "-1"]])
def test_cli_bad_options_are_usage_errors(tmp_path, args):
    result = CliRunner().invoke(cli, ["evaluate", *args, "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2


# -- on generator logs (the project's own synthetic agent logs with planted workflows) ----

@pytest.fixture(scope="module")
def generated_db(tmp_path_factory):
    from chainmine.miner.generate import generate_logs
    from chainmine.miner.ingest import ingest_paths

    tmp = tmp_path_factory.mktemp("gen")
    report = generate_logs(tmp / "logs.jsonl", sessions=1500, seed=11, scenario="mixed")
    con = connect(tmp / "gen.duckdb")
    ingest_paths(con, [report.path])
    con.close()
    return tmp / "gen.duckdb"


@pytest.fixture(scope="module")
def generated_report(generated_db):
    result = CliRunner().invoke(cli, ["evaluate", "--db", str(generated_db), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_held_out_hit_at_3_where_planted_workflows_start(generated_report):
    r = generated_report
    assert r["workflows"] >= 5 and r["test"]["start_points"] >= 100
    assert r["hit_at_3"] >= 0.9
    # 'most frequent first' cannot tell the domains apart; the model (tools + agent) can
    assert r["hit_at_3"] >= r["baseline"]["hit_at_3"] + 0.3
    assert r["mrr"] > r["baseline"]["mrr"] and r["hit_at_1"] > r["baseline"]["hit_at_1"]


def test_coverage_and_round_trips_are_reported(generated_report):
    r = generated_report
    assert {"split", "by", "train", "test", "workflows", "coverage", "round_trips_saved", "recurrence",
            "hit_at_1", "hit_at_3", "mrr", "baseline"} <= set(r)
    assert r["split"] == 0.8 and r["by"] == "time"
    assert r["train"]["sessions"] + r["test"]["sessions"] == 1500
    # planted workflows make up most of the traffic, stray calls the rest
    assert 0.4 < r["coverage"] < 1.0
    assert r["test"]["occurrences"] <= r["round_trips_saved"] < r["test"]["calls"]
    # the 10 reliable planted workflows come back in the later sessions; chance chains may not
    assert round(r["recurrence"] * r["workflows"]) >= 8


def test_mining_options_reach_the_miner_and_runs_repeat_exactly(generated_db):
    args = ["evaluate", "--db", str(generated_db), "--json", "--by", "session", "--split", "0.7"]
    first = json.loads(CliRunner().invoke(cli, [*args, "--min-frequency", "3"]).stdout)
    again = json.loads(CliRunner().invoke(cli, [*args, "--min-frequency", "3"]).stdout)
    strict = json.loads(CliRunner().invoke(cli, [*args, "--min-frequency", "100000"]).stdout)
    assert first == again
    assert first["by"] == "session" and first["workflows"] > 0
    assert strict["workflows"] == 0 and "lower --min-frequency" in strict["note"]


def test_cli_table_shows_model_and_baseline(generated_db):
    result = CliRunner().invoke(cli, ["evaluate", "--db", str(generated_db)])
    assert result.exit_code == 0
    assert "hit@3" in result.stdout and "baseline" in result.stdout and "coverage" in result.stdout
