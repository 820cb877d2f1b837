"""Demo tools: one deterministic Python function per tool the generator writes.

``TOOLS`` maps each tool name to its function; the functions take keyword
arguments exactly as the logs show them and return results of the same shape
(the generator calls these very functions). Invalid input raises
``ValueError`` or ``TypeError``. Use it as a runner registry::

    chainmine run support_lookup_reservations --tools miner.generate.tools --input user_id=mia_li_3668

Examples
--------
>>> TOOLS["get_user_details"](user_id="mia_li_3668")["user_id"]
'mia_li_3668'
>>> TOOLS["find_user_id_by_email"](email="mia.li3668@example.com")
'mia_li_3668'
"""

from __future__ import annotations

from typing import Any, Callable

from miner.generate.scenarios import SCENARIOS

TOOLS: dict[str, Callable[..., Any]] = {name: spec.fn for name, spec in sorted(SCENARIOS["mixed"].tools.items())}
"""Every demo tool by name (the whole registry)."""

__all__ = ["TOOLS"]
