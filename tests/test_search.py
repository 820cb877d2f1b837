"""Search: ranked text queries over abbreviated tool names, filters, and tool-sequence coverage."""

from __future__ import annotations

import pytest

from chainmine.library.builder import WorkflowBuilder
from chainmine.library.errors import ValidationError
from chainmine.library.model import WorkflowStats
from chainmine.library.search import SearchHit, common_subsequence_length, search, suggest_for_tools, tokenize


def wf(name, tools, category="general", status="suggested", frequency=0, description="", tags=()):
    b = WorkflowBuilder(name).describe(description).category(category).tag(*tags)
    for i, tool in enumerate(tools):
        b.add_step(f"s{i}", tool)
    return b.build().model_copy(update={"status": status, "stats": WorkflowStats(frequency=frequency)})


CORPUS = [
    wf("github_open_pr", ["github_list_issues", "github_create_pr", "slack_send_message"], "dev", "accepted", 40),
    wf("repo_cleanup", ["github_list_repos", "github_delete_branch"], "dev", "suggested", 12),
    wf("notify_team", ["slack_send_message"], "comms", "accepted", 90),
    wf("lookup_user", ["get_user_details", "get_reservation_details"], "airline", "suggested", 97,
       description="Fetch a user and every reservation"),
    wf("nightly_backup", ["pg_dump_db", "s3_upload"], "ops", "rejected", 5, tags=["cron"]),
    wf("plan_meeting", ["calendar.createEvent", "mail.sendInvite"], "office", "suggested", 3),
]


def names(hits):
    return [h.workflow.name for h in hits]


@pytest.mark.parametrize("query, first", [
    ("create pull request", "github_open_pr"),
    ("create pr", "github_open_pr"),
    ("send message", "notify_team"),
    ("database backup", "nightly_backup"),
    ("repository branch", "repo_cleanup"),
    ("reservations of a user", "lookup_user"),
    ("create event", "plan_meeting"),
    ("send invitation mail", "plan_meeting"),
    ("cron", "nightly_backup"),
])
def test_multi_word_queries_put_the_expected_workflow_first(query, first):
    hits = search(CORPUS, query=query)
    assert names(hits)[0] == first
    assert all(h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_unrelated_query_finds_nothing():
    assert search(CORPUS, query="weather forecast") == []


@pytest.mark.parametrize("tool, expected", [
    ("github_*", ["github_open_pr", "repo_cleanup"]),
    ("slack_send_message", ["notify_team", "github_open_pr"]),
    ("SLACK_SEND_MESSAGE", ["notify_team", "github_open_pr"]),
    ("*.create*", ["plan_meeting"]),
    ("github", []),
])
def test_tool_filter_is_exact_or_glob(tool, expected):
    assert names(search(CORPUS, tool=tool)) == expected


def test_without_query_order_is_status_then_frequency_then_name_and_scores_are_none():
    hits = search(CORPUS)
    assert names(hits) == ["notify_team", "github_open_pr", "lookup_user", "repo_cleanup", "plan_meeting",
                           "nightly_backup"]
    assert {h.score for h in hits} == {None}


def test_filters_combine():
    assert names(search(CORPUS, category="DEV", status="accepted")) == ["github_open_pr"]
    assert names(search(CORPUS, query="message", tool="github_*")) == ["github_open_pr"]
    assert names(search(CORPUS, query="send", status="accepted", limit=1)) == ["notify_team"]


@pytest.mark.parametrize("kwargs", [{"status": "maybe"}, {"limit": 0}])
def test_bad_filters_are_refused(kwargs):
    with pytest.raises(ValidationError):
        search(CORPUS, **kwargs)


@pytest.mark.parametrize("text, expected", [
    ("github_createPR", ["github", "create", "pr", "pull", "request"]),
    ("db.backup-job", ["db", "database", "backup", "job"]),
    ("HTTPServerError", ["http", "server", "error"]),
    ("list_repos", ["list", "repo", "repository"]),
])
def test_tokenize_splits_names_and_expands_abbreviations(text, expected):
    assert tokenize(text) == expected


def test_hits_unpack_and_serialise_with_score():
    (hit,) = search(CORPUS, query="create pull request", limit=1)
    workflow, score = hit
    assert workflow.name == "github_open_pr" and score == hit.score
    data = hit.to_dict()
    assert data["name"] == "github_open_pr" and data["score"] == score


@pytest.mark.parametrize("a, b, n", [
    (["a", "b", "c"], ["a", "c"], 2),
    (["a", "b"], ["b", "a"], 1),
    ([], ["a"], 0),
    (["x", "a", "y", "b", "z"], ["a", "b", "q"], 2),
])
def test_common_subsequence_length(a, b, n):
    assert common_subsequence_length(a, b) == n


def test_suggest_for_tools_ranks_by_in_order_coverage_then_fewer_extra_steps():
    hits = suggest_for_tools(CORPUS, ["github_create_pr", "slack_send_message"])
    assert [(h.workflow.name, h.score) for h in hits] == [
        ("github_open_pr", 1.0), ("notify_team", 0.5)]
    exact = wf("pr_then_notify", ["github_create_pr", "slack_send_message"])
    hits = suggest_for_tools(CORPUS + [exact], ["github_create_pr", "slack_send_message"])
    assert names(hits)[:2] == ["pr_then_notify", "github_open_pr"]


def test_suggest_for_tools_respects_order_status_and_limit():
    reversed_order = suggest_for_tools(CORPUS, ["get_reservation_details", "get_user_details"])
    assert [(h.workflow.name, h.score) for h in reversed_order] == [("lookup_user", 0.5)]
    assert suggest_for_tools(CORPUS, ["pg_dump_db"], status="accepted") == []
    assert suggest_for_tools(CORPUS, []) == []
    assert len(suggest_for_tools(CORPUS, ["slack_send_message"], limit=1)) == 1
    assert isinstance(suggest_for_tools(CORPUS, ["s3_upload"])[0], SearchHit)


def test_workflows_without_any_word_do_not_break_ranking():
    assert search([wf("_", ["__"])], query="anything") == []
