"""Infer where every parameter of a mined chain gets its value.

For each argument leaf of each step, over the sampled occurrences:

* **map item** — a repeated step whose k-th call takes the k-th element (or a
  field of it) of a list in an earlier result becomes a map step:
  ``map_over: "{{step.list}}"``, parameter ``{{item}}`` / ``{{item.field}}``;
* **constant** — the same value in at least :data:`BIND_SHARE` of occurrences
  (stray look-alike occurrences may differ): the literal, with any ``{{`` in
  its text escaped so it reaches the tool exactly as logged;
* **bound** — equal, in at least :data:`BIND_SHARE` of occurrences, to the value
  at one path of an earlier step's result (``{{step.orders[0].id}}``, or
  ``{{step}}`` for a scalar result) or to an earlier argument, in which case
  it takes that argument's template (so a shared input stays one input);
* **input** — varies and comes from nowhere earlier: a declared workflow input;
* **unknown** — the step's arguments were never logged.

"Earlier" means in an earlier slot: steps that commute never feed each other.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

from library.model import InputSpec, ParameterSource
from library.templates import escape_literal, format_path, iter_references, parse_reference
from miner.synthesis.naming import unique_name
from miner.synthesis.sampling import CallRecord, Occurrence
from miner.synthesis.values import (arg_leaves, comparable_nodes, get_path, json_type, raw_key, same_value, set_path,
                                   value_key)

BIND_SHARE = 0.9
"""Share of occurrences that must agree before a value counts as bound."""
KEEP_SHARE = 0.5
"""An argument present in fewer occurrences than this share is optional noise and left out."""
MAP_MIN_REPEATS = 2
"""Occurrences in which a step must be repeated before it can be a map step."""
MAX_EXAMPLE_CHARS = 1_000


@dataclass(frozen=True)
class StepFlow:
    """Inferred parameters of one step, with evidence and the steps it reads.

    Examples
    --------
    >>> StepFlow({"id": "{{u.id}}"}, {}, None, frozenset({0})).references
    frozenset({0})
    """

    parameters: dict[str, Any]
    sources: dict[str, ParameterSource]
    map_over: str | None
    references: frozenset[int]


@dataclass(frozen=True)
class Dataflow:
    """Inferred parameters of every step plus the workflow inputs they need.

    Examples
    --------
    >>> flow = Dataflow((StepFlow({}, {}, None, frozenset()), StepFlow({}, {}, None, frozenset({0}))), {})
    >>> flow.edges
    {(0, 1)}
    """

    steps: tuple[StepFlow, ...]
    inputs: dict[str, InputSpec]

    @property
    def edges(self) -> set[tuple[int, int]]:
        """``(earlier, later)`` step pairs where the later step reads the earlier one's result."""
        return {(p, q) for q, step in enumerate(self.steps) for p in step.references}


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

    __slots__ = ("values", "_items")

    def __init__(self, result: Any):
        self.values: dict[Hashable, list[tuple]] = {}
        for path, key in comparable_nodes(result):
            self.values.setdefault(key, []).append(path)
        self._items: dict[Hashable, list[tuple]] | None = None

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
    >>> from miner.synthesis.sampling import CallRecord
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


def logical_calls(calls: Sequence[CallRecord]) -> list[CallRecord]:
    """The calls of a step without retries: a failed call repeated with the same arguments is dropped.

    Examples
    --------
    >>> from miner.synthesis.sampling import CallRecord
    >>> bad = CallRecord("s", {"id": 1}, "Error: timeout", False, None, None, None)
    >>> good = CallRecord("s", {"id": 1}, {"ok": 1}, True, None, None, None)
    >>> logical_calls([bad, good]) == [good]
    True
    """
    return [c for i, c in enumerate(calls)
            if c.success or i + 1 == len(calls) or not same_value(c.args, calls[i + 1].args)]


