"""Looking inside logged arguments and results: JSON text, paths and comparable values.

Results arrive as objects, lists, plain strings or strings that hold JSON; the
functions here parse what can be parsed and walk every node with its path, in
the same path language the templates use (``orders[0].order_no``), so a path
found here resolves with :func:`chainmine.library.templates.lookup` at run time.
"""

from __future__ import annotations

import json
from typing import Any, Hashable

MAX_NODES = 5_000
"""Nodes visited per value; huge results are only partly indexed."""
MAX_DEPTH = 12

Path = tuple[str | int, ...]


def parse_text(value: Any) -> Any:
    """Parse a string that holds a JSON object or list; anything else is returned as is.

    Examples
    --------
    >>> parse_text('{"reservations": ["A1"]}')
    {'reservations': ['A1']}
    >>> parse_text("Error: not found")
    'Error: not found'
    """
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "[") and text[-1:] in ("}", "]"):
            try:
                return json.loads(text)
            except ValueError:
                return value
    return value


def raw_key(value: Any) -> Hashable:
    """A hashable stand-in for any JSON value (``1`` equals ``1.0``; ``None`` and ``False`` count too).

    Examples
    --------
    >>> raw_key([1, None]) == raw_key([1.0, None])
    True
    """
    if value is None:
        return ("z",)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, (int, float)):
        return ("n", float(value))
    if isinstance(value, list):
        return ("l", tuple(raw_key(v) for v in value))
    if isinstance(value, dict):
        return ("d", tuple(sorted((str(k), raw_key(v)) for k, v in value.items())))
    return ("r", repr(value))


def value_key(value: Any) -> Hashable | None:
    """A hashable stand-in for ``value`` for equality tests, or ``None`` when it proves nothing.

    ``None``, booleans, empty strings and empty containers match too much by
    chance to count as evidence of dataflow; ``1`` and ``1.0`` compare equal.

    Examples
    --------
    >>> value_key("A1") == value_key("A1"), value_key(3) == value_key(3.0)
    (True, True)
    >>> value_key(True) is None and value_key("") is None
    True
    >>> value_key({"b": [1], "a": 2}) == value_key({"a": 2.0, "b": [1]})
    True
    """
    if value is None or isinstance(value, bool) or (isinstance(value, (str, list, dict)) and not value):
        return None
    return raw_key(value)


def loose_key(key: Hashable) -> Hashable | None:
    """The key of a value compared loosely: text by case and spacing, numbers to two decimals.

    Agents retype what they read (``"Paris "`` for ``"paris"``) and round numbers
    (``12.35`` for ``12.3456``); such a value still came from where it was read.

    Examples
    --------
    >>> loose_key(value_key(" New  York")) == loose_key(value_key("new york"))
    True
    >>> loose_key(value_key(12.3456)) == loose_key(value_key(12.35)), loose_key(value_key([1])) is None
    (True, True)
    """
    if not isinstance(key, tuple) or len(key) != 2:
        return None
    kind, value = key
    if kind == "s":
        return ("ls", " ".join(value.split()).casefold())
    if kind == "n":
        return ("ln", round(value, 2))
    return None


def same_value(a: Any, b: Any) -> bool:
    """Equality as the miner sees it (numbers by value, containers element by element).

    Examples
    --------
    >>> same_value(2, 2.0), same_value({"a": 1}, {"a": 1}), same_value("1", 1)
    (True, True, False)
    """
    return raw_key(a) == raw_key(b)


_BAD_KEY_CHARS = frozenset(".[]{} \t\n")
_SCALAR = (str, int, float, bool, type(None))
_SMALL = 32


