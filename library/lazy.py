"""Names a package exports but imports only on first use, so importing the package stays cheap."""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping


def lazy_exports(package: str, namespace: dict[str, Any],
                 where: Mapping[str, tuple[str, str]]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package`` exporting ``where``.

    ``where`` maps an exported name to ``(module, attribute)``; a value, once
    imported, is kept in ``namespace`` (the package's globals).

    Examples
    --------
    >>> ns = {}
    >>> get, names = lazy_exports("pkg", ns, {"dumps": ("json", "dumps")})
    >>> get("dumps")({"a": 1}), "dumps" in names()
    ('{"a": 1}', True)
    >>> get("nope")
    Traceback (most recent call last):
    ...
    AttributeError: module 'pkg' has no attribute 'nope'
    """
    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = where[name]
        value = getattr(importlib.import_module(module), attr)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__
