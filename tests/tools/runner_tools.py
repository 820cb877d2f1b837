"""Tools for the runner tests.

When ``RUNNER_TEST_LOG`` names a file, every call appends one line
``<tool> <detail>`` to it, so tests count invocations across processes.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import time

from chainmine.library.runner import NonRetryableError, RetryableError, tool


def _log(name: str, detail: object = "") -> None:
    path = os.environ.get("RUNNER_TEST_LOG")
    if path:
        with open(path, "a") as fh:
            fh.write(f"{name} {detail}".rstrip() + "\n")


def _count(name: str, detail: object) -> int:
    path = os.environ.get("RUNNER_TEST_LOG")
    if not path or not os.path.exists(path):
        return 0
    with open(path) as fh:
        return sum(1 for line in fh if line.rstrip("\n") == f"{name} {detail}")


def get_user(user_id: str) -> dict:
    """Look a user up (sync)."""
    _log("get_user", user_id)
    return {"id": user_id, "orders": [f"{user_id}-o1", f"{user_id}-o2", f"{user_id}-o3"],
            "vip": user_id.startswith("vip")}


async def get_order(order_id: str) -> dict:
    """Look an order up (async)."""
    _log("get_order", order_id)
    await asyncio.sleep(0)
    return {"order_id": order_id, "total": 10 * int(order_id[-1])}


def add(a: float, b: float) -> float:
    _log("add", f"{a}+{b}")
    return a + b


def echo(**kwargs):
    _log("echo", sorted(kwargs))
    return kwargs


@tool(name="charge_card", cost=0.5)
def charge(amount: float) -> dict:
    """Charge a card; declared cost 0.5 per call."""
    _log("charge_card", amount)
    return {"charge_id": f"ch_{amount}", "amount": amount}


def refund(charge_id: str) -> dict:
    _log("refund", charge_id)
    return {"refunded": charge_id}


def reserve(what: str) -> dict:
    _log("reserve", what)
    return {"reservation": f"r-{what}"}


def release(reservation: str) -> dict:
    _log("release", reservation)
    return {"released": reservation}


def broken_release(reservation: str) -> dict:
    _log("broken_release", reservation)
    raise ValueError(f"cannot release {reservation}")


@tool(cost=5.0)
def expensive(x: int = 0) -> dict:
    _log("expensive", x)
    return {"x": x}


def priced(x: int = 0) -> dict:
    """Reports its own cost in the result."""
    _log("priced", x)
    return {"x": x, "cost": 0.25}


def flaky(key: str, failures: int) -> dict:
    """Raise ConnectionError for the first ``failures`` calls with this key, then succeed."""
    seen = _count("flaky", key)
    _log("flaky", key)
    if seen < failures:
        raise ConnectionError(f"{key}: connection reset (call {seen + 1})")
    return {"key": key, "calls": seen + 1}


def fragile(key: str) -> dict:
    """Ask for a retry through RetryableError, once per key."""
    seen = _count("fragile", key)
    _log("fragile", key)
    if seen == 0:
        raise RetryableError("busy, try again")
    return {"key": key}


def fail(message: str = "boom") -> dict:
    _log("fail", message)
    raise NonRetryableError(message)


def bad_value(x: int = 0) -> dict:
    _log("bad_value", x)
    raise ValueError(f"bad value {x}")


def always_down(key: str = "") -> dict:
    _log("always_down", key)
    raise ConnectionError("service unavailable")


def backup(**kwargs) -> dict:
    _log("backup", sorted(kwargs))
    return {"from": "backup", **kwargs}


def hang(release_file: str) -> dict:
    """Block until ``release_file`` exists (used to stop a run mid-step)."""
    _log("hang", os.path.basename(release_file))
    while not os.path.exists(release_file):
        time.sleep(0.02)
    return {"released": True}


async def sleepy(seconds: float = 3600) -> dict:
    _log("sleepy", seconds)
    await asyncio.sleep(seconds)
    return {"slept": seconds}


def huge(size: int) -> str:
    _log("huge", size)
    return "x" * size


def odd_types() -> dict:
    _log("odd_types")
    return {"when": datetime.date(2026, 1, 2), "tags": {"a"}, "raw": b"hi"}


def not_a_number() -> float:
    _log("not_a_number")
    return float("nan")


def double(n: int) -> int:
    _log("double", n)
    if n < 0:
        raise ValueError(f"negative {n}")
    return 2 * n


async def noop() -> None:
    return None


_FLAGS: dict = {}


def _flag(name: str):
    import threading
    return _FLAGS.setdefault(name, threading.Event())


def set_flag(name: str) -> dict:
    """Raise flag ``name`` (other tools may be waiting for it)."""
    _log("set_flag", name)
    _flag(name).set()
    return {"set": name}


def wait_flag(name: str, then_set: str = "") -> dict:
    """Block until flag ``name`` is raised (by a step running at the same time), then raise ``then_set``."""
    _log("wait_flag", name)
    if not _flag(name).wait(20):
        raise NonRetryableError(f"flag {name!r} never came: the step that raises it did not run concurrently")
    if then_set:
        _flag(then_set).set()
    return {"waited": name}


async def spin(value: int, turns: int) -> int:
    """Yield to the event loop ``turns`` times, so items finish in an order set by the test."""
    for _ in range(turns):
        await asyncio.sleep(0)
    _log("spin", value)
    return value


def gate(flag_file: str) -> dict:
    """Fail until ``flag_file`` exists (a step that fails once and works on resume)."""
    _log("gate", os.path.basename(flag_file))
    if not os.path.exists(flag_file):
        raise NonRetryableError("gate closed")
    return {"open": True}
