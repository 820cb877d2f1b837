"""A tool module whose TOOLS dict is the whole registry."""

from __future__ import annotations


def _lookup(key: str) -> dict:
    return {"key": key, "found": True}


async def _shout(text: str) -> str:
    return text.upper()


def helper_not_a_tool() -> str:
    return "must not be registered"


TOOLS = {"lookup": _lookup, "shout": _shout}