class _StepView:
    """An earlier step's result as later steps see it: the last call's, or the list of a map step's."""

    def __init__(self, calls: list[CallRecord], is_map: bool, cache: NodeCache):
        self.is_map = is_map
        self.value = [c.result for c in calls] if is_map else calls[-1].result
        self.tables = [cache.table(c) for c in calls] if is_map else [cache.table(calls[-1])]

    def paths(self, key: Hashable) -> list[tuple]:
        if not self.is_map:
            return self.tables[0].values.get(key, [])
        return [(k,) + path for k, t in enumerate(self.tables) for path in t.values.get(key, ())]

    def items(self, key: Hashable) -> list[tuple]:
        if not self.is_map:
            return self.tables[0].items.get(key, [])
        out = [((), k, path) for k, t in enumerate(self.tables) for path in t.values.get(key, ())]
        out += [((k,) + lp, pos, sub) for k, t in enumerate(self.tables) for lp, pos, sub in t.items.get(key, ())]
        return out


class _Index:
    """Per-occurrence view of the earlier steps and of the templates their arguments took."""

    def __init__(self) -> None:
        self.steps: dict[int, _StepView] = {}
        self.templates: dict[Hashable, list[tuple]] = {}

    def add_template(self, step: int, value: Any, template: str, kind: str) -> None:
        key = value_key(value)
        if key is not None:
            self.templates.setdefault(key, []).append(("tmpl", step, template, kind))

    def sources(self, key: Hashable, earlier: set[int]) -> set[tuple]:
        found = {src for src in self.templates.get(key, ()) if src[1] in earlier}
        for p in earlier:
            view = self.steps.get(p)
            if view is not None:
                found.update(("result", p, path) for path in view.paths(key))
        return found

    def items(self, key: Hashable, k: int, earlier: set[int]) -> set[tuple]:
        found = set()
        for p in earlier:
            view = self.steps.get(p)
            if view is not None:
                found.update((p, lp, sub) for lp, pos, sub in view.items(key) if pos == k)
        return found


def _leaf(args: Any, path: tuple[str, ...]) -> tuple[bool, Any]:
    node = args
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _priority(src: tuple) -> tuple:
    # An earlier argument's template first (one value, one input), then the
    # nearest earlier result that held the value (its most likely producer:
    # a repeated workflow holds the same values in its first run too), then
    # the shortest path.
    if src[0] == "tmpl":
        return (0 if src[3] == "input" else 1, -src[1], 0, src[2])
    return (2, -src[1], len(src[2]), str(src[2]))


def infer_dataflow(step_ids: Sequence[str], slot_of: Sequence[int], occurrences: Sequence[Occurrence],
                   reserved: set[str] | None = None, cache: NodeCache | None = None) -> Dataflow:
    """Bindings, constants, inputs and map steps of a chain, from sampled occurrences.

    Parameters
    ----------
    step_ids : id of each step (templates refer to these).
    slot_of : slot index of each step; steps of one slot commute.
    occurrences : sampled occurrences, steps in the same order as ``step_ids``.
    reserved : names inputs must not take (step ids and ``item`` are always reserved).
    cache : parsed result nodes shared between calls of this function.

    Returns
    -------
    Dataflow

    Examples
    --------
    >>> from miner.synthesis.sampling import CallRecord
    >>> def occ(u, res):
    ...     a = CallRecord("s", {"user_id": u}, {"reservations": res}, True, None, None, None)
    ...     bs = tuple(CallRecord("s", {"reservation_id": r}, {"id": r}, True, None, None, None) for r in res)
    ...     return Occurrence("s", ((a,), bs))
    >>> flow = infer_dataflow(["get_user", "get_reservation"], [0, 1],
    ...                       [occ("u1", ["A", "B"]), occ("u2", ["C"]), occ("u3", ["D", "E", "F"])])
    >>> flow.steps[0].parameters, sorted(flow.inputs)
    ({'user_id': '{{user_id}}'}, ['user_id'])
    >>> flow.steps[1].map_over, flow.steps[1].parameters
    ('{{get_user.reservations}}', {'reservation_id': '{{item}}'})

    Notes
    -----
    O(S * (V + A)) for S sampled occurrences, V nodes in their results and A
    argument leaves, with dictionary lookups per value.
    """
    taken = set(step_ids) | {"item"} | set(reserved or ())
    cache = cache if cache is not None else NodeCache()
    ctx = _Context(step_ids, slot_of, occurrences, [[logical_calls(s) for s in o.steps] for o in occurrences],
                   [_Index() for _ in occurrences], {}, taken)
    flows: list[StepFlow] = []
    for j in range(len(step_ids)):
        flow, templates = _infer_step(ctx, j)
        flows.append(flow)
        for calls, idx in zip(ctx.logical, ctx.indexes):
            idx.steps[j] = _StepView(calls[j], flow.map_over is not None, cache)
            args = calls[j][0].args
            if not isinstance(args, dict):
                continue
            for path, (template, kind) in templates.items():
                present, value = _leaf(args, path)
                if present:
                    idx.add_template(j, value, template, kind)
    return Dataflow(tuple(flows), ctx.inputs)


