"""When the sampled occurrences are evidence enough: bindings, constants and credentials.

A fixed share ("90 % of occurrences agree") treats 6 of 7 like 600 of 700 and
lets 3 of 3 pass as a constant. The rules here use the lower bound of a
Wilson interval, so the number of occurrences counts: one odd occurrence in
seven keeps a binding, and a value seen three times is not yet a constant.

Credentials never become constants or stored examples, whatever the counts:
a parameter whose name says it holds one (``token``, ``password``,
``api_key`` ...) or whose value looks like a key is a secret input.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any, Iterable

from chainmine.miner.chains.model import wilson_lower

BIND_SHARE = 0.75
"""Least share of occurrences that must agree on a binding."""
BIND_LOW = 0.5
"""Least lower bound (one standard error, z = 1) of that share."""
CONSTANT_SHARE = 0.9
"""Least share of occurrences holding the same value before it can be a constant."""
CONSTANT_LOW = 0.7
"""Least 95 % lower bound of that share: a constant needs about nine agreeing occurrences."""
CONSTANT_SESSIONS = 3
"""Least distinct sessions a constant must be seen in."""

SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "authorization",
                          "auth", "credential", "credentials", "cookie", "otp", "jwt", "bearer"})
SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"),
                          ("client", "secret"), ("session", "key")})
_KEY_PREFIX = re.compile(r"^(?:sk|pk|rk)[-_][A-Za-z0-9_-]{12,}$|^gh[pousr]_[A-Za-z0-9]{20,}$|^xox[abprs]-\S{10,}$"
                         r"|^AKIA[0-9A-Z]{16}$|^AIza[0-9A-Za-z_-]{30,}$|^(?:Bearer|Basic|Token)\s+\S{8,}$"
                         r"|^eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}$", re.IGNORECASE)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def agrees(hits: int, n: int) -> bool:
    """Whether ``hits`` of ``n`` occurrences are enough to bind a parameter.

    Examples
    --------
    >>> agrees(6, 7), agrees(5, 6), agrees(3, 3), agrees(2, 3), agrees(7, 10)
    (True, True, True, False, False)

    Notes
    -----
    O(1).
    """
    return n > 0 and hits >= BIND_SHARE * n and wilson_lower(hits, n, z=1.0) >= BIND_LOW


JUNCTION_SHARE = 0.9
"""Share of a small probe sample that must agree before data flow keeps a weak junction."""


def agrees_across_junction(hits: int, n: int) -> bool:
    """Whether a probe sample shows data flowing across a junction the logs do not hold together.

    Stricter than :func:`agrees`: a wrong binding inside a chain that is kept
    costs one parameter, while a coincidence here keeps a whole chain that glues
    two workflows together (the same service queried again later in a session).

    Examples
    --------
    >>> agrees_across_junction(15, 20), agrees_across_junction(19, 20)
    (False, True)
    """
    return n > 0 and hits >= JUNCTION_SHARE * n and agrees(hits, n)


def constant_holds(count: int, n: int, sessions: int) -> bool:
    """Whether a value seen in ``count`` of ``n`` occurrences, in ``sessions`` sessions, is a constant.

    Examples
    --------
    >>> constant_holds(3, 3, 3), constant_holds(12, 12, 6), constant_holds(12, 12, 1)
    (False, True, False)
    """
    return (n > 0 and count >= CONSTANT_SHARE * n and wilson_lower(count, n) >= CONSTANT_LOW
            and sessions >= CONSTANT_SESSIONS)


def name_words(name: str) -> list[str]:
    """Lower-case words of a parameter name (camelCase and separators split).

    Examples
    --------
    >>> name_words("apiKey"), name_words("X-Auth-Token")
    (['api', 'key'], ['x', 'auth', 'token'])
    """
    return [w.lower() for w in _WORDS.findall(name)]


def secret_name(path: Iterable[str]) -> bool:
    """Whether an argument path names a credential.

    Examples
    --------
    >>> secret_name(["auth", "token"]), secret_name(["apiKey"]), secret_name(["max_tokens"])
    (True, True, False)
    >>> secret_name(["user_id"]), secret_name(["password_hint"])
    (False, True)
    """
    for part in path:
        words = name_words(str(part))
        if any(w in SECRET_WORDS for w in words) or any(pair in SECRET_PAIRS for pair in zip(words, words[1:])):
            return True
    return False


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def looks_secret(value: Any) -> bool:
    """Whether a logged value looks like a key or token (known key shapes, or long random text).

    Examples
    --------
    >>> looks_secret("sk-live-9f8A7b6C5d4E3f2G1h0"), looks_secret("Bearer abc.def.ghi123")
    (True, True)
    >>> looks_secret("q9ZfT3xLw8RkP2mVb7NcY4sHd6Ja"), looks_secret("mia_li_3668"), looks_secret("HAT123")
    (True, False, False)
    >>> looks_secret("123e4567-e89b-12d3-a456-426614174000")
    False

    Notes
    -----
    O(len(value)).
    """
    if not isinstance(value, str):
        return False
    text = value.strip()
    if _KEY_PREFIX.match(text):
        return True
    if len(text) < 24 or any(ch.isspace() for ch in text):
        return False
    classes = sum((any(c.islower() for c in text), any(c.isupper() for c in text), any(c.isdigit() for c in text)))
    return classes == 3 and _entropy(text) >= 4.0
