"""Side-effect classes of tools: ``read``, ``write`` or ``destructive``.

A workflow that only reads can be run, retried, parallelised and mapped over a
whole list without asking anyone; one that writes needs care, and one that
deletes, cancels or pays needs confirmation. The class of a tool comes from, in
order of trust:

1. an override file (``--effects FILE``, or ``effects.toml`` / ``effects.json``
   beside the library): tool names or globs mapped to a class;
2. MCP tool annotations (``readOnlyHint``, ``destructiveHint``) when the tool
   comes from an MCP server;
3. the verbs in the tool's name (``get_user`` reads, ``cancel_order`` is
   destructive). A name with no known verb is taken as ``write``, because a
   wrong "read" is the dangerous mistake.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from chainmine.library.errors import LibraryFileError

Effect = Literal["read", "write", "destructive"]
EffectSource = Literal["mcp", "name", "override"]
EFFECTS: tuple[str, ...] = ("read", "write", "destructive")
OVERRIDE_FILES = ("effects.toml", "effects.json")

READ_VERBS = frozenset("""
get list search find lookup look fetch read query show describe check calculate calc compute
analyze analyse count view retrieve estimate validate verify think convert translate
summarize summarise inspect browse scan load preview download resolve detect extract parse
classify recognize recognise predict recommend match compare measure explain lookup poll
watch whois ping status info details overview stats forecast quote locate
""".split())
WRITE_VERBS = frozenset("""
create update set add send post put book reserve buy place submit write modify change edit
insert upload assign approve merge publish schedule register apply exchange return transfer
move rename enable disable start stop restart deploy run execute invoke trigger save store
make open close reply comment notify invite share tag label mark reset rotate grant
upsert patch replace import sync commit push order generate review subscribe
unsubscribe enroll activate deactivate archive unarchive restore lock unlock escalate
""".split())
DESTRUCTIVE_VERBS = frozenset("""
delete remove cancel destroy drop purge revoke terminate kill erase wipe truncate refund pay
charge withdraw void expunge uninstall deprovision shutdown overwrite unregister ban
""".split())

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_RANK = {"read": 0, "write": 1, "destructive": 2}


def name_words(tool: str) -> list[str]:
    """Lower-case words of a tool name: camelCase, snake_case, dots, dashes and slashes split.

    Examples
    --------
    >>> name_words("Buses.BuyBusTicket")
    ['buses', 'buy', 'bus', 'ticket']
    >>> name_words("get_user_details")
    ['get', 'user', 'details']
    """
    return [w.lower() for w in _WORD.findall(tool)]


def effect_from_name(tool: str) -> Effect:
    """The side-effect class that the verbs of a tool's name suggest.

    The first known verb decides between read and write; a destructive verb
    anywhere in the name makes it destructive. No known verb: ``write``.

    Examples
    --------
    >>> effect_from_name("get_reservation_details"), effect_from_name("cancel_reservation")
    ('read', 'destructive')
    >>> effect_from_name("Hotels.ReserveHotel"), effect_from_name("LocalBusinessData")
    ('write', 'write')

    Notes
    -----
    O(len(tool)).
    """
    words = name_words(tool)
    if any(w in DESTRUCTIVE_VERBS for w in words):
        return "destructive"
    for w in words:
        if w in READ_VERBS:
            return "read"
        if w in WRITE_VERBS:
            return "write"
    return "write"


def effect_from_annotations(annotations: Mapping[str, Any] | None) -> Effect | None:
    """The class MCP tool annotations declare, or ``None`` when they declare none.

    Follows the MCP defaults: a tool that is not read-only is destructive unless
    ``destructiveHint`` is false.

    Examples
    --------
    >>> effect_from_annotations({"readOnlyHint": True})
    'read'
    >>> effect_from_annotations({"readOnlyHint": False, "destructiveHint": False})
    'write'
    >>> effect_from_annotations({"title": "Lookup"}) is None
    True
    """
    if not annotations:
        return None
    read_only = annotations.get("readOnlyHint", annotations.get("read_only_hint"))
    destructive = annotations.get("destructiveHint", annotations.get("destructive_hint"))
    if read_only is True:
        return "read"
    if read_only is False:
        return "write" if destructive is False else "destructive"
    if destructive is True:
        return "destructive"
    if destructive is False:
        return "write"
    return None


@dataclass(frozen=True)
class EffectOverrides:
    """Tool names or globs mapped to a class, first exact name, then the first matching glob.

    Examples
    --------
    >>> o = EffectOverrides({"think": "read", "admin_*": "destructive"})
    >>> o.get("think"), o.get("admin_reset"), o.get("other")
    ('read', 'destructive', None)
    """

    rules: Mapping[str, str]

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.rules.items() if v not in EFFECTS}
        if bad:
            key, value = next(iter(bad.items()))
            raise LibraryFileError(
                f"effect override {key!r} = {value!r}: the class must be one of {', '.join(EFFECTS)}")

    def get(self, tool: str) -> Effect | None:
        """The override for ``tool``, or ``None``."""
        if tool in self.rules:
            return self.rules[tool]  # type: ignore[return-value]
        for pattern, effect in self.rules.items():
            if any(ch in pattern for ch in "*?[") and fnmatch.fnmatchcase(tool, pattern):
                return effect  # type: ignore[return-value]
        return None


def load_overrides(path: str | Path | None) -> EffectOverrides:
    """Read an override file (TOML or JSON: ``{tool_or_glob: class}``); ``None`` gives no rules.

    A TOML file may put the rules under an ``[effects]`` table.

    Examples
    --------
    >>> load_overrides(None).rules
    {}
    """
    if path is None:
        return EffectOverrides({})
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LibraryFileError(f"cannot read the effects file {p}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise LibraryFileError(f"{p} is not valid {'TOML' if p.suffix.lower() == '.toml' else 'JSON'}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("effects"), dict):
        data = data["effects"]
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise LibraryFileError(f"{p} must map tool names or globs to read, write or destructive")
    return EffectOverrides(dict(data))


def overrides_beside(library_path: str | Path | None) -> Path | None:
    """The override file that sits beside a library file, if there is one.

    Examples
    --------
    >>> overrides_beside(None) is None
    True
    """
    if library_path is None:
        return None
    folder = Path(library_path).resolve().parent
    for name in OVERRIDE_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def classify_tool(tool: str, *, annotations: Mapping[str, Any] | None = None,
                  overrides: EffectOverrides | None = None) -> tuple[Effect, EffectSource]:
    """The class of one tool and where it came from: override, then MCP annotations, then name.

    Examples
    --------
    >>> classify_tool("get_user")
    ('read', 'name')
    >>> classify_tool("get_user", annotations={"readOnlyHint": False, "destructiveHint": False})
    ('write', 'mcp')
    >>> classify_tool("get_user", overrides=EffectOverrides({"get_*": "destructive"}))
    ('destructive', 'override')
    """
    if overrides is not None:
        forced = overrides.get(tool)
        if forced is not None:
            return forced, "override"
    declared = effect_from_annotations(annotations)
    if declared is not None:
        return declared, "mcp"
    return effect_from_name(tool), "name"


def strongest(effects: Iterable[str | None]) -> Effect:
    """The most severe class among ``effects`` (``read`` when there are none).

    Examples
    --------
    >>> strongest(["read", "destructive", "write"]), strongest([])
    ('destructive', 'read')
    """
    known = [e for e in effects if e in _RANK]
    return max(known, key=_RANK.__getitem__) if known else "read"  # type: ignore[return-value]
