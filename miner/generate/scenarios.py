"""Scenarios: which agent domains a generated log mixes.

``devops``, ``support``, ``research`` and ``commerce`` hold one domain each;
``mixed`` (the default) holds them all, each session belonging to one domain.
``travel`` (the shapes of real agent logs: picks from a list, a seeded back-end,
repeated calls in two roles, wrapped ids, credentials, rewards) is opt-in: it
is not part of ``mixed``, whose logs stay byte for byte what they were.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainmine.miner.generate.domains import DOMAINS, GENERAL_TOOLS, OPT_IN_DOMAINS
from chainmine.miner.generate.spec import Domain, GenerateError, ToolSpec, WorkflowSpec

DEFAULT_SCENARIO = "mixed"


@dataclass(frozen=True)
class Scenario:
    """A named mix of domains plus the general tools every agent may call.

    Examples
    --------
    >>> SCENARIOS["support"].domains[0].name
    'support'
    >>> len(SCENARIOS["mixed"].workflows) >= 12
    True
    """

    name: str
    domains: tuple[Domain, ...]

    @property
    def tools(self) -> dict[str, ToolSpec]:
        """Every tool a session of this scenario may call, by name."""
        table = dict(GENERAL_TOOLS)
        for domain in self.domains:
            table.update(domain.tools)
        return table

    @property
    def workflows(self) -> tuple[WorkflowSpec, ...]:
        """The planted workflows of all domains, in domain order."""
        return tuple(wf for d in self.domains for wf in d.workflows)


SCENARIOS: dict[str, Scenario] = {name: Scenario(name, (domain,)) for name, domain in DOMAINS.items()}
SCENARIOS[DEFAULT_SCENARIO] = Scenario(DEFAULT_SCENARIO, tuple(DOMAINS.values()))
SCENARIOS.update({name: Scenario(name, (domain,)) for name, domain in OPT_IN_DOMAINS.items()})


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; :class:`GenerateError` names the choices otherwise.

    Examples
    --------
    >>> get_scenario("devops").name
    'devops'
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        raise GenerateError(f"unknown scenario {name!r}: choose one of {', '.join(sorted(SCENARIOS))}") from None
