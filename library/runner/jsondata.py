"""Tool results as JSON data: common Python values converted faithfully, anything else refused.

A result must be JSON (it is recorded, passed to later steps and printed by
``run --json``). Values JSON has no type for but a faithful spelling are
converted, and the step notes each kind it converted:

* ``datetime``, ``date``, ``time`` -> ISO 8601 text (``isoformat()``);
* ``Decimal`` -> a number (an integer when it is whole, so large amounts stay exact);
* ``tuple``, ``set``, ``frozenset`` -> lists (sets sorted when their items allow);
* dataclass instances and pydantic models -> dicts of their fields;
* ``Enum`` -> its value, ``UUID`` -> its text, UTF-8 ``bytes`` -> text;
* dict keys that are numbers, booleans or ``None`` -> text, as JSON writes them.

Anything else (an arbitrary object, a generator, bytes that are not UTF-8,
NaN or infinity, a circular structure) fails the step with a message naming
the tool, the type and where in the result it sits: ``str()`` of an object is
rarely what the next step needs, and guessing would hide the bug in the tool.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any, Mapping

from chainmine.library.runner.errors import ResultNotJSONError, ResultTooLargeError

DEFAULT_MAX_RESULT_BYTES = 10 * 1024 * 1024
_HINT = ("return a dict, list, str, number, bool or None (datetime, Decimal, UUID, Enum, set, tuple, UTF-8 bytes, "
         "dataclass and pydantic values are converted)")


def normalise_result(value: Any, max_bytes: int = DEFAULT_MAX_RESULT_BYTES, *,
                     tool: str | None = None) -> tuple[Any, tuple[str, ...]]:
    """Check that ``value`` is JSON of at most ``max_bytes``, converting the common types JSON cannot hold.

    Parameters
    ----------
    value : what the tool returned.
    max_bytes : largest result, in bytes of JSON text.
    tool : the tool's name, for error messages.

    Returns
    -------
    (value, notes)
        The result as plain JSON data and one note per kind of value converted.

    Raises
    ------
    ResultNotJSONError
        A value with no faithful JSON form (see the module notes).
    ResultTooLargeError
        The JSON text is over ``max_bytes``.

    Examples
    --------
    >>> from decimal import Decimal
    >>> value, notes = normalise_result({"ids": {3, 1}, "total": Decimal("12.50"), "at": datetime.date(2026, 1, 2)})
    >>> value
    {'ids': [1, 3], 'total': 12.5, 'at': '2026-01-02'}
    >>> notes
    ('converted set to JSON', 'converted Decimal to JSON', 'converted date to JSON')
    >>> normalise_result({"x": object()}, tool="report")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    chainmine.library.runner.errors.ResultNotJSONError: tool 'report' returned an object (at x), which is not JSON data: ...
    >>> normalise_result("x" * 20, max_bytes=10)
    Traceback (most recent call last):
    ...
    chainmine.library.runner.errors.ResultTooLargeError: result is 22 bytes of JSON, over the 10-byte limit

    Notes
    -----
    Plain JSON data is checked by one ``json.dumps`` and copied by one
    ``json.loads`` (so tuples become lists and the step holds what was
    recorded); other results are walked once first, O(size).
    """
    if value is None or isinstance(value, bool) or type(value) is int:
        return value, ()
    if type(value) is float:
        if not math.isfinite(value):
            raise ResultNotJSONError(f"{_who(tool)} {value!r}, which is not a JSON number")
        return value, ()
    if type(value) is str:
        if len(value) * 4 > max_bytes and len(value.encode("utf-8")) + 2 > max_bytes:
            raise ResultTooLargeError(f"result is {len(value.encode('utf-8')) + 2} bytes of JSON, "
                                      f"over the {max_bytes}-byte limit")
        return value, ()
    converted: list[str] = []
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except TypeError:  # a type JSON has no spelling for: convert what has a faithful one
        text = _converted_text(value, tool, converted)
    except ValueError as exc:
        raise ResultNotJSONError(f"{_who(tool)} a result that cannot be written as JSON: {exc}") from None
    except RecursionError:
        raise ResultNotJSONError(f"{_who(tool)} a result nested too deeply to write as JSON") from None
    size = len(text.encode("utf-8")) if len(text) * 4 > max_bytes else len(text)
    if size > max_bytes:
        raise ResultTooLargeError(f"result is {size} bytes of JSON, over the {max_bytes}-byte limit")
    return json.loads(text), tuple(f"converted {k} to JSON" for k in converted)


def _converted_text(value: Any, tool: str | None, converted: list[str]) -> str:
    try:
        return json.dumps(to_json_data(value, tool=tool, converted=converted), allow_nan=False, ensure_ascii=False)
    except RecursionError:
        raise ResultNotJSONError(f"{_who(tool)} a result nested too deeply to write as JSON") from None


def _who(tool: str | None) -> str:
    return f"tool {tool!r} returned" if tool else "the tool returned"


def _a(kind: str) -> str:
    return ("an " if kind[:1].lower() in "aeiou" else "a ") + kind


def to_json_data(value: Any, *, tool: str | None = None, converted: list[str] | None = None) -> Any:
    """``value`` as plain JSON data (dicts, lists, str, numbers, bools, None), per the module's rules.

    ``converted`` collects the name of each kind of value converted, once.

    Examples
    --------
    >>> import dataclasses
    >>> @dataclasses.dataclass
    ... class Seat:
    ...     row: int
    ...     letters: tuple
    >>> to_json_data([Seat(4, ("A", "B")), {1: None}])
    [{'row': 4, 'letters': ['A', 'B']}, {'1': None}]
    """
    return _convert(value, (), converted if converted is not None else [], tool, set())


def _fail(tool: str | None, path: tuple, what: str) -> ResultNotJSONError:
    at = f" (at {_path_text(path)})" if path else ""
    return ResultNotJSONError(f"{_who(tool)} {what}{at}, which is not JSON data: {_HINT}")


def _path_text(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _note(converted: list[str], obj: Any) -> None:
    kind = type(obj).__name__
    if kind not in converted:
        converted.append(kind)


def _convert(obj: Any, path: tuple, converted: list[str], tool: str | None, active: set[int]) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, Enum):
        _note(converted, obj)
        return _convert(obj.value, path, converted, tool, active)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise _fail(tool, path, f"the number {obj!r}")
        return float(obj)
    if isinstance(obj, Decimal):
        _note(converted, obj)
        if obj.is_finite() and obj == obj.to_integral_value():
            return int(obj)
        number = float(obj)
        if not math.isfinite(number):
            raise _fail(tool, path, f"Decimal({str(obj)!r}), beyond what a JSON number holds")
        return number
    if isinstance(obj, (datetime.date, datetime.time)):  # datetime is a date
        _note(converted, obj)
        return obj.isoformat()
    if isinstance(obj, uuid.UUID):
        _note(converted, obj)
        return str(obj)
    if isinstance(obj, (bytes, bytearray)):
        try:
            text = bytes(obj).decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(tool, path, "bytes that are not UTF-8 text") from None
        _note(converted, obj)
        return text
    if isinstance(obj, (Mapping, list, tuple, set, frozenset)) or dataclasses.is_dataclass(obj) \
            or hasattr(obj, "model_dump"):
        if id(obj) in active:
            raise _fail(tool, path, "a structure that contains itself")
        active.add(id(obj))
        try:
            return _container(obj, path, converted, tool, active)
        finally:
            active.discard(id(obj))
    raise _fail(tool, path, _a(type(obj).__name__))


def _container(obj: Any, path: tuple, converted: list[str], tool: str | None, active: set[int]) -> Any:
    if isinstance(obj, Mapping):
        return {_key(k, path, converted, tool): _convert(v, path + (str(k),), converted, tool, active)
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_convert(v, path + (i,), converted, tool, active) for i, v in enumerate(obj)]
    if isinstance(obj, (set, frozenset)):
        _note(converted, obj)
        items = [_convert(v, path + (i,), converted, tool, active) for i, v in enumerate(obj)]
        try:
            return sorted(items)  # a set has no order; sorting keeps runs repeatable
        except TypeError:
            return items
    _note(converted, obj)
    if hasattr(obj, "model_dump") and not isinstance(obj, type):
        return _convert(obj.model_dump(mode="json"), path, converted, tool, active)
    if isinstance(obj, type):
        raise _fail(tool, path, f"the class {obj.__name__}")
    return {f.name: _convert(getattr(obj, f.name), path + (f.name,), converted, tool, active)
            for f in dataclasses.fields(obj)}


def _key(key: Any, path: tuple, converted: list[str], tool: str | None) -> str:
    if isinstance(key, str):
        return str(key)
    plain = _convert(key, path, converted, tool, set())
    if isinstance(plain, str):
        return plain
    if plain is None or isinstance(plain, (bool, int, float)):
        return json.dumps(plain)  # as json.dumps writes such keys: true, null, 1.5
    raise _fail(tool, path, f"a dict key of type {type(key).__name__}")
