"""Infer where every parameter of a mined chain gets its value.

For each argument leaf of each step, over the sampled occurrences:

* **map item** — a repeated step whose k-th call takes the k-th element (or a
  field of it) of a list in an earlier result becomes a map step:
  ``map_over: "{{step.list}}"``, parameter ``{{item}}`` / ``{{item.field}}``;
* **selection** — the value is an element (or a field of one) of a list in an
  earlier result, at an index that varies: the agent picked one. A read-only
  step then maps over the whole list (fetching every element is harmless); a
  step that writes takes an input whose allowed values are that list
  (``choices``), checked at run time;
* **bound** — equal to the value at one path of an earlier step's result
  (``{{step.orders[0].id}}``, or ``{{step}}`` for a scalar result) or to an
  earlier argument, in which case it takes that argument's template (so a
  shared input stays one input). Flow beats constant: a value the back-end
  returns identically in every session is still bound when it is an id or the
  result field has the parameter's name;
* **constant** — the same value in nearly every occurrence, across sessions
  (:func:`~chainmine.miner.synthesis.evidence.constant_holds`): the literal, with any
  ``{{`` in its text escaped so it reaches the tool exactly as logged;
* **input** — varies and comes from nowhere earlier: a declared workflow input;
  a credential (by name or by value) is always an input marked ``secret``,
  stored without an example;
* **unknown** — the step's arguments were never logged.

Whether occurrences agree is decided by :func:`~chainmine.miner.synthesis.evidence.agrees`,
a bound that accounts for how many occurrences were seen. A step of several
calls that is not a map is represented by its last call (the one the next
step follows). "Earlier" means in an earlier slot: steps that commute never
feed each other.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from chainmine.library.model import InputSpec, ParameterSource
from chainmine.library.templates import escape_literal, format_path, iter_references, parse_reference
from chainmine.miner.synthesis.evidence import agrees, constant_holds, looks_secret, secret_name
from chainmine.miner.synthesis.index import NodeCache, OccurrenceIndex, StepView
from chainmine.miner.synthesis.naming import unique_name
from chainmine.miner.synthesis.sampling import CallRecord, Occurrence
from chainmine.miner.synthesis.values import arg_leaves, get_path, json_type, raw_key, same_value, set_path, value_key

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


def logical_calls(calls: Sequence[CallRecord]) -> list[CallRecord]:
    """The calls of a step without retries: a failed call repeated with the same arguments is dropped.

    Examples
    --------
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> bad = CallRecord("s", {"id": 1}, "Error: timeout", False, None, None, None)
    >>> good = CallRecord("s", {"id": 1}, {"ok": 1}, True, None, None, None)
    >>> logical_calls([bad, good]) == [good]
    True
    """
    return [c for i, c in enumerate(calls)
            if c.success or i + 1 == len(calls) or not same_value(c.args, calls[i + 1].args)]


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
                   reserved: set[str] | None = None, cache: NodeCache | None = None,
                   effects: Sequence[str | None] | None = None,
                   agreement: Callable[[int, int], bool] = agrees) -> Dataflow:
    """Bindings, constants, inputs and map steps of a chain, from sampled occurrences.

    Parameters
    ----------
    step_ids : id of each step (templates refer to these).
    slot_of : slot index of each step; steps of one slot commute.
    occurrences : sampled occurrences, steps in the same order as ``step_ids``.
    reserved : names inputs must not take (step ids and ``item`` are always reserved).
    cache : parsed result nodes shared between calls of this function.
    effects : side-effect class of each step (``read``/``write``/``destructive``,
        see :mod:`chainmine.library.effects`); a read-only step maps over a list the agent
        picked from. ``None`` treats every step as writing.
    agreement : when ``hits`` of ``n`` occurrences are enough to bind (default
        :func:`~chainmine.miner.synthesis.evidence.agrees`).

    Returns
    -------
    Dataflow

    Examples
    --------
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> def occ(u, res, fetched):
    ...     a = CallRecord("s", {"user_id": u}, {"reservations": res}, True, None, None, None)
    ...     bs = tuple(CallRecord("s", {"reservation_id": r}, {"id": r}, True, None, None, None) for r in fetched)
    ...     return Occurrence("s", ((a,), bs))
    >>> occs = [occ("u1", ["A", "B"], ["A", "B"]), occ("u2", ["C"], ["C"]), occ("u3", ["D", "E", "F"], ["D", "E", "F"])]
    >>> flow = infer_dataflow(["get_user", "get_reservation"], [0, 1], occs)
    >>> flow.steps[0].parameters, sorted(flow.inputs)
    ({'user_id': '{{user_id}}'}, ['user_id'])
    >>> flow.steps[1].map_over, flow.steps[1].parameters
    ('{{get_user.reservations}}', {'reservation_id': '{{item}}'})

    An agent that fetched only the reservation it needed picked it from the list:
    a read-only lookup maps over the whole list, a write takes a checked input.

    >>> picked = [occ("u1", ["A", "B"], ["B"]), occ("u2", ["C", "G"], ["C"]), occ("u3", ["D", "E", "F"], ["F"])]
    >>> infer_dataflow(["get_user", "get_reservation"], [0, 1], picked, effects=["read", "read"]).steps[1].map_over
    '{{get_user.reservations}}'
    >>> flow = infer_dataflow(["get_user", "cancel"], [0, 1], picked, effects=["read", "destructive"])
    >>> flow.steps[1].parameters, flow.inputs["reservation_id"].choices
    ({'reservation_id': '{{reservation_id}}'}, '{{get_user.reservations}}')

    Notes
    -----
    O(S * (V + A)) for S sampled occurrences, V nodes in their results and A
    argument leaves, with dictionary lookups per value.
    """
    taken = set(step_ids) | {"item"} | set(reserved or ())
    cache = cache if cache is not None else NodeCache()
    ctx = _Context(step_ids, slot_of, occurrences, [[logical_calls(s) for s in o.steps] for o in occurrences],
                   [OccurrenceIndex() for _ in occurrences], {}, taken,
                   list(effects) if effects is not None else [None] * len(step_ids), agreement)
    flows: list[StepFlow] = []
    for j in range(len(step_ids)):
        flow, templates = _infer_step(ctx, j)
        flows.append(flow)
        is_map = flow.map_over is not None
        for calls, idx in zip(ctx.logical, ctx.indexes):
            idx.steps[j] = StepView(calls[j], is_map, cache)
            args = representative(calls[j], is_map).args
            if not isinstance(args, dict):
                continue
            for path, (template, kind) in templates.items():
                present, value = _leaf(args, path)
                if present:
                    idx.add_template(j, value, template, kind)
    return Dataflow(tuple(flows), ctx.inputs)


def representative(calls: Sequence[CallRecord], is_map: bool) -> CallRecord:
    """The call whose arguments stand for a step: a map step's first, otherwise the last.

    The last call of a run is the one the next step follows (and the one whose
    result it reads), so its arguments and result belong together.

    Examples
    --------
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> a, b = (CallRecord("s", {"id": i}, None, True, None, None, None) for i in (1, 2))
    >>> representative([a, b], is_map=False).args, representative([a, b], is_map=True).args
    ({'id': 2}, {'id': 1})
    """
    return calls[0] if is_map else calls[-1]


@dataclass
class _Context:
    step_ids: Sequence[str]
    slot_of: Sequence[int]
    occs: Sequence[Occurrence]
    logical: list[list[list[CallRecord]]]
    indexes: list[OccurrenceIndex]
    inputs: dict[str, InputSpec]
    taken: set[str]
    effects: list[str | None]
    agrees: Callable[[int, int], bool] = agrees


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
    items, choices = _detect_items(ctx, j, paths, earlier, with_args)
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
            _, _, sub, support, how = items[path]
            value = "{{item" + format_path(sub) + "}}"
            sources[label] = ParameterSource(kind="bound", source=value, support=support, map_over=map_over,
                                             **({"selection": True} if how == "selection" else {}))
        else:
            value, source = _decide(ctx, j, path, earlier, with_args, map_over is not None, choices.get(path))
            sources[label] = source
            if source.kind in ("input", "bound"):
                templates[path] = (value, source.kind)
        set_path(params, path, value)
    refs = {r.root for r in iter_references(params)}
    if map_over:
        refs.add(parse_reference(map_over).root)
    index_of = {s: i for i, s in enumerate(ctx.step_ids)}
    picked = {choices[path][0] for path in choices if sources[".".join(path)].kind == "input"}
    # A pick from an earlier list is data flow too: the list must be there to check the pick against.
    return StepFlow(params, sources, map_over,
                    frozenset({index_of[r] for r in refs if r in index_of} | picked)), templates


def _detect_items(ctx: _Context, j: int, paths: list[tuple], earlier: set[int], with_args: list[int]):
    """Leaves fed from the elements of an earlier list: ``(map items, choices)``.

    ``map items`` is ``{arg path: (step, list path, item sub-path, support, how)}``
    with ``how`` ``"map"`` — the k-th call takes the k-th element, the step is
    repeated in at least two occurrences and usually covers the whole list (else
    the agent just picked the first element: a plain ``[0]`` binding) — or
    ``"selection"``: a read-only step whose calls take elements at varying
    indices. ``choices`` maps the leaves of a writing step that picks elements
    to ``(step, list path)``: they become inputs checked against the list.
    """
    read_only = ctx.effects[j] == "read"
    repeated = sum(1 for i in with_args if len(ctx.logical[i][j]) > 1)
    found: dict[tuple, tuple] = {}
    choices: dict[tuple, tuple] = {}
    for path in paths:
        by_pos: Counter = Counter()
        any_pos: Counter = Counter()
        varied: Counter = Counter()
        n = 0
        matched: dict[tuple, list[int]] = {}
        for i in with_args:
            calls = ctx.logical[i][j]
            leaves = [_leaf(c.args, path) if isinstance(c.args, dict) else (False, None) for c in calls]
            if not all(present for present, _ in leaves):
                continue
            n += 1
            positional: set | None = None
            anywhere: dict | None = None
            for k, (_, value) in enumerate(leaves):
                key = value_key(value)
                hits = ctx.indexes[i].items(key, earlier) if key is not None else set()
                at_k = {(p, lp, sub) for p, lp, pos, sub in hits if pos == k}
                positional = at_k if positional is None else positional & at_k
                seen: dict = {}
                for p, lp, pos, sub in hits:
                    seen.setdefault((p, lp, sub), set()).add(pos)
                anywhere = seen if anywhere is None else {c: anywhere[c] | seen[c] for c in anywhere.keys() & seen}
            for cand in positional or ():
                by_pos[cand] += 1
                matched.setdefault(cand, []).append(i)
            for cand, positions in (anywhere or {}).items():
                any_pos[cand] += 1
                varied[cand] += positions != {0}
        if not n:
            continue
        hit = _positional_map(ctx, j, by_pos, matched, n, repeated)
        if hit is not None:
            found[path] = hit + ("map",)
            continue
        ranked = sorted(any_pos.items(), key=lambda kv: (-kv[1], -kv[0][0], len(kv[0][1]), len(kv[0][2]), str(kv[0])))
        if not ranked or not ctx.agrees(ranked[0][1], n) or not varied[ranked[0][0]]:
            continue
        (p, lp, sub), hits = ranked[0]
        if read_only:
            found[path] = (p, lp, sub, round(hits / n, 3), "selection")
        elif not sub and len(ctx.logical[with_args[0]][j]) >= 1:
            choices[path] = (p, lp)
    return found, choices


def _positional_map(ctx: _Context, j: int, tally: Counter, matched: dict, n: int, repeated: int) -> tuple | None:
    if repeated < MAP_MIN_REPEATS:
        return None
    ranked = sorted(tally.items(), key=lambda kv: (-kv[1], -kv[0][0], len(kv[0][1]), len(kv[0][2]), str(kv[0])))
    for (p, lp, sub), hits in ranked:
        if not ctx.agrees(hits, n):
            break
        if _covers_lists(ctx, j, p, lp, matched[(p, lp, sub)]):
            return (p, lp, sub, round(hits / n, 3))
    return None


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


def _flow_beats_constant(ctx: _Context, values: list[tuple[int, Any]], src: tuple) -> bool:
    """Whether a value that never changes is still better explained by where it came from.

    An id (text or number with digits, no spaces) that an earlier step *returned*
    is data flow even when a seeded back-end returns the same one every time. A
    word such as ``"USD"`` that merely appears earlier stays a constant, and so
    does a value the earlier step was itself given (an echo of its own argument:
    two runs of one workflow in a session would otherwise look wired together).
    """
    if src[0] == "tmpl":
        return src[3] == "bound"
    i, value = values[0]
    text = str(value)
    if not any(ch.isdigit() for ch in text) or any(ch.isspace() for ch in text):
        return False
    producer = representative(ctx.logical[i][src[1]], False).args
    echoed = isinstance(producer, dict) and any(same_value(v, value) for _, v in arg_leaves(producer))
    return not echoed


def _counter_example(ctx: _Context, odd: tuple[int, Any] | None, secret: bool) -> dict[str, Any]:
    """Evidence against a decision, for reviewers: one occurrence that disagrees (session and value)."""
    if odd is None:
        return {}
    i, value = odd
    shown = "(secret)" if secret else value
    if len(json.dumps(shown, default=str)) > 200:
        shown = json.dumps(shown, default=str)[:197] + "..."
    return {"counter_example": {"session": ctx.occs[i].session_id, "value": shown}}


def _decide(ctx: _Context, j: int, path: tuple, earlier: set[int], with_args: list[int], is_map: bool,
            choice: tuple | None = None):
    values = []
    for i in with_args:
        present, value = _leaf(representative(ctx.logical[i][j], is_map).args, path)
        if present:
            values.append((i, value))
    n = len(values)
    secret = secret_name(path) or any(looks_secret(v) for _, v in values)
    keys = Counter(raw_key(v) for _, v in values)
    top, count = keys.most_common(1)[0]
    tally: Counter = Counter()
    loose: Counter = Counter()
    seen: list[set] = []
    for i, value in values:
        key = value_key(value)
        found: set = set()
        if key is not None:
            found = ctx.indexes[i].sources(key, earlier)
            if not found:  # retyped or rounded: the same value, compared loosely
                found = ctx.indexes[i].sources(key, earlier, loose=True)
                loose.update(found)
            tally.update(found)
        seen.append(found)
    ranked = sorted(tally.items(), key=lambda kv: (-kv[1], _priority(kv[0])))
    constant = (not secret and constant_holds(count, n, len({ctx.occs[i].session_id for i, v in values
                                                              if raw_key(v) == top})))
    if ranked and ctx.agrees(ranked[0][1], n):
        src, hits = ranked[0]
        if not constant or _flow_beats_constant(ctx, values, src):
            template = src[2] if src[0] == "tmpl" else "{{" + ctx.step_ids[src[1]] + format_path(src[2]) + "}}"
            kind = "bound" if src[0] == "result" or src[3] == "bound" else "input"
            extra = {"loose_matches": loose[src]} if loose[src] else {}
            odd = next(((i, v) for (i, v), f in zip(values, seen) if src not in f), None)
            extra.update(_counter_example(ctx, odd, secret))
            return template, ParameterSource(kind=kind, source=template, support=round(hits / n, 3), **extra)
    if constant:
        literal = next(v for _, v in values if raw_key(v) == top)
        odd = next(((i, v) for i, v in values if raw_key(v) != top), None)
        # Logged text may itself hold {{...}} (an e-mail or prompt template): it is data, not a reference.
        return escape_literal(literal), ParameterSource(kind="constant", source=literal, support=round(count / n, 3),
                                                        **_counter_example(ctx, odd, secret))
    name = unique_name(path[-1], ctx.taken)
    ctx.taken.add(name)
    example = None if secret else values[0][1]
    if len(json.dumps(example, default=str)) > MAX_EXAMPLE_CHARS:
        example = None
    spec = {"secret": True} if secret else {}
    if choice is not None:
        spec["choices"] = "{{" + ctx.step_ids[choice[0]] + format_path(choice[1]) + "}}"
    ctx.inputs[name] = InputSpec(type=json_type([v for _, v in values]), example=example,
                                 required=n == len(with_args), **spec)
    template = "{{" + name + "}}"
    best = round(ranked[0][1] / n, 3) if ranked else 0.0
    return template, ParameterSource(kind="input", source=template, support=round(n / len(with_args), 3),
                                     best_binding=best, **({"secret": True} if secret else {}))
