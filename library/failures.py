"""When a tool's result says the call failed: the one rule ingest and the runner share.

Agents' tools often report failure in what they return instead of raising:
``"Error: user not found"`` or ``{"error": "not found"}``. :func:`is_failure`
is the rule, applied to a result as the runner receives it and, through the
same constants, by the ingest of conversation logs (which builds its SQL from
:data:`ERROR_PREFIXES` and :data:`ERROR_KEYS`, see
:func:`chainmine.miner.ingest.conversations.failed_text`), so a call mined as failed is
the call the runner fails:

* text whose first non-blank characters are one of :data:`ERROR_PREFIXES`;
* text holding a JSON object is judged as that object;
* an object with a key of :data:`ERROR_KEYS` whose value is neither null nor false.

Anything else (lists, numbers, ``None``, objects without such a key) succeeded.

A Python tools module may override the rule with a module-level hook
``is_failure(tool_name, result)`` (see :func:`classify`); it is not a tool. A
failure result is not retried unless the hook returns ``Failure(reason,
retryable=True)``.

Examples
--------
>>> is_failure("Error: no such user"), is_failure({"error": "rate limited"}), is_failure({"id": 1})
('Error: no such user', 'rate limited', None)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

ERROR_PREFIXES = ("Error", "ERROR")
"""Text starting (after blanks) with one of these is a failure."""
ERROR_KEYS = ("error",)
"""An object with one of these keys set (not null, not false) is a failure."""
BLANKS = " \t\n\r\f"
"""What may precede an error prefix (the characters both Python and DuckDB's regex call blank)."""
MAX_REASON = 2000
"""Characters of a failure text kept as the reason."""

ERROR_TEXT_PATTERN = r"^[ \t\n\r\f]*(" + "|".join(re.escape(p) for p in ERROR_PREFIXES) + ")"
"""The text rule as a regular expression both Python's ``re`` and DuckDB (RE2) read the same way."""
_ERROR_TEXT = re.compile(ERROR_TEXT_PATTERN)


@dataclass(frozen=True)
class Failure:
    """Why a result counts as a failed call, and whether calling again may help.

    Examples
    --------
    >>> Failure("Error: busy", retryable=True).retryable
    True
    """

    reason: str
    retryable: bool = False


FailureHook = Callable[[str, Any], Any]
"""``is_failure(tool_name, result)`` → ``None``/``False`` (succeeded), ``True`` (failed, default reason),
a reason text, or a :class:`Failure`."""


def _key_failure(obj: dict) -> str | None:
    for key in ERROR_KEYS:
        if key in obj and obj[key] is not None and obj[key] is not False:
            value = obj[key]
            # never empty: callers may test the reason's truth
            return value if isinstance(value, str) and value.strip() else json.dumps(value, default=str)
    return None


def is_failure(result: Any) -> str | None:
    """The reason ``result`` marks its call failed (never empty), or ``None`` when it succeeded.

    Parameters
    ----------
    result : what the tool returned (any JSON-able value, or text).

    Examples
    --------
    >>> is_failure("  ERROR 404"), is_failure('{"error": {"code": 7}}'), is_failure('{"error": null}')
    ('  ERROR 404', '{"code": 7}', None)
    >>> is_failure("no Error here"), is_failure({"error": False}), is_failure(["Error"])
    (None, None, None)

    Notes
    -----
    O(n) in the length of a text result (a JSON object text is parsed once).
    """
    if isinstance(result, str):
        if _ERROR_TEXT.match(result):
            return result[:MAX_REASON]
        if result.lstrip(BLANKS).startswith("{"):
            try:
                parsed = json.loads(result)
            except ValueError:
                return None
            return _key_failure(parsed) if isinstance(parsed, dict) else None
        return None
    if isinstance(result, dict):
        return _key_failure(result)
    return None


def classify(result: Any, tool: str = "", hook: FailureHook | None = None) -> Failure | None:
    """Judge ``result`` of ``tool`` by ``hook`` when given, else by :func:`is_failure`.

    A hook decides alone (it may call :func:`is_failure` itself to keep the default
    for some tools): ``None``, ``False`` or ``""`` mean success; ``True`` a failure
    with the default reason; a string that reason; a :class:`Failure` as it is.

    Examples
    --------
    >>> classify("Error: x")
    Failure(reason='Error: x', retryable=False)
    >>> classify("Error: x", "t", lambda tool, r: None) is None
    True
    >>> classify({"ok": False}, "t", lambda tool, r: "not ok" if r.get("ok") is False else None).reason
    'not ok'
    """
    if hook is None:
        reason = is_failure(result)
        return None if reason is None else Failure(reason)
    verdict = hook(tool, result)
    if verdict is None or verdict is False or verdict == "":
        return None
    if verdict is True:
        return Failure(is_failure(result) or f"tool {tool!r} reported a failure in its result")
    if isinstance(verdict, str):
        return Failure(verdict[:MAX_REASON])
    if isinstance(verdict, Failure):
        return verdict
    raise TypeError(f"is_failure hook for tool {tool!r} returned {type(verdict).__name__}; "
                    "return None, a bool, a reason string or chainmine.library.failures.Failure")
