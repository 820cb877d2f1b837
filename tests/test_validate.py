"""Workflow validation lists every broken rule with its path."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as PydanticError

from chainmine.library.errors import ValidationError
from chainmine.library.model import InputSpec, WorkflowStep, WorkflowTemplate
from chainmine.library.validate import validate_workflow, workflow_problems


def wf(steps, inputs=None, **kw):
    return WorkflowTemplate(name="w", steps=[WorkflowStep(**s) for s in steps],
                            inputs={k: InputSpec() for k in (inputs or [])}, **kw)


def test_a_valid_mined_shape_passes():
    good = wf([
        {"id": "get_user", "tool_name": "get_user_details", "parameters": {"user_id": "{{user_id}}"}},
        {"id": "get_res", "tool_name": "get_reservation_details", "map_over": "{{get_user.reservations}}",
         "parameters": {"reservation_id": "{{item}}"}, "depends_on": ["get_user"]},
        {"id": "notify", "tool_name": "send", "depends_on": ["get_res"],
         "condition": "{{get_res[0].status}} == 'ok'", "parameters": {"text": "done {{user_id}}"},
         "compensation": {"tool_name": "unsend", "parameters": {"id": "{{notify.id}}"}}},
    ], inputs=["user_id"])
    assert workflow_problems(good) == []
    assert validate_workflow(good, known_tools={"get_user_details", "get_reservation_details", "send", "unsend"}) is good


@pytest.mark.parametrize("steps, inputs, fragment", [
    ([{"id": "a", "tool_name": "t"}, {"id": "a", "tool_name": "t"}], [], "duplicate step id 'a'"),
    ([{"id": "x", "tool_name": "t"}], ["x"], "also an input name"),
    ([{"id": "a", "tool_name": "t", "depends_on": ["zzz"]}], [], "unknown step 'zzz'"),
    ([{"id": "a", "tool_name": "t", "parameters": {"p": "{{nope}}"}}], [], "steps[0].parameters.p"),
    ([{"id": "a", "tool_name": "t", "parameters": {"p": "{{item}}"}}], [], "only allowed in a map step"),
    ([{"id": "a", "tool_name": "t", "map_over": "not a ref"}], [], "map_over"),
    ([{"id": "a", "tool_name": "t", "map_over": "{{ghost.list}}"}], [], "unknown name 'ghost'"),
    ([{"id": "a", "tool_name": "t", "condition": "{{ghost}} == 1"}], [], "steps[0].condition"),
    ([{"id": "a", "tool_name": "t", "condition": "import os"}], [], "condition"),
    ([{"id": "a", "tool_name": "t", "depends_on": ["b"]}, {"id": "b", "tool_name": "t", "depends_on": ["a"]}], [], "cycle"),
    ([{"id": "a", "tool_name": "t", "parameters": {"x": "{{b.v}}"}}, {"id": "b", "tool_name": "t", "parameters": {"y": "{{a.v}}"}}], [], "cycle"),
    ([{"id": "a", "tool_name": "t", "parameters": {"p": "{{ bad ref }}"}}], [], "malformed template"),
    ([{"id": "a", "tool_name": "t", "compensation": {"tool_name": "u", "parameters": {"q": "{{ghost}}"}}}], [], "compensation"),
])
def test_each_rule_is_reported_with_its_path(steps, inputs, fragment):
    problems = workflow_problems(wf(steps, inputs))
    assert any(fragment in p for p in problems), problems
    with pytest.raises(ValidationError) as info:
        validate_workflow(wf(steps, inputs))
    assert info.value.problems == problems


def test_unknown_tools_are_reported_when_registry_is_known():
    problems = workflow_problems(wf([{"id": "a", "tool_name": "t", "fallback_tool": "f"}]), known_tools={"t"})
    assert problems == ["steps[0].fallback_tool: tool 'f' is not in any registry"]


def test_all_problems_are_listed_at_once():
    problems = workflow_problems(wf([
        {"id": "a", "tool_name": "t", "parameters": {"p": "{{x}}", "q": "{{y}}"}, "depends_on": ["nope"]}]))
    assert len(problems) == 3


@pytest.mark.parametrize("bad", [
    {"name": "has space", "steps": [{"id": "a", "tool_name": "t"}]},
    {"name": "9lives", "steps": [{"id": "a", "tool_name": "t"}]},
    {"name": "ok", "steps": []},
    {"name": "ok", "steps": [{"id": "a-b", "tool_name": "t"}]},
    {"name": "ok", "steps": [{"id": "a", "tool_name": ""}]},
    {"name": "ok", "status": "maybe", "steps": [{"id": "a", "tool_name": "t"}]},
    {"name": "ok", "steps": [{"id": "a", "tool_name": "t", "max_retries": -1}]},
    {"name": "ok", "steps": [{"id": "a", "tool_name": "t", "typo_field": 1}]},
])
def test_field_rules_are_enforced_by_the_model(bad):
    with pytest.raises(PydanticError):
        WorkflowTemplate.from_dict(bad)


def test_signature_ignores_name_and_stats_but_not_bindings():
    a = wf([{"id": "s", "tool_name": "t", "parameters": {"x": "{{u}}"}}], inputs=["u"])
    renamed = a.model_copy(update={"name": "other", "description": "d"})
    rebound = wf([{"id": "s", "tool_name": "t", "parameters": {"x": "const"}}])
    assert a.signature() == renamed.signature()
    assert a.signature() != rebound.signature()


def test_to_dict_round_trips_and_drops_defaults():
    a = wf([{"id": "s", "tool_name": "t", "max_retries": 2}])
    data = a.to_dict()
    assert data["steps"][0] == {"id": "s", "tool_name": "t", "parameters": {}, "depends_on": [], "max_retries": 2}
    assert WorkflowTemplate.from_dict(data) == a


@pytest.mark.parametrize("option", [
    {"condition": "{{a.x}} == 1"},
    {"parameters": {"p": "{{a.x}}"}},
    {"map_over": "{{a.items}}", "parameters": {"p": "{{item}}"}},
])
def test_a_step_reading_its_own_result_is_refused(option):
    problems = workflow_problems(wf([{"id": "a", "tool_name": "t", **option}]))
    assert problems == ["steps[0]: step 'a' refers to its own result; use inputs or upstream steps"]


def test_a_compensation_may_read_its_own_step():
    assert workflow_problems(wf([{"id": "a", "tool_name": "t",
                                  "compensation": {"tool_name": "u", "parameters": {"id": "{{a.id}}"}}}])) == []


@pytest.mark.parametrize("params, problems", [
    ({"body": "Hi {{'{{'}}name}}, your order shipped"}, []),
    ({"body": {"lines": ["{{'{{'}}x}}", "{{\"{{\"}}y}} {{u}}"]}}, []),
    ({"body": "Hi {{'{{'}}name}}, {{nope}}"},
     ["steps[0].parameters.body: {{nope}} refers to unknown name 'nope' (not an input or step id)"]),
    ({"body": "Hi {{name}}"}, ["steps[0].parameters.body: {{name}} refers to unknown name 'name' (not an input or step id)"]),
    ({"body": "{{'{{'}} {{ 1x }}"}, ["steps[0].parameters.body: malformed template {{ 1x }}"]),
])
def test_escaped_braces_are_text_while_real_references_are_still_checked(params, problems):
    assert workflow_problems(wf([{"id": "a", "tool_name": "t", "parameters": params}], inputs=["u"])) == problems
