"""Parameter templates: ``{{name}}``, ``{{step.path[0].key}}``, ``{{item}}``.

A template that is the whole string keeps the referenced value's type; a
template inside a longer string is formatted into the text. A literal ``{{``
is written :data:`LITERAL_BRACES` (``{{'{{'}}``, a template holding the quoted
text ``{{``); resolving turns it back into ``{{``, so text such as an e-mail
template ``Hi {{name}}`` survives as a constant (see :func:`escape_literal`).
These functions are shared by validation (which names are referenced), the
runner (resolving values) and the miner (writing bindings and constants).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from chainmine.library.errors import TemplateError

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_SEGMENT = r"(?:\.[^.\[\]{}\s]+|\[-?\d+\])"
TEMPLATE_RE = re.compile(r"\{\{\s*(" + _NAME + r")(" + _SEGMENT + r"*)\s*\}\}")
_SEGMENT_RE = re.compile(r"\.([^.\[\]{}\s]+)|\[(-?\d+)\]")
_ANY_BRACES = re.compile(r"\{\{(.*?)\}\}")
# Both quote styles, so a literal ``{{`` can also sit inside a quoted string of a condition.
_ESCAPE = r"\{\{\s*(?:'\{\{'|\"\{\{\")\s*\}\}"
ESCAPE_RE = re.compile(_ESCAPE)
# One left-to-right pass: an escape and a template never overlap (a template's
# name cannot start with a quote), and text substituted for a template is never rescanned.
_RENDER_RE = re.compile("(" + _ESCAPE + ")|" + TEMPLATE_RE.pattern)

LITERAL_BRACES = "{{'{{'}}"
"""How template text writes a literal ``{{`` (``{{"{{"}}`` is read the same way)."""

PathPart = str | int


@dataclass(frozen=True)
class Reference:
    """One parsed template reference: a root name and a path below it.

    Examples
    --------
    >>> parse_reference("{{get_user.orders[0].id}}")
    Reference(root='get_user', path=('orders', 0, 'id'))
    """

    root: str
    path: tuple[PathPart, ...] = ()

    def __str__(self) -> str:
        return "{{" + self.root + format_path(self.path) + "}}"


def format_path(path: tuple[PathPart, ...] | list[PathPart]) -> str:
    """Render a path as template text.

    Examples
    --------
    >>> format_path(("orders", 0, "id"))
    '.orders[0].id'
    """
    out = []
    for part in path:
        out.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(out)


def parse_path(text: str) -> tuple[PathPart, ...]:
    """Parse ``.a[0].b`` (a leading dot is optional) into ``("a", 0, "b")``.

    Examples
    --------
    >>> parse_path("orders[1].id")
    ('orders', 1, 'id')
    """
    if text and not text.startswith((".", "[")):
        text = "." + text
    parts: list[PathPart] = []
    pos = 0
    for m in _SEGMENT_RE.finditer(text):
        if m.start() != pos:
            raise TemplateError(f"bad path {text!r}: use dotted keys and [i] indices")
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    if pos != len(text):
        raise TemplateError(f"bad path {text!r}: use dotted keys and [i] indices")
    return tuple(parts)


def parse_reference(text: str) -> Reference:
    """Parse a string that is exactly one template.

    Raises :class:`TemplateError` when ``text`` is not a single template.

    Examples
    --------
    >>> parse_reference("{{user_id}}")
    Reference(root='user_id', path=())
    """
    m = TEMPLATE_RE.fullmatch(text.strip())
    if not m:
        raise TemplateError(f"{text!r} is not a template like {{{{name}}}} or {{{{step.path}}}}")
    return Reference(m.group(1), parse_path(m.group(2)))


def malformed_templates(text: str) -> list[str]:
    """Return the ``{{...}}`` pieces of ``text`` that are not valid templates.

    Examples
    --------
    >>> malformed_templates("id={{ 1bad }} ok={{good}}")
    ['{{ 1bad }}']
    """
    bad = []
    for m in _ANY_BRACES.finditer(text):
        if not TEMPLATE_RE.fullmatch(m.group(0)) and not ESCAPE_RE.fullmatch(m.group(0)):
            bad.append(m.group(0))
    return bad


def escape_text(text: str) -> str:
    """Write ``text`` as template text that resolves back to exactly ``text``.

    Every ``{{`` becomes :data:`LITERAL_BRACES`; nothing else needs escaping
    (a lone ``}}`` is plain text).

    Examples
    --------
    >>> escape_text("Hi {{name}}")
    "Hi {{'{{'}}name}}"
    >>> resolve(escape_text("Hi {{name}}"), {})
    'Hi {{name}}'
    """
    return text.replace("{{", LITERAL_BRACES)


def escape_literal(value: Any) -> Any:
    """A literal parameter value as template text: :func:`escape_text` on every string inside it.

    Dict keys are left alone: templates are only read in values.

    Examples
    --------
    >>> escape_literal({"body": "Hi {{name}}", "n": 2, "to": ["{{a}}"]})
    {'body': "Hi {{'{{'}}name}}", 'n': 2, 'to': ["{{'{{'}}a}}"]}
    """
    if isinstance(value, str):
        return escape_text(value) if "{{" in value else value
    if isinstance(value, Mapping):
        return {k: escape_literal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_literal(v) for v in value]
    return value


def needs_resolving(value: Any) -> bool:
    """Whether ``value`` holds a template reference or an escaped ``{{`` (else it is used as it is).

    Examples
    --------
    >>> needs_resolving({"a": "{{x}}"}), needs_resolving(["{{'{{'}}"]), needs_resolving({"a": "x {", "b": 1})
    (True, True, False)
    """
    if isinstance(value, str):
        return "{{" in value and _RENDER_RE.search(value) is not None
    if isinstance(value, Mapping):
        return any(needs_resolving(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(needs_resolving(v) for v in value)
    return False


def iter_references(value: Any) -> Iterator[Reference]:
    """Yield every template reference inside a (nested) parameter value.

    Examples
    --------
    >>> [str(r) for r in iter_references({"a": ["{{x}}", "id {{y.z}}"]})]
    ['{{x}}', '{{y.z}}']
    """
    if isinstance(value, str):
        for m in TEMPLATE_RE.finditer(value):
            yield Reference(m.group(1), parse_path(m.group(2)))
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from iter_references(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from iter_references(v)


def lookup(value: Any, path: tuple[PathPart, ...], *, where: str = "") -> Any:
    """Follow ``path`` into ``value``; JSON text is parsed on the way.

    Raises :class:`TemplateError` naming the missing part.

    Examples
    --------
    >>> lookup({"orders": [{"id": 7}]}, ("orders", 0, "id"))
    7
    """
    current = value
    for i, part in enumerate(path):
        if isinstance(current, str):
            current = _maybe_json(current)
        shown = (where or "value") + format_path(path[: i + 1])
        if isinstance(part, int):
            if not isinstance(current, (list, tuple)):
                raise TemplateError(f"{shown}: expected a list, found {type(current).__name__}")
            if not -len(current) <= part < len(current):
                raise TemplateError(f"{shown}: index out of range (length {len(current)})")
            current = current[part]
        else:
            if isinstance(current, Mapping) and part in current:
                current = current[part]
            elif isinstance(current, (list, tuple)) and part.lstrip("-").isdigit():
                idx = int(part)
                if not -len(current) <= idx < len(current):
                    raise TemplateError(f"{shown}: index out of range (length {len(current)})")
                current = current[idx]
            elif isinstance(current, Mapping):
                raise TemplateError(f"{shown}: no field {part!r} (has: {', '.join(map(str, list(current)[:8]))})")
            else:
                raise TemplateError(f"{shown}: expected an object, found {type(current).__name__}")
    return current


def _maybe_json(text: str) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def resolve(value: Any, scope: Mapping[str, Any], *, where: str = "") -> Any:
    """Substitute every template in ``value`` from ``scope``.

    A whole-string template keeps the referenced value's type; a template
    inside text is formatted (dicts and lists as JSON); :data:`LITERAL_BRACES`
    becomes ``{{``.

    Examples
    --------
    >>> resolve({"id": "{{u.id}}", "q": "user {{u.id}}"}, {"u": {"id": 3}})
    {'id': 3, 'q': 'user 3'}
    >>> resolve("{{'{{'}}u.id}} is {{u.id}}", {"u": {"id": 3}})
    '{{u.id}} is 3'
    """
    if isinstance(value, str):
        whole = TEMPLATE_RE.fullmatch(value.strip())
        if whole:
            return _resolve_ref(Reference(whole.group(1), parse_path(whole.group(2))), scope, where)

        def _sub(m: re.Match) -> str:
            if m.group(1) is not None:
                return "{{"
            got = _resolve_ref(Reference(m.group(2), parse_path(m.group(3))), scope, where)
            if isinstance(got, (dict, list)):
                return json.dumps(got, sort_keys=True)
            if isinstance(got, bool):
                return "true" if got else "false"
            return "" if got is None else str(got)

        return _RENDER_RE.sub(_sub, value) if "{{" in value else value
    if isinstance(value, Mapping):
        return {k: resolve(v, scope, where=where) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, scope, where=where) for v in value]
    return value


def _resolve_ref(ref: Reference, scope: Mapping[str, Any], where: str) -> Any:
    if ref.root not in scope:
        prefix = f"{where}: " if where else ""
        raise TemplateError(f"{prefix}{ref} refers to unknown name {ref.root!r}")
    label = f"{where}: {ref.root}" if where else ref.root
    return lookup(scope[ref.root], ref.path, where=label)
