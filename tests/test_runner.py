"""The workflow executor against the real tool module tests/tools/runner_tools.py."""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from pathlib import Path

import pytest

from chainmine.library.errors import LibraryError, ValidationError
from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import (EventBus, MemoryRecorder, ToolGuards, WorkflowContext, WorkflowExecutor,
                            run_workflow)
from chainmine.library.runner.errors import InputError, UnreviewedWorkflowError

sys.path.insert(0, str(Path(__file__).parent / "tools"))
from runner_fixtures import TOOLS_FILE, calls, registry  # noqa: E402,F401  (fixtures)


def wf(steps, inputs=None, status="accepted", **extra) -> WorkflowTemplate:
    return WorkflowTemplate.from_dict({"name": extra.pop("name", "wf"), "status": status, "steps": steps,
                                       "inputs": inputs or {}, **extra})


def executor(registry, **kw) -> WorkflowExecutor:
    kw.setdefault("guards", ToolGuards())
    return WorkflowExecutor(registry, **kw)


def step(id, tool, params=None, deps=(), **opts):
    return {"id": id, "tool_name": tool, "parameters": params or {}, "depends_on": list(deps), **opts}


# ---------------------------------------------------------------- scheduling

def test_independent_branches_overlap_in_time(registry, calls):
    # Each branch blocks until the other has started: they can only finish if they truly run together.
    tag = uuid.uuid4().hex
    rec = MemoryRecorder()
    w = wf([step("left", "wait_flag", {"name": f"{tag}-r", "then_set": f"{tag}-l"}),
            step("right", "wait_flag", {"name": f"{tag}-l0", "then_set": f"{tag}-r"}),
            step("kick", "set_flag", {"name": f"{tag}-l0"})])
    result = executor(registry, recorder=rec, max_concurrency=4).execute(w, {})
    assert result.status == "completed", result.error
    left, right = rec.steps[result.run_id]["left"], rec.steps[result.run_id]["right"]
    assert left.started_at < right.finished_at and right.started_at < left.finished_at


def test_a_step_starts_when_its_own_dependencies_finish_not_its_level(registry, calls):
    # `slow` (level 0) waits for `second` (level 1): a level-by-level scheduler would deadlock.
    tag = uuid.uuid4().hex
    w = wf([step("first", "add", {"a": 1, "b": 1}),
            step("second", "set_flag", {"name": tag}, deps=["first"]),
            step("slow", "wait_flag", {"name": tag})])
    result = executor(registry).execute(w, {})
    assert result.status == "completed", result.error
    assert result.steps["second"].finished_at <= result.steps["slow"].finished_at


def test_max_concurrency_one_serialises_calls(registry, calls):
    tag = uuid.uuid4().hex
    w = wf([step("a", "wait_flag", {"name": tag}, timeout=0.3), step("b", "set_flag", {"name": tag})])
    # With one slot, `a` holds it while waiting for `b`, which can never start: `a` times out.
    result = executor(registry, max_concurrency=1).execute(w, {})
    assert result.status == "failed"
    assert "timed out" in result.steps["a"].error


# ---------------------------------------------------------------- data flow, outputs, context

def test_templates_flow_between_steps_and_every_step_is_an_output(registry, calls):
    w = wf([step("user", "get_user", {"user_id": "{{uid}}"}),
            step("order", "get_order", {"order_id": "{{user.orders[1]}}"}),
            step("sum", "add", {"a": "{{order.total}}", "b": 1})], inputs={"uid": {"type": "string"}})
    ctx = WorkflowContext({"uid": "mia"})
    result = executor(registry).execute(w, ctx)
    assert result.status == "completed"
    assert result.outputs == {"user": {"id": "mia", "orders": ["mia-o1", "mia-o2", "mia-o3"], "vip": False},
                              "order": {"order_id": "mia-o2", "total": 20}, "sum": 21}
    assert ctx.get_result("user", "orders[1]") == "mia-o2"
    assert [s["id"] for s in result.to_dict()["steps"]] == ["user", "order", "sum"]


