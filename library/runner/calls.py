"""Calling one tool the resilient way: breaker, rate limit, concurrency slot, timeout, retries, fallback.

Every attempt is one recorded call. A result must be JSON: the common values
JSON cannot hold natively (datetimes, Decimals, sets, dataclasses, pydantic
models ...) are converted faithfully and the step records a note saying so;
anything else, NaN/Infinity and circular structures fail the call with a
message naming the tool and the type (see :mod:`chainmine.library.runner.jsondata`).
A result larger than ``max_result_bytes`` (10 MB by default) fails the call, and
so does a result the failure rule calls a failure (``"Error: ..."``, ``{"error": ...}``;
:mod:`chainmine.library.failures`, or the tools module's ``is_failure`` hook): the call is
recorded with its result and the reason, and retried only if the hook says so.

Idempotency. Each call of a step gets a stable key, :func:`idempotency_key`
(run id, step id and, in a map step, the item's index). Retries and the
fallback of that call reuse it, and so does a resumed run (same run id), so a
tool can recognise a write it has already done. A tool that takes an
``idempotency_key`` parameter receives it (unless the step sets one itself).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from chainmine.library.failures import classify
from chainmine.library.runner.errors import CircuitOpenError, FailedResultError, ToolTimeoutError
from chainmine.library.runner.events import STEP_RETRYING
from chainmine.library.runner.jsondata import DEFAULT_MAX_RESULT_BYTES, normalise_result
from chainmine.library.runner.recorder import CallRecord
from chainmine.library.runner.registry import IDEMPOTENCY_PARAM, ToolSpec
from chainmine.library.runner.resilience import RetryPolicy, ToolGuards, is_retryable


class CallFailed(Exception):
    """A tool call failed for good (retries and fallback used up); ``attempts`` counts calls made.

    Examples
    --------
    >>> CallFailed("tool 'x' failed after 3 attempts: ...", attempts=3).attempts
    3
    """

    def __init__(self, message: str, attempts: int, cause: BaseException | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.cause = cause


@dataclass(frozen=True)
class CallOutcome:
    """A successful tool call: its value, cost (None when unknown) and how it went.

    Examples
    --------
    >>> CallOutcome(value=1, cost=None, attempts=2).attempts
    2
    """

    value: Any
    cost: float | None
    attempts: int
    notes: tuple[str, ...] = ()
    fallback_used: bool = False


def idempotency_key(run_id: str, step_id: str, item: int | None = None, kind: str | None = None) -> str:
    """The stable key of one step call: ``RUN:STEP``, ``RUN:STEP:ITEM`` in a map, ``RUN:STEP:undo`` to compensate.

    Examples
    --------
    >>> idempotency_key("r1", "cancel"), idempotency_key("r1", "cancel", 2), idempotency_key("r1", "book", kind="undo")
    ('r1:cancel', 'r1:cancel:2', 'r1:book:undo')
    """
    key = f"{run_id}:{step_id}"
    if item is not None:
        key += f":{item}"
    if kind is not None:
        key += f":{kind}"
    return key


def with_key(spec: ToolSpec, params: dict[str, Any], key: str | None) -> dict[str, Any]:
    """``params`` plus ``idempotency_key`` when the tool takes one and the step did not set it.

    Examples
    --------
    >>> async def f(params): return params
    >>> with_key(ToolSpec("t", f, takes_idempotency_key=True), {"a": 1}, "r1:s")
    {'a': 1, 'idempotency_key': 'r1:s'}
    >>> with_key(ToolSpec("t", f), {"a": 1}, "r1:s")
    {'a': 1}
    """
    if key is None or not spec.takes_idempotency_key or IDEMPOTENCY_PARAM in params:
        return params
    return {**params, IDEMPOTENCY_PARAM: key}


def describe_error(exc: BaseException) -> str:
    """One line for an error: the runner's own messages as they are, others with their type.

    Examples
    --------
    >>> describe_error(ValueError("bad id")), describe_error(ToolTimeoutError("tool 'x' timed out"))
    ('ValueError: bad id', "tool 'x' timed out")
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if type(exc).__module__.startswith("chainmine.library."):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def result_cost(value: Any) -> float | None:
    """The ``cost`` a tool reported in a dict result, if it is a non-negative number.

    Examples
    --------
    >>> result_cost({"cost": 0.02, "id": 1}), result_cost({"cost": "free"}), result_cost([1])
    (0.02, None, None)
    """
    if isinstance(value, dict):
        cost = value.get("cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost >= 0 and math.isfinite(cost):
            return float(cost)
    return None


class ToolCaller:
    """Makes the calls of one run; shared by its steps, map items, fallbacks and compensations.

    Examples
    --------
    >>> from chainmine.library.runner.registry import PythonRegistry
    >>> spec = PythonRegistry.from_mapping({"neg": lambda x: -x}).get("neg")
    >>> caller = ToolCaller("r1", ToolGuards(), asyncio.Semaphore(4))
    >>> asyncio.run(caller.call(spec, {"x": 2}, "s", RetryPolicy())).value
    -2
    """

    def __init__(self, run_id: str, guards: ToolGuards, semaphore: asyncio.Semaphore, *,
                 default_timeout: float | None = 300.0, max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
                 record: Callable[[CallRecord], None] | None = None,
                 emit: Callable[[str, str | None, dict[str, Any]], None] | None = None,
                 rng: random.Random | None = None):
        self.run_id = run_id
        self.guards = guards
        self.semaphore = semaphore
        self.default_timeout = default_timeout
        self.max_result_bytes = max_result_bytes
        self.record = record
        self.emit = emit
        self.rng = rng or random.Random()
        self.seq = 0

    async def call(self, spec: ToolSpec, params: dict[str, Any], step_id: str, policy: RetryPolicy, *,
                   timeout: float | None = None, fallback: ToolSpec | None = None,
                   item: int | None = None, key: str | None = None) -> CallOutcome:
        """Call ``spec`` with retries per ``policy``, then ``fallback`` once; raise :class:`CallFailed`.

        ``key`` (default :func:`idempotency_key` of this run, step and item) is
        the same for every attempt and the fallback.
        """
        timeout = timeout if timeout is not None else self.default_timeout
        key = key if key is not None else idempotency_key(self.run_id, step_id, item)
        attempts = 0
        while True:
            attempts += 1
            try:
                value, cost, notes = await self._attempt(spec, with_key(spec, params, key), step_id, timeout)
                return CallOutcome(value, cost, attempts, notes)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempts > policy.max_retries or not is_retryable(exc, spec.retryable):
                    error = exc
                    break
                delay = policy.delay_for(attempts, self.rng)
                if self.emit is not None:
                    self.emit(STEP_RETRYING, step_id, {"attempt": attempts, "delay_s": round(delay, 3),
                                                       "error": describe_error(exc), "item": item})
                if delay > 0:
                    await asyncio.sleep(delay)
        tried = f"after {attempts} attempt{'s' if attempts > 1 else ''}"
        message = f"tool {spec.name!r} failed {tried}: {describe_error(error)}"
        if fallback is None:
            raise CallFailed(message, attempts, error)
        try:
            value, cost, notes = await self._attempt(fallback, with_key(fallback, params, key), step_id, timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise CallFailed(f"{message}; fallback {fallback.name!r} failed too: {describe_error(exc)}",
                             attempts + 1, exc) from None
        return CallOutcome(value, cost, attempts + 1, notes + (f"used fallback {fallback.name!r}: {message}",), True)

    async def _attempt(self, spec: ToolSpec, params: dict[str, Any], step_id: str,
                       timeout: float | None) -> tuple[Any, float | None, tuple[str, ...]]:
        breaker = self.guards.breaker(spec.name)
        if not breaker.allow():
            exc = CircuitOpenError(f"circuit open for tool {spec.name!r} after repeated failures; "
                                   f"calls refused for up to {breaker.reset_timeout:g}s")
            self._record(spec, params, step_id, time.time(), 0.0, None, None, exc)
            raise exc
        limiter = self.guards.limiter(spec.name)
        if limiter is not None:
            await limiter.acquire()
        async with self.semaphore:
            ts = time.time()
            t0 = time.perf_counter()
            scope = None
            try:
                if timeout:
                    async with asyncio.timeout(timeout) as scope:
                        value = await spec.invoke(params)
                else:
                    value = await spec.invoke(params)
                value, notes = normalise_result(value, self.max_result_bytes, tool=spec.name)
                failure = classify(value, spec.name, spec.is_failure)
                if failure is not None:
                    raise FailedResultError(failure.reason, value, failure.retryable)
            except asyncio.CancelledError:
                breaker.abandon()
                raise
            except Exception as exc:
                if scope is not None and scope.expired():
                    exc = ToolTimeoutError(f"tool {spec.name!r} timed out after {timeout:g}s")
                if is_retryable(exc, spec.retryable):
                    breaker.record_failure()
                else:
                    breaker.abandon()
                self._record(spec, params, step_id, ts, (time.perf_counter() - t0) * 1000,
                             getattr(exc, "result", None) if isinstance(exc, FailedResultError) else None, None, exc)
                raise exc from None
        breaker.record_success()
        cost = result_cost(value)
        if cost is None:
            cost = spec.cost
        self._record(spec, params, step_id, ts, (time.perf_counter() - t0) * 1000, value, cost, None)
        return value, cost, notes

    def _record(self, spec: ToolSpec, params: Any, step_id: str, ts: float, duration_ms: float,
                value: Any, cost: float | None, exc: BaseException | None) -> None:
        self.seq += 1
        if self.record is None:
            return
        self.record(CallRecord(self.run_id, step_id, spec.name, self.seq, ts, exc is None,
                               describe_error(exc) if exc is not None else None,
                               duration_ms, cost, params, value,
                               type(exc).__name__ if exc is not None else None))
