"""The tools a replay calls: the real ones for reads, the log's answers for writes unless allowed.

:class:`LoggedAnswers` is a registry over the real tools in which every tool
named in ``stubbed`` is not called: it answers with the logged result of the
matching call of the occurrence (same arguments, else the next logged call of
that tool), and fails the way the logged call failed. The runner still
records the arguments the workflow would have sent, so they are compared,
while nothing is written.

:class:`ToolSource` loads the ``--tools`` registries: once for the whole
validation, or afresh for every occurrence (Python modules executed again,
MCP servers restarted), so a tool module that keeps its data in memory starts
each replayed session from its initial state.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

from chainmine.library.runner.registry import ToolRegistry
from chainmine.library.runner.loading import as_registry, load_registries
from chainmine.miner.replay.compare import args_key
from chainmine.miner.replay.logged import LoggedCall


class LoggedFailure(RuntimeError):
    """A write answered from the log failed there; the replayed step fails the same way."""


class LoggedAnswers(ToolRegistry):
    """``base`` with the tools in ``stubbed`` answered from ``logged`` calls instead of being called.

    Examples
    --------
    >>> import asyncio
    >>> from chainmine.library.runner.registry import PythonRegistry
    >>> written = []
    >>> base = PythonRegistry.from_mapping({"cancel": lambda rid: written.append(rid) or {"ok": True}})
    >>> reg = LoggedAnswers(base, {"cancel"}, [LoggedCall(0, "cancel", {"rid": "A"}, {"status": "cancelled"}, True)])
    >>> asyncio.run(reg.get("cancel").invoke({"rid": "A"})), written, reg.answered
    ({'status': 'cancelled'}, [], 1)
    """

    def __init__(self, base: ToolRegistry, stubbed: Iterable[str], logged: Sequence[LoggedCall]):
        super().__init__()
        self.source = f"{base.source} (writes answered from the log)"
        self.answered = 0
        self._pending = {name: [c for c in logged if c.tool == name] for name in stubbed}
        for name in base.names():
            spec = base.get(name)
            self._tools[name] = dataclasses.replace(spec, invoke=self._answer(name)) if name in self._pending else spec

    def _answer(self, name: str):
        async def invoke(params: dict[str, Any]) -> Any:
            pending = self._pending[name]
            if not pending:
                raise LoggedFailure(f"the log has no further call of {name!r} to answer this write with")
            key = args_key(params)
            call = next((c for c in pending if args_key(c.args) == key), pending[0])
            pending.remove(call)
            self.answered += 1
            if not call.success:
                raise LoggedFailure(call.error or f"{name!r} failed in the log")
            return call.result
        return invoke


class ToolSource:
    """Where replayed tools come from: ``--tools`` specs, loaded once or once per occurrence.

    Loading fails early (one clear error) when a module cannot be imported.

    Examples
    --------
    >>> with ToolSource(["json"]) as source:
    ...     "dumps" in source.for_occurrence()
    True
    """

    def __init__(self, specs: Sequence[str] | Any, fresh: bool = False):
        specs = [specs] if isinstance(specs, str) else specs
        by_spec = isinstance(specs, (list, tuple)) and all(isinstance(s, str) for s in specs)
        # only --tools strings can be loaded again; a registry or dict of functions is used as given
        self.fresh = fresh and by_spec
        self._specs = specs
        self._owned = not isinstance(specs, ToolRegistry)
        self._shared = load_registries(specs) if by_spec else as_registry(specs)
        self._current: ToolRegistry | None = None

    @property
    def shared(self) -> ToolRegistry:
        """The registry loaded first (used for planning and effect classes)."""
        return self._shared

    def for_occurrence(self) -> ToolRegistry:
        """The registry for the next occurrence: the shared one, or a newly loaded one when ``fresh``."""
        if not self.fresh:
            return self._shared
        if self._current is not None:
            self._current.close()
        self._current = load_registries(self._specs, fresh=True)
        return self._current

    def close(self) -> None:
        """Close what this source loaded (a registry passed in is the caller's)."""
        if self._current is not None:
            self._current.close()
            self._current = None
        if self._owned:
            self._shared.close()

    def __enter__(self) -> "ToolSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