def test_declared_outputs_are_resolved(registry, calls):
    w = wf([step("user", "get_user", {"user_id": "u"})],
           outputs={"first_order": "{{user.orders[0]}}", "label": "user {{user.id}}"})
    assert executor(registry).execute(w, {}).outputs == {"first_order": "u-o1", "label": "user u"}


@pytest.mark.parametrize("params, received", [
    ({"body": "Hi {{'{{'}}name}}"}, {"body": "Hi {{name}}"}),
    ({"body": ["{{'{{'}}a}}", {"b": "{{'{{'}}b}} for {{uid}}"}]}, {"body": ["{{a}}", {"b": "{{b}} for mia"}]}),
])
def test_escaped_braces_reach_the_tool_as_literal_text(registry, calls, params, received):
    w = wf([step("send", "echo", params)], inputs={"uid": {"type": "string"}})
    assert executor(registry).execute(w, {"uid": "mia"}).outputs == {"send": received}


def test_missing_field_in_a_template_fails_the_step_naming_step_and_path(registry, calls):
    w = wf([step("user", "get_user", {"user_id": "u"}),
            step("order", "get_order", {"order_id": "{{user.address.zip}}"})])
    result = executor(registry).execute(w, {})
    assert result.status == "failed"
    err = result.steps["order"].error
    assert "'order'" in err and "user.address" in err and "no field 'address'" in err
    assert not any(c.startswith("get_order") for c in calls())


# ---------------------------------------------------------------- conditions and skipping

@pytest.mark.parametrize("uid, ran", [("vip_ann", True), ("bob", False)])
def test_a_false_condition_skips_its_step(registry, calls, uid, ran):
    w = wf([step("user", "get_user", {"user_id": uid}),
            step("perk", "add", {"a": 1, "b": 2}, condition="{{user.vip}} == true")])
    result = executor(registry).execute(w, {})
    assert result.status == "completed"
    assert result.steps["perk"].status == ("completed" if ran else "skipped")
    assert any(c.startswith("add") for c in calls()) is ran


def test_skip_rule_dependants_of_a_skipped_step(registry, calls):
    w = wf([step("user", "get_user", {"user_id": "bob"}),
            step("perk", "add", {"a": 1, "b": 2}, condition="{{user.vip}}"),
            # reads the skipped result and does not handle it: skipped too
            step("needs", "add", {"a": "{{perk}}", "b": 1}),
            # its condition handles the skip: runs, the skipped reference reads as null
            step("handles", "echo", {"perk": "{{perk}}"}, condition="{{perk}} is skipped"),
            # only ordered after it: runs
            step("after", "add", {"a": 1, "b": 1}, deps=["perk"]),
            # its condition cannot compare a skipped value: skipped, not failed
            step("compare", "add", {"a": 1, "b": 1}, condition="{{perk}} > 2")])
    result = executor(registry).execute(w, {})
    status = {sid: s.status for sid, s in result.steps.items()}
    assert status == {"user": "completed", "perk": "skipped", "needs": "skipped",
                      "handles": "completed", "after": "completed", "compare": "skipped"}
    assert result.steps["handles"].result == {"perk": None}
    assert "perk" in result.steps["needs"].details["reason"]
    assert result.status == "completed"


def test_a_condition_on_a_missing_field_fails_clearly(registry, calls):
    w = wf([step("user", "get_user", {"user_id": "u"}),
            step("perk", "add", {"a": 1, "b": 2}, condition="{{user.tier}} == 'gold'")])
    result = executor(registry).execute(w, {})
    assert result.status == "failed" and "no field 'tier'" in result.steps["perk"].error


# ---------------------------------------------------------------- map steps

def test_map_runs_once_per_item_with_results_in_input_order(registry, calls):
    # Item i yields (5 - i) times, so items finish in reverse order.
    w = wf([step("spins", "spin", {"value": "{{item}}", "turns": "{{item}}"},
                 map_over="{{values}}", max_concurrency=5)],
           inputs={"values": {"type": "array"}})
    result = executor(registry).execute(w, {"values": [5, 4, 3, 2, 1]})
    assert result.outputs == {"spins": [5, 4, 3, 2, 1]}
    assert calls() == ["spin 1", "spin 2", "spin 3", "spin 4", "spin 5"]


