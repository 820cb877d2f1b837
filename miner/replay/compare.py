"""Comparing a replayed call with its logged counterpart, value by value.

Values are compared as JSON: key order is irrelevant, numbers are equal when
they are equal as floats (``1`` and ``1.0``; rounded to 12 significant digits
so a float that went through text survives), strings must match exactly, and
a string holding a JSON document is compared as that document (logs often keep
results as text, tools return data).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

SHOWN_CHARS = 80
"""Longest logged/replayed value shown in a disagreement."""


def normalise(value: Any) -> Any:
    """``value`` in the form compared: JSON text parsed, numbers as floats, tuples as lists.

    Examples
    --------
    >>> normalise('{"b": 1, "a": [2, 3.0]}')
    {'b': 1.0, 'a': [2.0, 3.0]}
    >>> normalise(True), normalise("plain text")
    (True, 'plain text')
    """
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[", '"'):
            try:
                return normalise(json.loads(text))
            except ValueError:
                return value
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(f"{float(value):.12g}")
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return value


def all_differences(logged: Any, replayed: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Every place two normalised values differ, in order: ``(path, logged part, replayed part)``.

    Examples
    --------
    >>> list(all_differences({"a": 1.0, "b": [1.0, 2.0]}, {"a": 2.0, "b": [1.0, 3.0]}, "result"))
    [('result.a', 1.0, 2.0), ('result.b[1]', 2.0, 3.0)]
    """
    if isinstance(logged, dict) and isinstance(replayed, dict):
        for key in list(logged) + [k for k in replayed if k not in logged]:
            where = f"{path}.{key}" if path else str(key)
            if key not in logged or key not in replayed:
                yield where, logged.get(key, "(absent)"), replayed.get(key, "(absent)")
            else:
                yield from all_differences(logged[key], replayed[key], where)
    elif isinstance(logged, list) and isinstance(replayed, list) and len(logged) == len(replayed):
        for i, (a, b) in enumerate(zip(logged, replayed)):
            yield from all_differences(a, b, f"{path}[{i}]")
    elif logged != replayed:
        yield path, logged, replayed


def first_difference(logged: Any, replayed: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """Where two normalised values first differ, or ``None`` when they are equal.

    Examples
    --------
    >>> first_difference({"a": 1.0, "b": [1.0, 2.0]}, {"a": 1.0, "b": [1.0, 3.0]}, "result")
    ('result.b[1]', 2.0, 3.0)
    >>> first_difference({"a": 1.0}, {"a": 1.0}) is None
    True
    """
    return next(all_differences(logged, replayed, path), None)


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A short text for a value in a disagreement (JSON, cut to ``limit`` characters).

    Examples
    --------
    >>> shown("8JX2WO"), shown({"a": 1.0}), len(shown("x" * 500))
    ('"8JX2WO"', '{"a": 1.0}', 80)
    """
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def args_key(args: Any) -> str:
    """A hashable identity of a call's normalised arguments (for matching map items).

    Examples
    --------
    >>> args_key({"b": 1, "a": "x"}) == args_key({"a": "x", "b": 1.0})
    True
    """
    return json.dumps(normalise(args if args is not None else {}), sort_keys=True, default=str)
