"""Tools whose module brings its own ``is_failure`` hook, overriding the shared rule both ways."""

from __future__ import annotations

from chainmine.library.failures import Failure
from chainmine.library.failures import is_failure as default_rule

BUSY: dict[str, int] = {}


def is_failure(tool_name: str, result: object) -> object:
    """``legacy`` text starting with Error is fine; ``{"ok": false}`` fails; ``busy`` may retry."""
    if tool_name == "legacy":
        return None
    if isinstance(result, dict) and result.get("ok") is False:
        return result.get("why", "not ok")
    if tool_name == "busy" and result == "Error: busy":
        return Failure("Error: busy", retryable=True)
    return default_rule(result)


def legacy() -> str:
    return "Error count: 0 (all good)"


def charge(amount: float) -> dict:
    return {"ok": False, "why": "card declined"}


def busy(key: str) -> str:
    """``Error: busy`` the first two calls for ``key``, then done."""
    BUSY[key] = BUSY.get(key, 0) + 1
    return "Error: busy" if BUSY[key] <= 2 else "done"


def plain(text: str) -> str:
    return text
