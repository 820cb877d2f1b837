"""A small MCP server (stdio) serving the airline tools, for the bridge tests.

chainmine's MCP bridge reaches it through the runner's MCP registry
(``--tools "mcp:python tests/mcp_fixtures/airline_server.py"``), so a
workflow call fans out to tools served by this second process.
``crash_server`` ends the process mid-call, standing in for a backing tool
server that dies.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

sys.path.insert(0, str(Path(__file__).resolve().parent))

import airline_tools  # noqa: E402  (needs the path above)

server = MCPServer("airline", log_level="WARNING")


def _call(func, value: str) -> dict:
    try:
        return func(value)
    except ValueError as exc:  # shown to the caller, as a real tool server would
        raise ToolError(str(exc)) from exc


@server.tool()
def get_user_details(user_id: str) -> dict:
    """The user record with the ids of their reservations."""
    return _call(airline_tools.get_user_details, user_id)


@server.tool()
def get_reservation_details(reservation_id: str) -> dict:
    """One reservation."""
    return _call(airline_tools.get_reservation_details, reservation_id)


@server.tool()
def crash_server(reason: str = "") -> dict:
    """Exit the whole server process without answering."""
    os._exit(3)


if __name__ == "__main__":
    server.run()
