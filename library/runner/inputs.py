"""Workflow inputs: parse ``--input k=v`` / ``--inputs FILE`` and check them against ``inputs``.

A ``k=v`` value is read as JSON when it parses (``n=3`` → 3, ``ids=[1,2]`` →
a list), else kept as text; for an input declared ``string`` the text is
always kept, so ``id=007`` stays ``"007"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

from chainmine.library.model import InputSpec
from chainmine.library.runner.errors import InputError

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list, tuple), "object": (dict,),
}


def parse_input_pairs(pairs: Iterable[str], declared: Mapping[str, InputSpec] | None = None) -> dict[str, Any]:
    """Turn ``["k=v", ...]`` into a dict, reading values as JSON when they parse.

    Examples
    --------
    >>> parse_input_pairs(["n=3", "tags=[\\"a\\"]", "name=mia"])
    {'n': 3, 'tags': ['a'], 'name': 'mia'}
    >>> parse_input_pairs(["id=007"], {"id": InputSpec(type="string")})
    {'id': '007'}
    """
    declared = declared or {}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--input {pair!r} must look like name=value")
        spec = declared.get(key)
        if spec is not None and spec.type == "string":
            out[key] = raw
            continue
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def load_inputs_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON object of inputs from ``path``.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "in.json")
    >>> _ = open(p, "w").write('{"user_id": "u1"}')
    >>> load_inputs_file(p)
    {'user_id': 'u1'}
    """
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"cannot read inputs file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InputError(f"inputs file {path} is not valid JSON ({exc}); write one JSON object") from None
    if not isinstance(data, dict):
        raise InputError(f"inputs file {path} must hold one JSON object of name: value")
    return data


def input_problems(declared: Mapping[str, InputSpec], values: Mapping[str, Any]) -> list[str]:
    """Every way ``values`` breaks the declared inputs: missing, unknown, wrong type.

    Examples
    --------
    >>> input_problems({"n": InputSpec(type="integer")}, {"n": "x", "m": 1})
    ["unknown input 'm' (declared: n)", "input 'n' must be integer, got string"]

    Notes
    -----
    O(number of inputs).
    """
    problems = []
    for name in values:
        if name not in declared:
            names = ", ".join(sorted(declared)) or "none"
            problems.append(f"unknown input {name!r} (declared: {names})")
    for name, spec in declared.items():
        if name not in values:
            if spec.required and spec.default is None:
                hint = f", e.g. --input {name}={json.dumps(spec.example)}" if spec.example is not None else ""
                problems.append(f"missing required input {name!r}{hint}")
            continue
        value = values[name]
        if value is None and not spec.required:
            continue
        if not _type_ok(spec.type, value):
            problems.append(f"input {name!r} must be {spec.type}, got {_json_type(value)}")
    return problems


def check_inputs(declared: Mapping[str, InputSpec], values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``values`` with defaults filled in, or raise :class:`InputError` listing every problem.

    Examples
    --------
    >>> check_inputs({"n": InputSpec(type="integer", required=False, default=5)}, {})
    {'n': 5}
    """
    values = dict(values or {})
    problems = input_problems(declared, values)
    if problems:
        raise InputError("bad workflow inputs: " + "; ".join(problems))
    for name, spec in declared.items():
        if name not in values and (spec.default is not None or not spec.required):
            values[name] = spec.default
    return values


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "any":
        return True
    if isinstance(value, bool) and kind != "boolean":
        return False
    if kind == "number" and isinstance(value, float):
        return True
    return isinstance(value, _TYPES[kind])


def _json_type(value: Any) -> str:
    for name in ("boolean", "integer", "number", "string", "array", "object"):
        if _type_ok(name, value):
            return name
    return "null" if value is None else type(value).__name__
