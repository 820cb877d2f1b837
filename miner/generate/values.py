"""Deterministic values for demo-tool results, and checks of tool arguments.

:class:`Hashed` turns a tool's arguments into a stream of picks, so a result
is a pure function of the arguments: ``get_user_details("mia_li_3668")``
returns the same reservations in every log and every demo run. The
``*_arg`` checks make demo tools refuse clearly invalid input with a
``ValueError`` naming the argument.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = UPPER + DIGITS
HEX = "0123456789abcdef"


_TRANSLATIONS: dict[str, bytes] = {}


def _translation(alphabet: str) -> bytes:
    table = _TRANSLATIONS.get(alphabet)
    if table is None:
        table = bytes(ord(alphabet[i % len(alphabet)]) for i in range(256))
        _TRANSLATIONS[alphabet] = table
    return table


class Hashed:
    """Deterministic picks derived from a key: same key, same picks, on every machine.

    Examples
    --------
    >>> h = Hashed("mia_li_3668")
    >>> h.pick(["a", "b", "c"]) == Hashed("mia_li_3668").pick(["a", "b", "c"])
    True
    >>> 1 <= Hashed("x").between(1, 4) <= 4
    True
    """

    __slots__ = ("_key", "_round", "_buf", "_pos")

    def __init__(self, *parts: Any):
        self._key = "\x1f".join(map(str, parts)).encode()
        self._round = 0
        self._buf = hashlib.blake2b(self._key, digest_size=64).digest()
        self._pos = 0

    def _take(self, k: int) -> bytes:
        if self._pos + k > 64:
            # 64 bytes last for a dozen picks; rehash for longer results
            self._round += 1
            self._buf = hashlib.blake2b(self._key, digest_size=64, salt=self._round.to_bytes(16, "little")).digest()
            self._pos = 0
        self._pos += k
        return self._buf[self._pos - k:self._pos]

    def below(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        return int.from_bytes(self._take(4), "little") % n

    def pick(self, seq: Sequence[Any]) -> Any:
        """One element of ``seq``."""
        return seq[int.from_bytes(self._take(4), "little") % len(seq)]

    def between(self, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]``."""
        return lo + int.from_bytes(self._take(4), "little") % (hi - lo + 1)

    def money(self, lo: float, hi: float) -> float:
        """An amount in ``[lo, hi]`` with cents."""
        return round(lo + self.below(int((hi - lo) * 100) + 1) / 100.0, 2)

    def code(self, n: int, alphabet: str = ALNUM) -> str:
        """``n`` (at most 64) characters of ``alphabet``."""
        return self._take(n).translate(_translation(alphabet)).decode()

    def words(self, vocabulary: Sequence[str], lo: int, hi: int) -> str:
        """Between ``lo`` and ``hi`` (at most 64) words of ``vocabulary`` (at most 256) joined by spaces."""
        n = len(vocabulary)
        return " ".join([vocabulary[b % n] for b in self._take(self.between(lo, hi))])


def text_arg(name: str, value: Any, max_len: int = 500) -> str:
    """Check that a tool argument is a non-empty string; raise ``ValueError`` otherwise.

    Examples
    --------
    >>> text_arg("user_id", "u1")
    'u1'
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > max_len:
        raise ValueError(f"{name} is longer than {max_len} characters")
    return value


def int_arg(name: str, value: Any, lo: int, hi: int) -> int:
    """Check that a tool argument is an integer in ``[lo, hi]``; raise ``ValueError`` otherwise.

    Examples
    --------
    >>> int_arg("limit", 5, 1, 50)
    5
    """
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer between {lo} and {hi}, got {value!r}")
    return value


def number_arg(name: str, value: Any, lo: float, hi: float) -> float:
    """Check that a tool argument is a number in ``[lo, hi]``; raise ``ValueError`` otherwise.

    Examples
    --------
    >>> number_arg("amount", 12.5, 0, 1e6)
    12.5
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a number between {lo} and {hi}, got {value!r}")
    return value


def choice_arg(name: str, value: Any, allowed: Sequence[str]) -> str:
    """Check that a tool argument is one of ``allowed``; raise ``ValueError`` otherwise.

    Examples
    --------
    >>> choice_arg("state", "open", ("open", "closed"))
    'open'
    """
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value
