"""WorkflowBuilder: fluent authoring that yields a validated workflow."""

from __future__ import annotations

import pytest

from chainmine.library.builder import WorkflowBuilder
from chainmine.library.errors import ValidationError
from chainmine.library.model import WorkflowTemplate


def reservations():
    return (WorkflowBuilder("lookup_user_reservations")
            .describe("Fetch a user, then each reservation.")
            .category("airline").tag("travel", "support", "travel")
            .input("user_id", type="string", example="u1")
            .add_step("get_user", "get_user_details", user_id="{{user_id}}")
            .add_step("get_res", "get_reservation_details", depends_on=["get_user"],
                      map_over="{{get_user.reservations}}", max_retries=2, reservation_id="{{item}}"))


def test_build_gives_the_workflow_described():
    wf = reservations().build()
    assert isinstance(wf, WorkflowTemplate)
    assert (wf.name, wf.category, wf.tags, wf.source, wf.status) == (
        "lookup_user_reservations", "airline", ["travel", "support"], "manual", "suggested")
    assert wf.inputs["user_id"].example == "u1"
    get_res = wf.step("get_res")
    assert (get_res.map_over, get_res.max_retries, get_res.parameters) == (
        "{{get_user.reservations}}", 2, {"reservation_id": "{{item}}"})


def test_depends_on_is_inferred_from_references_when_not_given():
    wf = (WorkflowBuilder("w").input("q")
          .add_step("a", "search", query="{{q}}")
          .add_step("b", "fetch", id="{{a.items[0].id}}")
          .add_step("c", "notify", condition="{{b.ok}} == true", text="from {{a.count}}")
          .build())
    assert [s.depends_on for s in wf.steps] == [[], ["a"], ["a", "b"]]


def test_steps_added_out_of_order_are_put_in_dependency_order():
    wf = (WorkflowBuilder("w")
          .add_step("send", "notify", text="{{get.body}}")
          .add_step("get", "fetch")
          .add_step("log", "audit")
          .build())
    assert [s.id for s in wf.steps] == ["get", "send", "log"]


def test_option_named_parameters_go_through_parameters_and_description_is_a_parameter():
    wf = (WorkflowBuilder("w")
          .add_step("a", "create_issue", parameters={"timeout": 30}, description="bug", timeout=5,
                    step_description="open the ticket")
          .build())
    step = wf.step("a")
    assert step.parameters == {"timeout": 30, "description": "bug"}
    assert (step.timeout, step.description) == (5, "open the ticket")


def test_outputs_and_status():
    wf = reservations().output("user", "{{get_user}}").status("accepted").build()
    assert wf.outputs == {"user": "{{get_user}}"} and wf.status == "accepted"


@pytest.mark.parametrize("builder, fragment", [
    (WorkflowBuilder("bad name").add_step("a", "t"), "workflow name"),
    (WorkflowBuilder("w"), "steps"),
    (WorkflowBuilder("w").add_step("a", "t").add_step("a", "u"), "duplicate step id 'a'"),
    (WorkflowBuilder("w").add_step("a", "t", user="{{user_id}}"), "unknown name 'user_id'"),
    (WorkflowBuilder("w").add_step("a", "t", max_retries=-1), "steps[0].max_retries"),
    (WorkflowBuilder("w").add_step("a", "t", depends_on=["b"]).add_step("b", "t", depends_on=["a"]), "cycle"),
    (WorkflowBuilder("w").add_step("a", "t", map_over="{{x.items}}"), "map_over"),
    (WorkflowBuilder("w").add_step("a", "t", max_concurrency=4), "only applies to a map step"),
    (WorkflowBuilder("w").input("user-id").add_step("a", "t"), "inputs.user-id"),
    (WorkflowBuilder("w").add_step("a", "t").output("o", "{{ghost}}"), "outputs.o"),
    (WorkflowBuilder("w").add_step("a", "workflow:w"), "cannot run itself"),
])
def test_build_reports_every_problem_with_its_path(builder, fragment):
    with pytest.raises(ValidationError) as info:
        builder.build()
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_all_problems_come_at_once():
    builder = WorkflowBuilder("w").add_step("a", "t", x="{{nope}}", y="{{other}}").add_step("a", "u")
    with pytest.raises(ValidationError) as info:
        builder.build()
    assert len(info.value.problems) >= 3


def test_builder_is_reusable_and_to_dict_does_not_leak_state():
    b = reservations()
    data = b.to_dict()
    data["steps"].clear()
    assert len(b.build().steps) == 2
    assert b.build() == b.build()
