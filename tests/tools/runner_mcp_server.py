"""A small MCP server (stdio) used by the runner tests.

Run as ``python runner_mcp_server.py [--log FILE]``; every tool call appends
its name to FILE so tests can count invocations.
"""

from __future__ import annotations

import argparse
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("chainmine-test-tools")
LOG: str | None = None


def _log(name: str) -> None:
    if LOG:
        with open(LOG, "a") as fh:
            fh.write(name + "\n")


@server.tool()
def get_user(user_id: str) -> dict:
    """Look a user up."""
    _log("get_user")
    return {"id": user_id, "orders": [f"{user_id}-o1", f"{user_id}-o2"], "cost": 0.01}


@server.tool()
def get_order(order_id: str) -> dict:
    """Look an order up."""
    _log("get_order")
    return {"order_id": order_id, "total": len(order_id)}


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers (a plain return type the SDK wraps as {"result": ...})."""
    _log("add")
    return a + b


@server.tool()
def greet(name: str) -> str:
    """Plain text result."""
    _log("greet")
    return f"hello {name}"


@server.tool()
def refuse(reason: str = "no") -> dict:
    """Always fails with a message the client sees (is_error)."""
    _log("refuse")
    raise ToolError(f"refused: {reason}")


@server.tool()
def die() -> dict:
    """Kill the server process in the middle of a call."""
    _log("die")
    os._exit(3)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--log")
    LOG = parser.parse_args().log
    server.run()