def test_map_over_a_previous_result(registry, calls):
    w = wf([step("user", "get_user", {"user_id": "u"}),
            step("orders", "get_order", {"order_id": "{{item}}"}, map_over="{{user.orders}}", max_concurrency=2)])
    result = executor(registry).execute(w, {})
    assert [o["order_id"] for o in result.outputs["orders"]] == ["u-o1", "u-o2", "u-o3"]
    assert sum(c.startswith("get_order") for c in calls()) == 3
    assert result.steps["orders"].attempts == 3


@pytest.mark.parametrize("allow_partial", [True, False])
def test_a_failed_map_item(registry, calls, allow_partial):
    rec = MemoryRecorder()
    w = wf([step("d", "double", {"n": "{{item}}"}, map_over="{{ns}}", allow_partial=allow_partial,
                 max_concurrency=1)], inputs={"ns": {"type": "array"}})
    result = executor(registry, recorder=rec).execute(w, {"ns": [1, -2, 3]})
    if allow_partial:
        assert result.status == "completed"
        assert result.outputs == {"d": [2, None, 6]}
        assert "negative -2" in result.steps["d"].details["item_errors"]["1"]
        assert [c.success for c in rec.calls] == [True, False, True]
    else:
        assert result.status == "failed"
        assert "item 1" in result.steps["d"].error


def test_map_over_something_that_is_not_a_list_fails_clearly(registry, calls):
    w = wf([step("user", "get_user", {"user_id": "u"}),
            step("m", "double", {"n": "{{item}}"}, map_over="{{user.id}}")])
    result = executor(registry).execute(w, {})
    assert result.status == "failed" and "not a list" in result.steps["m"].error


# ---------------------------------------------------------------- failures: retries, timeouts, fallback

def test_a_flaky_tool_succeeds_within_its_retries(registry, calls):
    rec = MemoryRecorder()
    w = wf([step("f", "flaky", {"key": "k1", "failures": 2}, max_retries=3, retry_delay=0)])
    events = EventBus()
    seen = []
    events.subscribe(lambda e: seen.append(e.type))
    result = executor(registry, recorder=rec, events=events).execute(w, {})
    assert result.status == "completed"
    assert result.steps["f"].attempts == 3
    assert calls().count("flaky k1") == 3
    assert [c.success for c in rec.calls] == [False, False, True]
    assert seen.count("step.retrying") == 2


@pytest.mark.parametrize("tool, params, retries, attempts", [
    ("flaky", {"key": "k2", "failures": 5}, 1, 2),      # retryable, retries run out
    ("bad_value", {"x": 1}, 3, 1),                       # ValueError: not retryable
    ("fail", {"message": "no"}, 3, 1),                   # NonRetryableError
    ("fragile", {"key": "k3"}, 0, 1),                    # RetryableError, but no retries allowed
])
def test_retry_only_retryable_errors(registry, calls, tool, params, retries, attempts):
    w = wf([step("s", tool, params, max_retries=retries, retry_delay=0)])
    result = executor(registry).execute(w, {})
    assert result.status == "failed"
    assert result.steps["s"].attempts == attempts
    assert f"after {attempts} attempt" in result.steps["s"].error


def test_a_tool_can_ask_for_a_retry(registry, calls):
    w = wf([step("s", "fragile", {"key": "k4"}, max_retries=1, retry_delay=0)])
    result = executor(registry).execute(w, {})
    assert result.status == "completed" and result.steps["s"].attempts == 2


def test_a_hanging_tool_times_out_and_is_retried(registry, calls):
    w = wf([step("s", "sleepy", {"seconds": 60}, timeout=0.05, max_retries=1, retry_delay=0)])
    result = executor(registry).execute(w, {})
    assert result.status == "failed"
    assert result.steps["s"].attempts == 2
    assert "timed out after 0.05s" in result.steps["s"].error


