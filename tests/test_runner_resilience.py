"""Retry policy, circuit breaker and rate limiter, driven by fake clocks (no real waiting)."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import pytest

from chainmine.library.model import WorkflowTemplate
from chainmine.library.runner import CircuitBreaker, RateLimiter, RetryPolicy, ToolGuards, WorkflowExecutor
from chainmine.library.runner.errors import CircuitOpenError, NonRetryableError, RetryableError, ToolTimeoutError
from chainmine.library.runner.resilience import is_retryable

sys.path.insert(0, str(Path(__file__).parent / "tools"))
from runner_fixtures import TOOLS_FILE, calls, registry  # noqa: E402,F401  (fixtures)


class FakeTime:
    def __init__(self):
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def map_workflow(tool: str, n: int) -> WorkflowTemplate:
    return WorkflowTemplate.from_dict({"name": "m", "status": "accepted", "inputs": {"keys": {"type": "array"}},
                                       "steps": [{"id": "each", "tool_name": tool, "parameters": {"key": "{{item}}"},
                                                  "map_over": "{{keys}}", "max_concurrency": 1,
                                                  "allow_partial": True}]})


# ---------------------------------------------------------------- retry policy

@pytest.mark.parametrize("delay, backoff, cap, expected", [
    (0.5, 2.0, 30.0, [0.5, 1.0, 2.0, 4.0]),
    (1.0, 3.0, 5.0, [1.0, 3.0, 5.0, 5.0]),
    (0.0, 2.0, 30.0, [0.0, 0.0, 0.0, 0.0]),
])
def test_backoff_grows_exponentially_up_to_the_cap(delay, backoff, cap, expected):
    policy = RetryPolicy(max_retries=4, delay=delay, backoff=backoff, jitter=0.0, max_delay=cap)
    assert [policy.delay_for(n) for n in (1, 2, 3, 4)] == expected


def test_jitter_only_shortens_delays_within_its_fraction():
    policy = RetryPolicy(delay=1.0, backoff=2.0, jitter=0.25)
    rng = random.Random(7)
    delays = [policy.delay_for(2, rng) for _ in range(200)]
    assert all(1.5 <= d <= 2.0 for d in delays)
    assert len(set(delays)) > 100


@pytest.mark.parametrize("exc, declared, expected", [
    (ConnectionResetError(), None, True),
    (ToolTimeoutError("slow"), None, True),
    (OSError("disk"), None, True),
    (RetryableError("busy"), False, True),
    (NonRetryableError("no"), True, False),
    (ValueError("bad"), None, False),
    (ValueError("bad"), True, True),
    (ValueError("bad"), (ValueError,), True),
    (ConnectionError("down"), False, False),
    (CircuitOpenError("open"), None, False),
])
def test_which_errors_are_retried(exc, declared, expected):
    assert is_retryable(exc, declared) is expected


# ---------------------------------------------------------------- circuit breaker

def test_breaker_opens_after_threshold_then_half_opens_after_reset():
    t = FakeTime()
    b = CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=t.clock)
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    assert b.state == "closed"
    b.record_failure()
    assert b.state == "open"
    assert [b.allow() for _ in range(4)] == [False] * 4 and b.refused == 4
    t.now = 10.0
    assert b.allow() and not b.allow()      # one trial call at a time
    b.record_failure()                      # the trial failed: open again
    assert b.state == "open"
    t.now = 20.0
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.allow()


def test_an_open_breaker_refuses_calls_and_is_shared_across_runs(registry, calls):
    t = FakeTime()
    guards = ToolGuards(failure_threshold=2, reset_timeout=60, clock=t.clock, sleep=t.sleep)
    wf = map_workflow("always_down", 5)
    first = WorkflowExecutor(registry, guards=guards).execute(wf, {"keys": list("abcde")})
    assert calls() == ["always_down a", "always_down b"]          # the tool saw only two calls
    assert guards.breaker("always_down").refused == 3
    errors = first.steps["each"].details["item_errors"]
    assert sum("circuit open" in e for e in errors.values()) == 3
    # A second run with another executor sharing the guards is refused without calling the tool.
    second = WorkflowExecutor(registry, guards=guards).execute(wf, {"keys": ["f"]})
    assert "circuit open" in second.steps["each"].details["item_errors"]["0"]
    assert len(calls()) == 2
    t.now = 61.0                                                    # after the reset timeout: one trial
    WorkflowExecutor(registry, guards=guards).execute(wf, {"keys": ["g", "h"]})
    assert calls()[2:] == ["always_down g"]


def test_business_errors_do_not_trip_the_breaker(registry, calls):
    guards = ToolGuards(failure_threshold=1)
    wf = WorkflowTemplate.from_dict({"name": "w", "status": "accepted", "steps": [
        {"id": "d", "tool_name": "double", "parameters": {"n": "{{item}}"}, "map_over": "{{ns}}",
         "max_concurrency": 1, "allow_partial": True}], "inputs": {"ns": {"type": "array"}}})
    result = WorkflowExecutor(registry, guards=guards).execute(wf, {"ns": [-1, -2, 3]})
    assert result.outputs == {"d": [None, None, 6]}
    assert guards.breaker("double").state == "closed"


# ---------------------------------------------------------------- rate limiter

@pytest.mark.parametrize("rate, burst, n, waits, elapsed", [
    (2.0, 1, 5, 4, 2.0),
    (10.0, 1, 3, 2, 0.2),
    (1.0, 3, 5, 2, 2.0),
])
def test_rate_limiter_spaces_calls(rate, burst, n, waits, elapsed):
    t = FakeTime()
    lim = RateLimiter(rate, burst, clock=t.clock, sleep=t.sleep)

    async def go():
        for _ in range(n):
            await lim.acquire()
    asyncio.run(go())
    assert lim.waited == waits
    assert t.now == pytest.approx(elapsed)


def test_rate_limit_applies_to_a_tool_across_runs(registry, calls):
    t = FakeTime()
    guards = ToolGuards(clock=t.clock, sleep=t.sleep)
    wf = WorkflowTemplate.from_dict({"name": "w", "status": "accepted", "inputs": {"xs": {"type": "array"}},
                                     "steps": [{"id": "m", "tool_name": "double", "parameters": {"n": "{{item}}"},
                                                "map_over": "{{xs}}", "max_concurrency": 4}]})
    result = WorkflowExecutor(registry, guards=guards, rate_limits={"double": 4.0}).execute(wf, {"xs": [1, 2, 3, 4]})
    assert result.outputs == {"m": [2, 4, 6, 8]}
    limiter = guards.limiter("double")
    assert limiter.waited == 3 and t.now == pytest.approx(0.75)
    # the same limit set by another executor keeps the shared schedule
    WorkflowExecutor(registry, guards=guards, rate_limits={"double": 4.0}).execute(wf, {"xs": [5]})
    assert guards.limiter("double") is limiter and limiter.waited == 4
