"""Where values sit in logged results: the indexes dataflow inference looks values up in.

A :class:`CallTable` maps every comparable value of one call's result to its
paths (and, for values inside lists, to the list, the index and the path in the
element); :class:`NodeCache` builds each table once per call for all chains of
a search. ``StepView`` and ``OccurrenceIndex`` are one occurrence's view of its
earlier steps: their results, and the templates their arguments took.
"""

from __future__ import annotations

from typing import Any, Hashable

from chainmine.miner.synthesis.sampling import CallRecord
from chainmine.miner.synthesis.values import comparable_nodes, loose_key, value_key


class CallTable:
    """Where each comparable value sits in one call's result.

    ``values`` maps a value key to its paths; ``items`` (built on first use)
    maps it to ``(list path, index, path inside the element)`` for values
    inside lists.

    Examples
    --------
    >>> t = CallTable({"orders": [{"id": "A"}]})
    >>> t.values[("s", "A")], t.items[("s", "A")]
    ([('orders', 0, 'id')], [(('orders',), 0, ('id',))])
    """

    __slots__ = ("values", "_items", "_loose")

    def __init__(self, result: Any):
        self.values: dict[Hashable, list[tuple]] = {}
        for path, key in comparable_nodes(result):
            self.values.setdefault(key, []).append(path)
        self._items: dict[Hashable, list[tuple]] | None = None
        self._loose: dict[Hashable, list[tuple]] | None = None

    @property
    def loose(self) -> dict[Hashable, list[tuple]]:
        """:func:`~chainmine.miner.synthesis.values.loose_key` -> paths, for values that match only loosely."""
        if self._loose is None:
            self._loose = {}
            for key, paths in self.values.items():
                lk = loose_key(key)
                if lk is not None:
                    self._loose.setdefault(lk, []).extend(paths)
        return self._loose

    @property
    def items(self) -> dict[Hashable, list[tuple]]:
        """Value key -> ``(list path, index, sub-path)`` of every value found inside a list."""
        if self._items is None:
            self._items = {}
            for key, paths in self.values.items():
                for path in paths:
                    for i, part in enumerate(path):
                        if type(part) is int:
                            self._items.setdefault(key, []).append((path[:i], part, path[i + 1:]))
        return self._items


class NodeCache:
    """A :class:`CallTable` per call, built once and shared by every chain that samples the call.

    Examples
    --------
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> list(NodeCache().table(CallRecord("s", {}, {"id": "A1", "ok": True}, True, None, None, None)).values)[0]
    ('s', 'A1')
    """

    def __init__(self) -> None:
        self._tables: dict[Any, CallTable] = {}

    def table(self, call: CallRecord) -> CallTable:
        """The value table of ``call.result``."""
        key = call.rid if call.rid >= 0 else ("id", id(call))
        found = self._tables.get(key)
        if found is None:
            found = self._tables[key] = CallTable(call.result)
        return found


class StepView:
    """An earlier step's result as later steps see it: the last call's, or the list of a map step's."""

    def __init__(self, calls: list[CallRecord], is_map: bool, cache: "NodeCache"):
        self.is_map = is_map
        self.value = [c.result for c in calls] if is_map else calls[-1].result
        self.tables = [cache.table(c) for c in calls] if is_map else [cache.table(calls[-1])]

    def paths(self, key: Hashable, loose: bool = False) -> list[tuple]:
        if loose:
            lk = loose_key(key)
            if lk is None:
                return []
            if not self.is_map:
                return self.tables[0].loose.get(lk, [])
            return [(k,) + path for k, t in enumerate(self.tables) for path in t.loose.get(lk, ())]
        if not self.is_map:
            return self.tables[0].values.get(key, [])
        return [(k,) + path for k, t in enumerate(self.tables) for path in t.values.get(key, ())]

    def items(self, key: Hashable) -> list[tuple]:
        if not self.is_map:
            return self.tables[0].items.get(key, [])
        out = [((), k, path) for k, t in enumerate(self.tables) for path in t.values.get(key, ())]
        out += [((k,) + lp, pos, sub) for k, t in enumerate(self.tables) for lp, pos, sub in t.items.get(key, ())]
        return out


class OccurrenceIndex:
    """Per-occurrence view of the earlier steps and of the templates their arguments took."""

    def __init__(self) -> None:
        self.steps: dict[int, StepView] = {}
        self.templates: dict[Hashable, list[tuple]] = {}

    def add_template(self, step: int, value: Any, template: str, kind: str) -> None:
        key = value_key(value)
        if key is not None:
            self.templates.setdefault(key, []).append(("tmpl", step, template, kind))

    def sources(self, key: Hashable, earlier: set[int], loose: bool = False) -> set[tuple]:
        """Earlier templates and result paths holding ``key`` (compared loosely when ``loose``)."""
        if loose:
            lk = loose_key(key)
            found = {src for k, srcs in self.templates.items() if lk is not None and loose_key(k) == lk
                     for src in srcs if src[1] in earlier}
        else:
            found = {src for src in self.templates.get(key, ()) if src[1] in earlier}
        for p in earlier:
            view = self.steps.get(p)
            if view is not None:
                found.update(("result", p, path) for path in view.paths(key, loose))
        return found

    def items(self, key: Hashable, earlier: set[int]) -> set[tuple]:
        """``(step, list path, index, sub-path)`` of every list element holding ``key`` in earlier steps."""
        found = set()
        for p in earlier:
            view = self.steps.get(p)
            if view is not None:
                found.update((p, lp, pos, sub) for lp, pos, sub in view.items(key))
        return found