def test_fallback_tool_runs_after_retries_with_the_same_parameters(registry, calls):
    w = wf([step("s", "always_down", {"key": "q"}, max_retries=1, retry_delay=0, fallback_tool="backup")])
    result = executor(registry).execute(w, {})
    assert result.status == "completed"
    assert result.outputs == {"s": {"from": "backup", "key": "q"}}
    assert result.steps["s"].details["fallback_used"] is True
    assert calls() == ["always_down q", "always_down q", "backup ['key']"]


@pytest.mark.parametrize("tool, params, expected", [
    ("huge", {"size": 5000}, "over the 1000-byte limit"),
    ("not_a_number", {}, "not a JSON number"),
])
def test_results_that_cannot_be_stored_fail_the_step(registry, calls, tool, params, expected):
    result = executor(registry, max_result_bytes=1000).execute(wf([step("s", tool, params)]), {})
    assert result.status == "failed" and expected in result.steps["s"].error


def test_non_json_values_are_converted_with_a_note(registry, calls):
    result = executor(registry).execute(wf([step("s", "odd_types")]), {})
    assert result.status == "completed"
    assert result.outputs["s"] == {"when": "2026-01-02", "tags": ["a"], "raw": "hi"}
    assert any("date" in n for n in result.steps["s"].details["notes"])


# ---------------------------------------------------------------- compensation

def test_a_failure_three_steps_in_compensates_in_reverse_order(registry, calls):
    comp = {"tool_name": "release", "parameters": {"reservation": "{{%s.reservation}}"}}
    w = wf([step("one", "reserve", {"what": "1"}, compensation={**comp, "parameters": {"reservation": "{{one.reservation}}"}}),
            step("two", "reserve", {"what": "2"}, deps=["one"],
                 compensation={**comp, "parameters": {"reservation": "{{two.reservation}}"}}),
            step("three", "fail", {"message": "payment declined"}, deps=["two"])])
    events = EventBus()
    seen = []
    events.subscribe(lambda e: seen.append((e.type, e.step_id)), types=["compensation.completed"])
    result = executor(registry, events=events).execute(w, {})
    assert result.status == "compensated"
    assert calls()[-2:] == ["release r-2", "release r-1"]
    assert seen == [("compensation.completed", "two"), ("compensation.completed", "one")]
    assert result.steps["one"].details["compensation"]["result"] == {"released": "r-1"}
    assert "payment declined" in result.error


def test_a_failing_compensation_is_recorded_not_raised(registry, calls):
    w = wf([step("one", "reserve", {"what": "1"},
                 compensation={"tool_name": "broken_release", "parameters": {"reservation": "{{one.reservation}}"}}),
            step("two", "reserve", {"what": "2"}, deps=["one"],
                 compensation={"tool_name": "release", "parameters": {"reservation": "{{two.reservation}}"}}),
            step("three", "fail", deps=["two"])])
    rec = MemoryRecorder()
    result = executor(registry, recorder=rec).execute(w, {})
    assert result.status == "failed"
    assert calls()[-2:] == ["release r-2", "broken_release r-1"]
    assert result.steps["one"].details["compensation"]["status"] == "failed"
    assert "cannot release r-1" in rec.steps[result.run_id]["one"].details["compensation"]["error"]


# ---------------------------------------------------------------- budget and cost

def test_a_budget_stops_the_run_before_the_expensive_step(registry, calls):
    w = wf([step("pay", "charge_card", {"amount": 3},
                 compensation={"tool_name": "refund", "parameters": {"charge_id": "{{pay.charge_id}}"}}),
            step("big", "expensive", {"x": 1}, deps=["pay"])])
    result = executor(registry, budget=2.0).execute(w, {}, confirm=True)
    assert result.status == "budget_exceeded"
    assert result.steps["big"].status == "budget_exceeded"
    assert not any(c.startswith("expensive") for c in calls())
    assert "refund ch_3" in calls()
    assert result.total_cost == pytest.approx(0.5)


