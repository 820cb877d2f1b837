"""Agent domains of the synthetic logs; each module holds its demo tools and planted workflows."""

from chainmine.miner.generate.domains import commerce, devops, general, research, support, travel

DOMAINS = {d.DOMAIN.name: d.DOMAIN for d in (support, devops, research, commerce)}
"""Every domain of the default ``mixed`` scenario, by name."""

OPT_IN_DOMAINS = {travel.DOMAIN.name: travel.DOMAIN}
"""Domains with a scenario of their own only (adding them to ``mixed`` would change its logs)."""

GENERAL_TOOLS = general.TOOLS
"""Tools every agent may call as stray calls (never part of a planted workflow)."""

__all__ = ["DOMAINS", "GENERAL_TOOLS", "OPT_IN_DOMAINS"]