@dataclass
class _Context:
    step_ids: Sequence[str]
    slot_of: Sequence[int]
    occs: Sequence[Occurrence]
    logical: list[list[list[CallRecord]]]
    indexes: list[_Index]
    inputs: dict[str, InputSpec]
    taken: set[str]


def _infer_step(ctx: _Context, j: int) -> tuple[StepFlow, dict[tuple, tuple[str, str]]]:
    with_args = [i for i, calls in enumerate(ctx.logical) if isinstance(calls[j][0].args, dict)]
    if not with_args:
        missing = ParameterSource(kind="unknown", source=None, support=0.0,
                                  note="arguments were not logged for this step")
        return StepFlow({}, {"*": missing}, None, frozenset()), {}
    earlier = {p for p in range(j) if ctx.slot_of[p] < ctx.slot_of[j]}
    counts: Counter = Counter()
    for i in with_args:
        counts.update(list(dict.fromkeys(p for p, _ in arg_leaves(ctx.logical[i][j][0].args))))
    paths = [p for p, c in counts.items() if c >= KEEP_SHARE * len(with_args)]
    items = _detect_map(ctx, j, paths, earlier, with_args)
    map_over = None
    if items:
        (p, lpath), _ = Counter((v[0], v[1]) for v in items.values()).most_common(1)[0]
        map_over = "{{" + ctx.step_ids[p] + format_path(lpath) + "}}"
        items = {a: v for a, v in items.items() if (v[0], v[1]) == (p, lpath)}
    params: dict[str, Any] = {}
    sources: dict[str, ParameterSource] = {}
    templates: dict[tuple, tuple[str, str]] = {}
    for path in paths:
        label = ".".join(path)
        if path in items:
            _, _, sub, support = items[path]
            value = "{{item" + format_path(sub) + "}}"
            sources[label] = ParameterSource(kind="bound", source=value, support=support, map_over=map_over)
        else:
            value, source = _decide(ctx, j, path, earlier, with_args)
            sources[label] = source
            if source.kind in ("input", "bound"):
                templates[path] = (value, source.kind)
        set_path(params, path, value)
    refs = {r.root for r in iter_references(params)}
    if map_over:
        refs.add(parse_reference(map_over).root)
    index_of = {s: i for i, s in enumerate(ctx.step_ids)}
    return StepFlow(params, sources, map_over, frozenset(index_of[r] for r in refs if r in index_of)), templates