def test_cost_comes_from_result_then_registry_then_estimate(registry, calls):
    w = wf([step("r", "priced"), step("d", "charge_card", {"amount": 1}), step("e", "add", {"a": 1, "b": 1},
                                                                             cost_estimate=0.125)])
    result = executor(registry).execute(w, {}, confirm=True)
    assert [result.steps[s].cost for s in "rde"] == [0.25, 0.5, 0.125]
    assert result.total_cost == pytest.approx(0.875)


def test_a_map_step_is_budgeted_per_item(registry, calls):
    w = wf([step("m", "charge_card", {"amount": "{{item}}"}, map_over="{{amounts}}")],
           inputs={"amounts": {"type": "array"}})
    ex = executor(registry, budget=1.2)
    assert ex.execute(w, {"amounts": [1, 2, 3]}, confirm=True).status == "budget_exceeded"
    ex = executor(registry, budget=1.5)
    assert ex.execute(w, {"amounts": [1, 2, 3]}, confirm=True).total_cost == pytest.approx(1.5)


# ---------------------------------------------------------------- cancellation

def test_cancelling_the_run_cancels_running_steps_and_compensates(registry, calls):
    w = wf([step("hold", "reserve", {"what": "h"},
                 compensation={"tool_name": "release", "parameters": {"reservation": "{{hold.reservation}}"}}),
            step("wait", "sleepy", {"seconds": 60}, deps=["hold"])])
    events = EventBus()

    async def main():
        started = asyncio.Event()
        events.subscribe(lambda e: started.set() if (e.type, e.step_id) == ("step.started", "wait") else None)
        task = asyncio.ensure_future(executor(registry, events=events).execute_async(w, {}))
        await started.wait()
        task.cancel()
        return await task

    result = asyncio.run(main())
    assert result.status == "cancelled"
    assert result.steps["wait"].status == "cancelled"
    assert calls()[-1] == "release r-h"


def test_executor_cancel_from_another_thread(registry, calls):
    w = wf([step("wait", "sleepy", {"seconds": 60})])
    events = EventBus()
    ex = executor(registry, events=events)
    events.subscribe(lambda e: threading.Thread(target=ex.cancel).start(), types=["step.started"])
    result = ex.execute(w, {})
    assert result.status == "cancelled" and result.error == "run cancelled"


# ---------------------------------------------------------------- safety: review, inputs, tools

def test_only_accepted_workflows_run_unless_allowed(registry, calls):
    w = wf([step("a", "add", {"a": 1, "b": 2})], status="suggested")
    with pytest.raises(UnreviewedWorkflowError, match="not accepted"):
        executor(registry).execute(w, {})
    assert calls() == []
    assert executor(registry, allow_unreviewed=True).execute(w, {}).outputs == {"a": 3}


@pytest.mark.parametrize("given, message", [
    ({}, "missing required input 'uid'"),
    ({"uid": "u", "extra": 1}, "unknown input 'extra'"),
    ({"uid": 5}, "input 'uid' must be string, got integer"),
])
def test_inputs_are_checked_before_anything_runs(registry, calls, given, message):
    w = wf([step("user", "get_user", {"user_id": "{{uid}}"})], inputs={"uid": {"type": "string"}})
    with pytest.raises(InputError, match=message):
        executor(registry).execute(w, given)
    assert calls() == []


def test_an_unknown_tool_fails_validation_before_anything_runs(registry, calls):
    rec = MemoryRecorder()
    w = wf([step("a", "add", {"a": 1, "b": 2}), step("b", "no_such_tool", deps=["a"])])
    with pytest.raises(ValidationError, match="no_such_tool"):
        executor(registry, recorder=rec).execute(w, {})
    assert calls() == [] and rec.runs == {}


