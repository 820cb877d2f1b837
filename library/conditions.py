"""Safe step conditions: ``{{check.ok}} == false and {{n}} > 3``.

The text is parsed once into a small syntax tree and evaluated by walking it.
Only comparisons, ``and``/``or``/``not``, ``in``/``not in``, ``is [not]``
with ``null``/``true``/``false``/``skipped`` (identity means nothing for other
values: use ``==``), literals (numbers, strings, ``true``/``false``/``null``,
lists) and ``{{...}}`` references are allowed. A quoted string may hold an
escaped ``{{`` (``'Hi {{"{{"}}name}}'``, see :data:`chainmine.library.templates.LITERAL_BRACES`).
Python's parser is used only to build the tree; nothing is ever executed.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any, Mapping

from chainmine.library.errors import ConditionError, TemplateError
from chainmine.library.templates import ESCAPE_RE, TEMPLATE_RE, Reference, lookup, parse_path


class _Skipped:
    """Marker for the result of a step that was skipped by its condition."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "SKIPPED"

    def __bool__(self) -> bool:
        return False


SKIPPED = _Skipped()
_BRACES_MARK = "\ue000"
"""Stands for an escaped ``{{`` while Python's parser reads the text (a private-use character)."""
_LITERAL_NAMES = {"true": True, "false": False, "null": None, "none": None,
                  "True": True, "False": False, "None": None, "skipped": SKIPPED}
_SINGLETONS = ("null", "none", "None", "true", "false", "True", "False", "skipped")
"""The only operands ``is`` / ``is not`` may compare with."""
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
}


@dataclass(frozen=True)
class Condition:
    """A parsed condition; evaluate it with :meth:`evaluate`.

    Examples
    --------
    >>> c = parse_condition("{{check.ok}} == false and {{n}} > 3")
    >>> sorted(r.root for r in c.references)
    ['check', 'n']
    >>> c.evaluate({"check": {"ok": False}, "n": 5})
    True
    """

    text: str
    tree: ast.expr
    references: tuple[Reference, ...]

    def evaluate(self, scope: Mapping[str, Any]) -> bool:
        """Evaluate against ``scope`` (input values and step results by name)."""
        try:
            return bool(_walk(self.tree, self.references, scope))
        except TemplateError as exc:
            raise ConditionError(f"condition {self.text!r}: {exc}") from exc
        except TypeError as exc:
            raise ConditionError(f"condition {self.text!r} compares values of different types: {exc}") from exc


def parse_condition(text: str) -> Condition:
    """Parse a condition, raising :class:`ConditionError` on anything unsafe or malformed.

    Examples
    --------
    >>> parse_condition("{{x}} in [1, 2]").evaluate({"x": 2})
    True
    >>> parse_condition("{{prev}} is skipped").evaluate({"prev": SKIPPED})
    True
    >>> text = "{{t}} == 'Hi " + '{{"{{"}}' + "name}}'"
    >>> print(text)
    {{t}} == 'Hi {{"{{"}}name}}'
    >>> parse_condition(text).evaluate({"t": "Hi {{name}}"})
    True
    """
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("a condition must be a non-empty string")
    if _BRACES_MARK in text:
        raise ConditionError(f"condition {text!r} holds the reserved character U+E000")
    refs: list[Reference] = []

    def _placeholder(m):
        refs.append(Reference(m.group(1), parse_path(m.group(2))))
        return f" __ref{len(refs) - 1} "

    source = TEMPLATE_RE.sub(_placeholder, ESCAPE_RE.sub(_BRACES_MARK, text))
    if "{{" in source:  # a lone }} is plain text inside a string and a syntax error outside one
        raise ConditionError(f"condition {text!r} has a malformed {{{{...}}}} reference")
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ConditionError(f"condition {text!r} is not valid: {exc.msg}") from None
    _check(tree, text, len(refs))
    return Condition(text, tree, tuple(refs))


def _check(node: ast.AST, text: str, nrefs: int) -> None:
    allowed = (ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare,
               ast.Constant, ast.Name, ast.Load, ast.List, ast.Tuple) + tuple(_COMPARE)
    for sub in ast.walk(node):
        if not isinstance(sub, allowed):
            raise ConditionError(
                f"condition {text!r} uses {type(sub).__name__}; only comparisons, and/or/not, "
                "in, literals and {{references}} are allowed")
        if isinstance(sub, ast.UnaryOp) and isinstance(sub.op, ast.USub) and not isinstance(sub.operand, ast.Constant):
            raise ConditionError(f"condition {text!r}: unary minus only applies to numbers")
        if isinstance(sub, ast.Compare):
            _check_identity(sub, text)
        if isinstance(sub, ast.Name):
            if sub.id.startswith("__ref"):
                if not sub.id[5:].isdigit() or int(sub.id[5:]) >= nrefs:
                    raise ConditionError(f"condition {text!r}: bad name {sub.id!r}")
            elif sub.id not in _LITERAL_NAMES:
                raise ConditionError(
                    f"condition {text!r}: unknown word {sub.id!r}; quote strings and wrap references in {{{{...}}}}")


def _singleton(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in _SINGLETONS
    # Python's parser reads True, False and None as constants, not names.
    return isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool))


def _check_identity(node: ast.Compare, text: str) -> None:
    # Python's `is` is identity: `100000 is 100000` may be false for equal numbers, so it is
    # only allowed where identity and equality agree.
    left = node.left
    for op, right in zip(node.ops, node.comparators):
        if isinstance(op, (ast.Is, ast.IsNot)) and not (_singleton(left) or _singleton(right)):
            word = "is not" if isinstance(op, ast.IsNot) else "is"
            raise ConditionError(
                f"condition {text!r}: '{word}' only tests for null, true, false or skipped; "
                f"use {'!=' if word == 'is not' else '=='} to compare values")
        left = right


def _walk(node: ast.expr, refs: tuple[Reference, ...], scope: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, str) and _BRACES_MARK in node.value:
            return node.value.replace(_BRACES_MARK, "{{")
        return node.value
    if isinstance(node, ast.Name):
        if node.id.startswith("__ref"):
            ref = refs[int(node.id[5:])]
            if ref.root not in scope:
                raise TemplateError(f"{ref} refers to unknown name {ref.root!r}")
            base = scope[ref.root]
            if base is SKIPPED:
                return SKIPPED
            return lookup(base, ref.path, where=ref.root)
        return _LITERAL_NAMES[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_walk(e, refs, scope) for e in node.elts]
    if isinstance(node, ast.UnaryOp):
        value = _walk(node.operand, refs, scope)
        return (not value) if isinstance(node.op, ast.Not) else -value
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_walk(v, refs, scope) for v in node.values)
        return any(_walk(v, refs, scope) for v in node.values)
    if isinstance(node, ast.Compare):
        left = _walk(node.left, refs, scope)
        for op, comp in zip(node.ops, node.comparators):
            right = _walk(comp, refs, scope)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    raise ConditionError(f"unsupported expression {type(node).__name__}")  # pragma: no cover
