"""Demo tools: one deterministic Python function per tool the generator writes.

``TOOLS`` maps each tool name to its function; the functions take keyword
arguments exactly as the logs show them and return results of the same shape
(the generator calls these very functions). Invalid input raises
``ValueError`` or ``TypeError``. Use it as a runner registry::

    chainmine run support_lookup_reservations --tools chainmine.miner.generate.tools --input user_id=mia_li_3668

Examples
--------
>>> TOOLS["get_user_details"](user_id="mia_li_3668")["user_id"]
'mia_li_3668'
>>> TOOLS["find_user_id_by_email"](email="mia.li3668@example.com")
'mia_li_3668'
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from chainmine.miner.generate.domains import DOMAINS, GENERAL_TOOLS, OPT_IN_DOMAINS
from chainmine.miner.generate.scenarios import SCENARIOS

TOOLS: dict[str, Callable[..., Any]] = {name: spec.fn for name, spec in sorted(
    {n: s for scenario in SCENARIOS.values() for n, s in scenario.tools.items()}.items())}
"""Every demo tool by name, of every scenario (the whole registry)."""


@dataclass(frozen=True)
class ToolInfo:
    """What a demo tool is: its domain, parameters, one-line description and log behaviour.

    Examples
    --------
    >>> info = {t.name: t for t in catalogue()}["get_user_details"]
    >>> info.domain, info.parameters
    ('support', ('user_id',))
    """

    name: str
    domain: str
    parameters: tuple[str, ...]
    description: str
    failure_rate: float
    cost: float
    planted: bool


def catalogue() -> list[ToolInfo]:
    """Every demo tool with its domain (``general`` for stray-only tools), by domain then name.

    Examples
    --------
    >>> tools = catalogue()
    >>> len(tools) == len(TOOLS) and {t.domain for t in tools} >= {"support", "general"}
    True
    """
    domains = {**DOMAINS, **OPT_IN_DOMAINS}
    planted = {t for d in domains.values() for wf in d.workflows for t in wf.tools}
    owners = [("general", GENERAL_TOOLS)] + [(name, d.tools) for name, d in domains.items()]
    out = []
    for domain, table in owners:
        for name, spec in sorted(table.items()):
            doc = (inspect.getdoc(spec.fn) or "").splitlines()
            out.append(ToolInfo(name=name, domain=domain, parameters=tuple(inspect.signature(spec.fn).parameters),
                                description=doc[0] if doc else "", failure_rate=spec.failure_rate,
                                cost=spec.cost, planted=name in planted))
    return out


__all__ = ["TOOLS", "ToolInfo", "catalogue"]
