"""Chain keys: a tool sequence packed into one integer, or a list when it cannot be.

A chain of integer tool ids ``t1 .. tk`` (each ``1 <= t < base``) becomes the
number ``((t1 * base + t2) * base + ...) + tk``. While ``base ** max_length``
fits a signed 64-bit integer the key is a ``BIGINT``, up to 128 bits a
``HUGEINT``; past that the key is an ``INTEGER[]`` list. Integer keys make the
joins and ``GROUP BY`` of the level-wise search cheap; the list form keeps
mining correct for very large tool dictionaries or long chains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

_BIGINT_MAX = 2**63 - 1
_HUGEINT_MAX = 2**127 - 1


@dataclass(frozen=True)
class KeyCodec:
    """SQL snippets and Python conversions for one key representation.

    Examples
    --------
    >>> codec = KeyCodec.for_tools(max_tool_id=9, max_length=3)
    >>> codec.kind, codec.encode([1, 2, 3])
    ('BIGINT', 123)
    >>> codec.decode(123, 3)
    (1, 2, 3)
    >>> KeyCodec.for_tools(max_tool_id=10**7, max_length=10).kind
    'LIST'
    """

    base: int
    kind: str

    @classmethod
    def for_tools(cls, max_tool_id: int, max_length: int) -> "KeyCodec":
        """The most compact codec for tool ids up to ``max_tool_id`` and chains up to ``max_length``."""
        base = max(int(max_tool_id), 1) + 1
        if base ** max_length <= _BIGINT_MAX:
            return cls(base, "BIGINT")
        if base ** max_length <= _HUGEINT_MAX:
            return cls(base, "HUGEINT")
        return cls(base, "LIST")

    @property
    def sql_type(self) -> str:
        """DuckDB type of a key column."""
        return "INTEGER[]" if self.kind == "LIST" else self.kind

    def start_sql(self, tool_col: str) -> str:
        """SQL for the key of a one-tool chain."""
        if self.kind == "LIST":
            return f"[{tool_col}::INTEGER]"
        return f"CAST({tool_col} AS {self.kind})"

    def extend_sql(self, key_col: str, tool_col: str) -> str:
        """SQL for the key of ``key_col`` followed by ``tool_col``."""
        if self.kind == "LIST":
            return f"list_append({key_col}, {tool_col}::INTEGER)"
        return f"{key_col} * {self.base} + {tool_col}"

    def prefix_sql(self, key_col: str, engine: Any = None) -> str:
        """SQL for the key of ``key_col`` without its last tool (for chains of two or more).

        Examples
        --------
        >>> KeyCodec(10, "BIGINT").prefix_sql("k"), KeyCodec(10, "LIST").prefix_sql("k")
        ('(k // 10)', 'k[1:len(k) - 1]')
        """
        if self.kind == "LIST":
            return f"{key_col}[1:len({key_col}) - 1]"
        return f"({engine.idiv(key_col, str(self.base))})" if engine is not None else f"({key_col} // {self.base})"

    def last_sql(self, key_col: str) -> str:
        """SQL for the last tool id of ``key_col``.

        Examples
        --------
        >>> KeyCodec(10, "BIGINT").last_sql("k")
        'CAST(k % 10 AS INTEGER)'
        """
        if self.kind == "LIST":
            return f"{key_col}[len({key_col})]"
        return f"CAST({key_col} % {self.base} AS INTEGER)"

    def encode(self, tool_ids: Sequence[int]) -> Any:
        """Python value of the key of ``tool_ids``."""
        if self.kind == "LIST":
            return [int(t) for t in tool_ids]
        key = 0
        for t in tool_ids:
            key = key * self.base + int(t)
        return key

    def decode(self, key: Any, length: int) -> tuple[int, ...]:
        """Tool ids of a key of ``length`` tools (as DuckDB returns it)."""
        if self.kind == "LIST":
            return tuple(int(t) for t in key)
        key = int(key)
        out = []
        for _ in range(length):
            key, t = divmod(key, self.base)
            out.append(t)
        return tuple(reversed(out))

    def to_text(self, key: Any) -> str:
        """Text DuckDB casts back to a key (``CAST(text AS sql_type)``); used to register key sets."""
        if self.kind == "LIST":
            return "[" + ",".join(str(int(t)) for t in key) + "]"
        return str(int(key))

    def hashable(self, key: Any) -> Any:
        """A dict key for ``key`` (lists become tuples)."""
        return tuple(int(t) for t in key) if self.kind == "LIST" else int(key)
