"""An MCP server (stdio) whose tools report failure their own way, for the per-server failure hook tests.

``book`` answers ``{"status": "failed", ...}`` for seat 13 (the shared rule
calls that a success: no ``error`` key); ``legacy`` answers text starting with
``ERROR_CODE=0``, which the shared rule calls a failure although the call worked.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("status", log_level="WARNING")


@server.tool()
def book(seat: str) -> dict:
    """Book a seat; seat 13 is never available."""
    if seat == "13":
        return {"status": "failed", "why": "seat 13 does not exist"}
    return {"status": "booked", "seat": seat}


@server.tool()
def legacy(key: str) -> str:
    """An old service that prefixes every answer with its error code."""
    return f"ERROR_CODE=0 value of {key} is 42"


if __name__ == "__main__":
    server.run()