def comparable_nodes(value: Any, max_nodes: int = MAX_NODES) -> list[tuple[Path, Hashable]]:
    """``(path, value_key)`` of every node of ``value`` that can be compared and addressed by a template.

    JSON text is parsed on the way; keys that a template path cannot spell
    (dots, brackets, spaces) are skipped with everything below them; small flat
    containers are keyed as a whole too.

    Examples
    --------
    >>> [p for p, _ in comparable_nodes({"id": "A1", "tags": ["x"], "ok": True, "a.b": 1})]
    [('id',), ('tags', 0), ('tags',)]

    Notes
    -----
    O(min(n, max_nodes)) for a value of n nodes.
    """
    out: list[tuple[Path, Hashable]] = []

    def visit(node: Any, path: Path) -> None:
        if len(out) >= max_nodes:
            return
        if type(node) is str:
            if node[:1] in ("{", "[") or node[:1].isspace():
                parsed = parse_text(node)
                if parsed is not node:
                    visit(parsed, path)
                    return
            if node:
                out.append((path, ("s", node)))
        elif isinstance(node, bool) or node is None:
            return
        elif isinstance(node, (int, float)):
            out.append((path, ("n", float(node))))
        elif isinstance(node, dict):
            if not node:
                return
            flat = len(node) <= _SMALL
            if len(path) < MAX_DEPTH:
                for k, v in node.items():
                    flat = flat and isinstance(v, _SCALAR)
                    k = str(k)
                    if k and not (_BAD_KEY_CHARS & set(k)):
                        visit(v, path + (k,))
            if flat:
                out.append((path, raw_key(node)))
        elif isinstance(node, list):
            if not node:
                return
            flat = len(node) <= _SMALL
            if len(path) < MAX_DEPTH:
                for i, v in enumerate(node):
                    flat = flat and isinstance(v, _SCALAR)
                    visit(v, path + (i,))
            if flat:
                out.append((path, raw_key(node)))

    visit(parse_text(value), ())
    return out


def arg_leaves(args: dict) -> list[tuple[tuple[str, ...], Any]]:
    """Leaves of an argument object: nested objects are descended, lists and scalars are leaves.

    Examples
    --------
    >>> arg_leaves({"user_id": "u1", "filter": {"status": "open", "tags": ["x"]}})
    [(('user_id',), 'u1'), (('filter', 'status'), 'open'), (('filter', 'tags'), ['x'])]
    """
    out: list[tuple[tuple[str, ...], Any]] = []

    def visit(node: dict, prefix: tuple[str, ...]) -> None:
        for k, v in node.items():
            if isinstance(v, dict) and v and len(prefix) < MAX_DEPTH:
                visit(v, prefix + (str(k),))
            else:
                out.append((prefix + (str(k),), v))

    visit(args, ())
    return out


def get_path(value: Any, path: Path) -> tuple[bool, Any]:
    """``(True, node)`` at ``path`` inside ``value`` (JSON text parsed), else ``(False, None)``.

    Examples
    --------
    >>> get_path({"a": '{"b": [5]}'}, ("a", "b", 0))
    (True, 5)
    >>> get_path({"a": 1}, ("x",))
    (False, None)
    """
    node = parse_text(value)
    for part in path:
        if isinstance(part, int) and isinstance(node, list) and -len(node) <= part < len(node):
            node = parse_text(node[part])
        elif isinstance(part, str) and isinstance(node, dict) and part in node:
            node = parse_text(node[part])
        else:
            return False, None
    return True, node


def set_path(target: dict, path: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at a key path inside nested dicts, creating them as needed.

    Examples
    --------
    >>> d = {}; set_path(d, ("filter", "status"), "open"); d
    {'filter': {'status': 'open'}}
    """
    node = target
    for part in path[:-1]:
        node = node.setdefault(part, {})
    node[path[-1]] = value


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
               (dict, "object"), (object, "any"))


def json_type(values: list[Any]) -> str:
    """The workflow input type that fits every value (``any`` when they disagree).

    Examples
    --------
    >>> json_type(["a", "b"]), json_type([1, 2.5]), json_type([1, "a"])
    ('string', 'number', 'any')
    """
    kinds = {next(name for kind, name in _JSON_TYPES if isinstance(v, kind)) for v in values if v is not None}
    if kinds == {"integer", "number"}:
        return "number"
    return kinds.pop() if len(kinds) == 1 else "any"
