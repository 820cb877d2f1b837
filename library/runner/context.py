"""The values a run sees: inputs and step results in one namespace.

Step ids and input names share one namespace (validation rejects a
collision), so templates and conditions resolve against a single dict.
A step skipped by its condition holds :data:`chainmine.library.conditions.SKIPPED`.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from chainmine.library.conditions import SKIPPED
from chainmine.library.templates import lookup, parse_path


class WorkflowContext:
    """Inputs (``variables``) plus the results of finished steps.

    Pass one to :meth:`WorkflowExecutor.execute` instead of a plain inputs
    dict to read results afterwards with :meth:`get_result`.

    Examples
    --------
    >>> ctx = WorkflowContext({"user_id": "u1"})
    >>> ctx.set_result("get_user", {"orders": [{"id": 7}]})
    >>> ctx.get_result("get_user", "orders[0].id")
    7
    >>> ctx.get("user_id")
    'u1'
    """

    def __init__(self, variables: Mapping[str, Any] | None = None):
        self.variables: dict[str, Any] = dict(variables or {})
        self.results: dict[str, Any] = {}
        # One dict for lookups: templates resolve against it directly.
        self.scope: dict[str, Any] = dict(self.variables)

    def set_variable(self, name: str, value: Any) -> None:
        """Set an input value.

        Examples
        --------
        >>> ctx = WorkflowContext(); ctx.set_variable("n", 3); ctx.get("n")
        3
        """
        self.variables[name] = value
        self.scope[name] = value

    def set_result(self, step_id: str, value: Any) -> None:
        """Store the result of ``step_id`` (``SKIPPED`` for a skipped step)."""
        self.results[step_id] = value
        self.scope[step_id] = value

    def mark_skipped(self, step_id: str) -> None:
        """Record that ``step_id`` was skipped.

        Examples
        --------
        >>> ctx = WorkflowContext(); ctx.mark_skipped("a"); ctx.is_skipped("a")
        True
        """
        self.set_result(step_id, SKIPPED)

    def is_skipped(self, step_id: str) -> bool:
        """True when ``step_id`` was skipped."""
        return self.results.get(step_id) is SKIPPED

    def has_result(self, step_id: str) -> bool:
        """True when ``step_id`` finished (completed or skipped)."""
        return step_id in self.results

    def get_result(self, step_id: str, path: str = "") -> Any:
        """The result of ``step_id``, or the value at ``path`` inside it (``"orders[0].id"``).

        Raises ``KeyError`` for a step without a result and
        :class:`chainmine.library.errors.TemplateError` for a missing path.

        Examples
        --------
        >>> ctx = WorkflowContext(); ctx.set_result("s", {"a": [1, 2]})
        >>> ctx.get_result("s", "a[1]")
        2
        """
        if step_id not in self.results:
            raise KeyError(f"step {step_id!r} has no result (not run, or not finished)")
        return lookup(self.results[step_id], parse_path(path), where=step_id) if path else self.results[step_id]

    def get(self, name: str, default: Any = None) -> Any:
        """An input or step result by name, or ``default``."""
        return self.scope.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self.scope

    def __iter__(self) -> Iterator[str]:
        return iter(self.scope)

    def __repr__(self) -> str:
        return f"WorkflowContext(variables={self.variables!r}, results={sorted(self.results)!r})"


class ItemScope(Mapping):
    """A read-only view of a scope plus ``item`` for one map item, without copying the scope.

    Examples
    --------
    >>> s = ItemScope({"a": 1}, {"id": 9})
    >>> s["item"]["id"], s["a"], "item" in s
    (9, 1, True)
    """

    __slots__ = ("_base", "_item")

    def __init__(self, base: Mapping[str, Any], item: Any):
        self._base = base
        self._item = item

    def __getitem__(self, key: str) -> Any:
        if key == "item":
            return self._item
        return self._base[key]

    def __contains__(self, key: object) -> bool:
        return key == "item" or key in self._base

    def __iter__(self) -> Iterator[str]:
        yield "item"
        yield from (k for k in self._base if k != "item")

    def __len__(self) -> int:
        return len(self._base) + (0 if "item" in self._base else 1)