def _detect_map(ctx: _Context, j: int, paths: list[tuple], earlier: set[int], with_args: list[int]) -> dict:
    """``{arg path: (step, list path, item sub-path, support)}`` for leaves fed item by item.

    A leaf is an item of a list when, in at least :data:`BIND_SHARE` of the
    occurrences, its k-th call takes the list's k-th element; the step must
    also be repeated in at least two occurrences, and where the list holds
    several elements the calls must usually cover all of them (else the agent
    just picked the first element: a plain ``[0]`` binding).
    """
    if sum(1 for i in with_args if len(ctx.logical[i][j]) > 1) < MAP_MIN_REPEATS:
        return {}
    found = {}
    for path in paths:
        tally: Counter = Counter()
        n = 0
        matched: dict[tuple, list[int]] = {}
        for i in with_args:
            calls = ctx.logical[i][j]
            leaves = [_leaf(c.args, path) if isinstance(c.args, dict) else (False, None) for c in calls]
            if not all(present for present, _ in leaves):
                continue
            n += 1
            common: set | None = None
            for k, (_, value) in enumerate(leaves):
                key = value_key(value)
                hits = ctx.indexes[i].items(key, k, earlier) if key is not None else set()
                common = hits if common is None else common & hits
                if not common:
                    break
            for cand in common or ():
                tally[cand] += 1
                matched.setdefault(cand, []).append(i)
        ranked = sorted(tally.items(), key=lambda kv: (-kv[1], -kv[0][0], len(kv[0][1]), len(kv[0][2]), str(kv[0])))
        for (p, lp, sub), hits in ranked:
            if hits < BIND_SHARE * n:
                break
            if _covers_lists(ctx, j, p, lp, matched[(p, lp, sub)]):
                found[path] = (p, lp, sub, round(hits / n, 3))
                break
    return found


def _covers_lists(ctx: _Context, j: int, p: int, lpath: tuple, occ_ids: list[int]) -> bool:
    multi = repeated = full = 0
    for i in occ_ids:
        calls = len(ctx.logical[i][j])
        repeated += calls > 1
        ok, lst = get_path(ctx.indexes[i].steps[p].value, lpath)
        if ok and isinstance(lst, list) and len(lst) > 1:
            multi += 1
            full += calls == len(lst)
    return repeated >= MAP_MIN_REPEATS and (multi == 0 or full >= 0.5 * multi)


def _decide(ctx: _Context, j: int, path: tuple, earlier: set[int], with_args: list[int]):
    values = []
    for i in with_args:
        present, value = _leaf(ctx.logical[i][j][0].args, path)
        if present:
            values.append((i, value))
    n = len(values)
    keys = Counter(raw_key(v) for _, v in values)
    top, count = keys.most_common(1)[0]
    if count >= BIND_SHARE * n:
        literal = next(v for _, v in values if raw_key(v) == top)
        # Logged text may itself hold {{...}} (an e-mail or prompt template): it is data, not a reference.
        return escape_literal(literal), ParameterSource(kind="constant", source=literal, support=round(count / n, 3))
    tally: Counter = Counter()
    for i, value in values:
        key = value_key(value)
        if key is not None:
            tally.update(ctx.indexes[i].sources(key, earlier))
    ranked = sorted(tally.items(), key=lambda kv: (-kv[1], _priority(kv[0])))
    if ranked and ranked[0][1] >= BIND_SHARE * n:
        src, hits = ranked[0]
        template = src[2] if src[0] == "tmpl" else "{{" + ctx.step_ids[src[1]] + format_path(src[2]) + "}}"
        kind = "bound" if src[0] == "result" or src[3] == "bound" else "input"
        return template, ParameterSource(kind=kind, source=template, support=round(hits / n, 3))
    name = unique_name(path[-1], ctx.taken)
    ctx.taken.add(name)
    example = values[0][1]
    if len(json.dumps(example, default=str)) > MAX_EXAMPLE_CHARS:
        example = None
    ctx.inputs[name] = InputSpec(type=json_type([v for _, v in values]), example=example,
                                 required=n == len(with_args))
    template = "{{" + name + "}}"
    best = round(ranked[0][1] / n, 3) if ranked else 0.0
    return template, ParameterSource(kind="input", source=template, support=round(n / len(with_args), 3),
                                     best_binding=best)
