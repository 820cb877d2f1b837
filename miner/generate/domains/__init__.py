"""Agent domains of the synthetic logs; each module holds its demo tools and planted workflows."""

from miner.generate.domains import commerce, devops, general, research, support

DOMAINS = {d.DOMAIN.name: d.DOMAIN for d in (support, devops, research, commerce)}
"""Every domain by name."""

GENERAL_TOOLS = general.TOOLS
"""Tools every agent may call as stray calls (never part of a planted workflow)."""

__all__ = ["DOMAINS", "GENERAL_TOOLS"]
