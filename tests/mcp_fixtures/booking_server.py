"""An MCP server (stdio) with a destructive tool, for the side-effect tests of ``chainmine mcp serve``.

``python booking_server.py LOG`` serves the airline lookups plus
``release_seat``, whose name says nothing (``release`` is no known verb) but
whose MCP annotations declare it destructive. Every ``release_seat`` call
appends one JSON line to LOG (the reservation and the idempotency key it was
given), so a test can see what was, or was not, changed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

sys.path.insert(0, str(Path(__file__).resolve().parent))

import airline_tools  # noqa: E402  (needs the path above)

LOG = Path(sys.argv[1]) if len(sys.argv) > 1 else None
server = MCPServer("booking", log_level="WARNING")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def get_user_details(user_id: str) -> dict:
    """The user record with the ids of their reservations."""
    return airline_tools.get_user_details(user_id)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def get_reservation_details(reservation_id: str) -> dict:
    """One reservation."""
    return airline_tools.get_reservation_details(reservation_id)


@server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
def release_seat(reservation_id: str, idempotency_key: str = "") -> dict:
    """Give up the seat of a reservation (cannot be undone)."""
    if LOG is not None:
        with LOG.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"reservation_id": reservation_id, "idempotency_key": idempotency_key}) + "\n")
    return {"released": reservation_id}


if __name__ == "__main__":
    server.run()
