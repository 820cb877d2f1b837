"""Airline tools used as a Python tool registry in the MCP bridge tests.

Two users, three reservations; looking up an unknown user raises, which is
how the tests make a workflow step fail.
"""

from __future__ import annotations

USERS = {
    "mia_li_3668": {"user_id": "mia_li_3668", "name": "Mia Li", "reservations": ["R1", "R2"]},
    "noah_ito_11": {"user_id": "noah_ito_11", "name": "Noah Ito", "reservations": ["R3"]},
}
RESERVATIONS = {
    "R1": {"reservation_id": "R1", "origin": "SFO", "destination": "JFK", "cabin": "economy"},
    "R2": {"reservation_id": "R2", "origin": "JFK", "destination": "LHR", "cabin": "business"},
    "R3": {"reservation_id": "R3", "origin": "LAX", "destination": "SEA", "cabin": "economy"},
}


def get_user_details(user_id: str) -> dict:
    """The user record with the ids of their reservations."""
    if user_id not in USERS:
        raise ValueError(f"user {user_id!r} not found")
    return USERS[user_id]


def get_reservation_details(reservation_id: str) -> dict:
    """One reservation."""
    if reservation_id not in RESERVATIONS:
        raise ValueError(f"reservation {reservation_id!r} not found")
    return RESERVATIONS[reservation_id]
