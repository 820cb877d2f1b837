"""Recommend: next-workflow ranking from a back-off n-gram model, its reasons, and the CLI."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from chainmine.library.model import WorkflowStep as Step
from chainmine.library.model import WorkflowTemplate as Workflow
from chainmine.library.store import WorkflowLibrary
from chainmine.miner.cli import cli
from chainmine.miner.errors import MiningError
from chainmine.miner.recommend import NextToolModel, collapse, recommend, session_prefix
from chainmine.miner.store import connect, ensure_tools

T0 = dt.datetime(2026, 3, 2)


def make_store(path, sessions, failing=()):
    """A store from ``[(session_id, "tool tool ...", start[, agent]), ...]``; ``failing`` = ((session, tool), ...)."""
    rows = [dict(id=0, session_id=sid, ts=start + dt.timedelta(seconds=i), seq=i, tool=tool,
                 success=(sid, tool) not in failing, agent=agent[0] if agent else None)
            for sid, tools, start, *agent in sessions for i, tool in enumerate(tools.split())]
    frame = pd.DataFrame(rows).astype({"agent": "string"})
    frame["id"] = range(len(frame))
    con = connect(path)
    con.register("cm_test_rows", frame)
    ensure_tools(con, "cm_test_rows")
    con.execute("""INSERT INTO calls (id, session_id, ts, seq, tool_id, success, agent)
                   SELECT r.id, r.session_id, r.ts, r.seq, t.tool_id, r.success, r.agent
                   FROM cm_test_rows r JOIN tools t USING (tool)""")
    con.unregister("cm_test_rows")
    return con


def lookup(status="accepted"):
    return Workflow(name="lookup", status=status, steps=[
        Step(id="user", tool_name="get_user"),
        Step(id="res", tool_name="get_res", map_over="{{user.ids}}", parameters={"id": "{{item}}"},
             depends_on=["user"])])


def chain(name, *tools, status="accepted"):
    steps = [Step(id=f"s{i}", tool_name=t, depends_on=[f"s{i - 1}"] if i else []) for i, t in enumerate(tools)]
    return Workflow(name=name, status=status, steps=steps)


def airline_sessions(n_booking=30, n_pr=10):
    """Every session looks a user up; most then book, the rest open a PR."""
    sessions = []
    for i in range(n_booking + n_pr):
        tail = "search book pay" if i < n_booking else "list_issues create_pr"
        reservations = " ".join(["get_res"] * (1 + i % 3))
        sessions.append((f"s{i:03d}", f"get_user {reservations} {tail}", T0 + dt.timedelta(hours=i)))
    return sessions


WORKFLOWS = [lookup(), chain("booking", "search", "book", "pay"), chain("pr", "list_issues", "create_pr")]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    con = make_store(tmp_path_factory.mktemp("r") / "r.duckdb", airline_sessions())
    yield con
    con.close()


@pytest.fixture(scope="module")
def model(store):
    return NextToolModel().fit(store, WORKFLOWS)


@pytest.mark.parametrize("prefix, first", [
    ([], "lookup"),                                         # sessions start with the lookup
    (["get_user"], "lookup"),                               # lookup already begun
    (["get_user", "get_res"], "booking"),                   # 30 of 40 sessions book next
    (["get_user", "get_res", "get_res", "search"], "booking"),
    (["list_issues"], "pr"),
])
def test_the_likeliest_next_workflow_comes_first(model, prefix, first):
    assert recommend(prefix, WORKFLOWS, model=model)[0].workflow == first


def test_context_frequencies_order_the_alternatives(model):
    ranked = recommend(["get_user", "get_res"], WORKFLOWS, model=model)
    scores = {r.workflow: r.score for r in ranked}
    assert scores["booking"] > scores["pr"] > scores["lookup"]
    assert all(0 <= r.score <= 1 for r in ranked)


def test_partial_match_reason_names_the_next_tool_and_its_share(model):
    top = recommend(["get_user"], WORKFLOWS, model=model)[0]
    assert top.started == 1
    assert "already begun (1 of 2 steps done)" in top.reason
    assert "get_res follows in 100% of 40 cases" in top.reason
    assert "seen 40×" in top.reason


def test_start_reason_gives_the_observed_share_and_frequency(model):
    top = recommend(["get_user", "get_res"], WORKFLOWS, model=model)[0]
    # all 40 sessions pass get_user → get_res; booking starts right there only in the
    # 10 booking sessions with a single get_res (i % 3 == 0), the others map on
    assert top.reason.startswith("after get_user → get_res, it starts in 25% of 40 cases")
    assert top.frequency == 30 and "seen 30×" in top.reason


def test_top_limits_and_keeps_order(model):
    full = recommend(["get_user", "get_res"], WORKFLOWS, model=model, top=3)
    assert [r.workflow for r in recommend(["get_user", "get_res"], WORKFLOWS, model=model, top=1)] == [full[0].workflow]
    assert [r.score for r in full] == sorted((r.score for r in full), reverse=True)


def test_fitting_on_the_connection_equals_a_prefitted_model(store, model):
    prefix = ["get_user", "get_res", "get_res"]
    assert recommend(prefix, WORKFLOWS, con=store) == recommend(prefix, WORKFLOWS, model=model)


@pytest.mark.parametrize("prefix", [["nope"], ["nope", "also_nope"]])
def test_a_prefix_of_unknown_tools_gives_an_empty_list_with_a_reason(model, prefix):
    result = recommend(prefix, WORKFLOWS, model=model)
    assert result == []
    assert "none of the tools" in result.note and prefix[0] in result.note


def test_unknown_tools_among_known_ones_are_noted_but_still_ranked(model):
    result = recommend(["get_user", "get_res", "mystery"], WORKFLOWS, model=model)
    assert result and "mystery" in result.note


def test_a_workflow_not_seen_when_fitting_falls_back_to_its_first_tools(store):
    bare = NextToolModel().fit(store)          # no start statistics at all
    ranked = recommend(["get_user", "get_res"], WORKFLOWS, model=bare)
    assert ranked[0].workflow == "booking"
    assert "its first tool search follows" in ranked[0].reason


@pytest.mark.parametrize("statuses, include_suggested, expected", [
    (("accepted", "suggested", "rejected"), False, {"lookup"}),
    (("accepted", "suggested", "rejected"), True, {"lookup", "booking"}),
    (("suggested", "suggested", "suggested"), True, {"lookup", "booking", "pr"}),
])
def test_only_reviewed_workflows_unless_suggested_are_included(model, statuses, include_suggested, expected):
    library = [wf.model_copy(update={"status": s}) for wf, s in zip(WORKFLOWS, statuses)]
    result = recommend([], library, model=model, top=10, include_suggested=include_suggested)
    assert {r.workflow for r in result} == expected


@pytest.mark.parametrize("library, fragment", [
    ([], "library is empty: run `chainmine mine --save`"),
    ([chain("x", "a", "b", status="suggested")], "pass --include-suggested"),
])
def test_an_empty_library_says_how_to_fill_it(model, library, fragment):
    with pytest.raises(MiningError) as info:
        recommend(["get_user"], library, model=model)
    assert fragment in str(info.value)


@pytest.mark.parametrize("kwargs", [{"order": 0}, {"tail": 0}, {"min_count": 0}, {"smoothing": 1.0}])
def test_bad_model_parameters_are_rejected(kwargs):
    with pytest.raises(MiningError):
        NextToolModel(**kwargs)


def test_an_empty_store_asks_for_an_ingest(tmp_path):
    with pytest.raises(MiningError, match="chainmine ingest"):
        NextToolModel().fit(connect(tmp_path / "empty.duckdb"), WORKFLOWS)


def test_session_prefix_follows_call_order(store):
    assert session_prefix(store, "s001") == (["get_user", "get_res", "get_res", "search", "book", "pay"], None)


def agent_sessions():
    """Two agents: 'ops' mostly triages issues, 'shop' always books; a shared weather call may come first."""
    sessions = []
    for i in range(40):
        agent = "ops" if i % 4 == 0 else "shop"
        work = "list_issues create_pr" if agent == "ops" else "search book pay"
        sessions.append((f"a{i:02d}", ("weather " if i % 2 else "") + work, T0 + dt.timedelta(hours=i), agent))
    return sessions


@pytest.fixture(scope="module")
def agent_model(tmp_path_factory):
    con = make_store(tmp_path_factory.mktemp("a") / "a.duckdb", agent_sessions())
    yield NextToolModel().fit(con, WORKFLOWS)
    con.close()


@pytest.mark.parametrize("prefix, agent, first", [
    ([], "ops", "pr"), (["weather"], "ops", "pr"),
    ([], "shop", "booking"), (["weather"], "shop", "booking"),
    ([], None, "booking"),                     # without an agent: the more frequent one
])
def test_the_agent_asking_weighs_in(agent_model, prefix, agent, first):
    ranked = recommend(prefix, WORKFLOWS, model=agent_model, agent=agent)
    assert ranked[0].workflow == first
    assert ranked[0].reason.startswith(f"for agent {agent}") == (agent is not None)


def test_without_agent_conditioning_the_agent_is_ignored(tmp_path):
    con = make_store(tmp_path / "a.duckdb", agent_sessions())
    model = NextToolModel(use_agent=False).fit(con, WORKFLOWS)
    assert recommend([], WORKFLOWS, model=model, agent="ops")[0].workflow == "booking"


def test_an_unknown_agent_is_noted(agent_model):
    result = recommend(["weather"], WORKFLOWS, model=agent_model, agent="stranger")
    assert result[0].workflow == "booking" and "agent 'stranger' is not in the logs" in result.note


@pytest.mark.parametrize("tools, expected", [
    (["a", "a", "b"], ("a", "b")), (["a", "b", "a"], ("a", "b", "a")), ([], ())])
def test_collapse_keeps_one_of_each_run(tools, expected):
    assert collapse(tools) == expected


# -- CLI ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cli")
    db = tmp_path / "cli.duckdb"
    make_store(db, airline_sessions()).close()
    lib = WorkflowLibrary(tmp_path / "lib.json")
    for wf in WORKFLOWS:
        lib.register(wf)
    return ["--db", str(db), "--library", str(tmp_path / "lib.json")]


def run(args):
    return CliRunner().invoke(cli, args)


def test_cli_json_lists_workflow_score_and_reason(cli_env):
    result = run(["recommend", "--tools", "get_user,get_res", "--json", "--top", "2", *cli_env])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["workflow"] for r in rows] == ["booking", "pr"]
    assert all({"workflow", "score", "reason", "tools"} <= set(r) for r in rows)


def test_cli_takes_the_prefix_from_a_stored_session(cli_env):
    result = run(["recommend", "--session", "s035", "--json", *cli_env])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)


def test_cli_session_brings_its_agent(tmp_path):
    db = tmp_path / "agents.duckdb"
    make_store(db, agent_sessions()).close()
    lib = WorkflowLibrary(tmp_path / "lib.json")
    for wf in WORKFLOWS:
        lib.register(wf)
    base = ["recommend", "--json", "--db", str(db), "--library", str(tmp_path / "lib.json")]
    # session a04 is an ops session that starts with a triage: from its first call on, ops habits count
    by_session = json.loads(run([*base, "--session", "a04"]).stdout)
    by_agent = json.loads(run([*base, "--tools", "list_issues,create_pr", "--agent", "ops"]).stdout)
    anonymous = json.loads(run([*base, "--tools", "list_issues,create_pr"]).stdout)
    assert by_session == by_agent != anonymous


def test_cli_table_shows_the_reason(cli_env):
    result = run(["recommend", "--tools", "get_user", *cli_env])
    assert result.exit_code == 0 and "lookup" in result.stdout and "already begun" in result.stdout


def test_cli_unknown_tools_print_an_empty_list_and_a_note(cli_env):
    result = run(["recommend", "--tools", "nope", "--json", *cli_env])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []
    assert result.stderr.startswith("note: no recommendation") and result.stderr.count("\n") == 1


@pytest.mark.parametrize("args, code, fragment", [
    (["--session", "missing"], 1, "error: no session 'missing'"),
    ([], 2, "exactly one of --tools"),
    (["--tools", "a", "--session", "s1"], 2, "exactly one of --tools"),
    (["--tools", "a", "--top", "0"], 2, "--top"),
])
def test_cli_bad_input(cli_env, args, code, fragment):
    result = run(["recommend", *args, *cli_env])
    assert result.exit_code == code
    assert fragment in result.stderr


def test_cli_empty_library_is_one_line(cli_env, tmp_path):
    result = run(["recommend", "--tools", "get_user", *cli_env[:2], "--library", str(tmp_path / "none.json")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the workflow library is empty") and result.stderr.count("\n") == 1


def test_cli_missing_database_says_to_ingest(tmp_path):
    result = run(["recommend", "--tools", "a", "--db", str(tmp_path / "no.duckdb")])
    assert result.exit_code == 1 and "chainmine ingest" in result.stderr