def test_a_dict_of_functions_is_a_registry_and_run_workflow_is_one_call():
    w = wf([step("a", "mul", {"x": "{{n}}"})], inputs={"n": {"type": "integer"}})
    assert run_workflow(w, {"n": 4}, tools={"mul": lambda x: x * 10}, guards=ToolGuards()).outputs == {"a": 40}


def test_execute_refuses_to_block_inside_an_event_loop(registry):
    async def inside():
        executor(registry).execute(wf([step("a", "noop")]), {})
    with pytest.raises(LibraryError, match="execute_async"):
        asyncio.run(inside())


# ---------------------------------------------------------------- sub-workflows

class DictLibrary(dict):
    def get(self, name):
        return self[name]


def test_a_sub_workflow_runs_with_the_step_parameters_as_inputs(registry, calls):
    child = wf([step("user", "get_user", {"user_id": "{{uid}}"})], name="child",
               inputs={"uid": {"type": "string"}}, outputs={"orders": "{{user.orders}}"})
    parent = wf([step("lookup", "workflow:child", {"uid": "{{who}}"}),
                 step("first", "get_order", {"order_id": "{{lookup.orders[0]}}"})],
                name="parent", inputs={"who": {"type": "string"}})
    rec = MemoryRecorder()
    result = executor(registry, library=DictLibrary(child=child), recorder=rec).execute(parent, {"who": "ann"})
    assert result.status == "completed", result.error
    assert result.outputs == {"lookup": {"orders": ["ann-o1", "ann-o2", "ann-o3"]},
                              "first": {"order_id": "ann-o1", "total": 10}}
    assert rec.runs[f"{result.run_id}.lookup"].status == "completed"


def test_sub_workflow_recursion_is_refused_at_validation(registry):
    a = wf([step("x", "workflow:b")], name="a")
    b = wf([step("y", "workflow:a")], name="b")
    with pytest.raises(ValidationError, match="recursion a -> b -> a"):
        executor(registry, library=DictLibrary(a=a, b=b)).execute(a, {})


# ---------------------------------------------------------------- events

def test_events_tell_the_story_of_a_run(registry, calls):
    events = EventBus()
    q, unsubscribe = events.subscribe_queue()
    w = wf([step("a", "add", {"a": 1, "b": 2}), step("b", "add", {"a": "{{a}}", "b": 1}, condition="{{a}} > 5")])
    executor(registry, events=events).execute(w, {})
    unsubscribe()
    seen = []
    while not q.empty():
        e = q.get_nowait()
        seen.append((e.type, e.step_id))
    assert seen == [("workflow.started", None), ("step.started", "a"), ("step.completed", "a"),
                    ("step.skipped", "b"), ("workflow.completed", None)]


def test_a_broken_subscriber_does_not_break_the_run(registry, calls):
    events = EventBus()
    events.subscribe(lambda e: 1 / 0)
    assert executor(registry, events=events).execute(wf([step("a", "noop")]), {}).status == "completed"


def test_a_failing_recorder_is_reported_but_does_not_break_the_run(registry, calls):
    class Broken(MemoryRecorder):
        def record_step(self, step):
            raise OSError("disk full")

    result = executor(registry, recorder=Broken()).execute(wf([step("a", "add", {"a": 1, "b": 2})]), {})
    assert result.status == "completed" and result.record_errors == 2


# ---------------------------------------------------------------- inputs picked from a list

@pytest.mark.parametrize("order, status", [("mia-o2", "completed"), ("mia-o9", "failed")])
def test_an_input_with_choices_must_be_one_of_the_list_an_earlier_step_returned(registry, calls, order, status):
    w = wf([step("user", "get_user", {"user_id": "{{uid}}"}),
            step("pick", "echo", {"order": "{{order_id}}"}, deps=["user"])],
           inputs={"uid": {"type": "string"}, "order_id": {"type": "string", "choices": "{{user.orders}}"}})
    result = executor(registry).execute(w, {"uid": "mia", "order_id": order})
    assert result.status == status
    if status == "failed":
        assert "not one of {{user.orders}}" in result.steps["pick"].error
        assert result.steps["pick"].attempts == 0  # refused before the tool was called
