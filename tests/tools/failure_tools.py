"""Tools that report failure in their results, judged by the shared rule (no hook here)."""

from __future__ import annotations

import os


def _log(line: str) -> None:
    path = os.environ.get("RUNNER_TEST_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def lookup(user_id: str) -> object:
    """Error text for the unknown user ``ghost``, a record otherwise."""
    _log(f"lookup {user_id}")
    return "Error: no such user ghost" if user_id == "ghost" else {"user_id": user_id}


def quota(user_id: str) -> dict:
    """Always an error object."""
    _log(f"quota {user_id}")
    return {"error": "quota exceeded", "retry_after": 3}


def backup_lookup(user_id: str) -> dict:
    """The fallback of ``lookup``."""
    _log(f"backup_lookup {user_id}")
    return {"user_id": user_id, "source": "backup"}


def reserve(seat: str) -> dict:
    _log(f"reserve {seat}")
    return {"hold": f"hold-{seat}"}


def release(hold: str) -> dict:
    _log(f"release {hold}")
    return {"released": hold}


def echo(value: object = None) -> object:
    """Return ``value`` as it is."""
    return value
