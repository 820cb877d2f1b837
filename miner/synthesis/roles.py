"""Roles of repeated calls: when two calls of one tool in a row are two different steps.

The chain search collapses consecutive calls of one tool into one step, which
is right for a lookup repeated over a list (a map step) and for retries. It is
wrong when the calls play different parts: an agent that searches the origin
airport and then the destination airport feeds the first result to the
flight search's ``origin`` parameters and the second to ``destination``. Such a
step is split into one step per role when the split workflow shows it: a later
step reads a call other than the last, or the calls take different constants.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from chainmine.miner.synthesis.dataflow import Dataflow, logical_calls
from chainmine.miner.synthesis.sampling import Occurrence

ROLE_SHARE = 0.8
"""Share of occurrences that must make the same number of calls for the step to have roles."""
MAX_ROLES = 4
"""Most calls a step may be split into."""


@dataclass(frozen=True)
class Layout:
    """Tools, slot of each step and the occurrences matching them (steps aligned with ``tools``).

    Examples
    --------
    >>> Layout(("a", "b"), (0, 1), ()).tools
    ('a', 'b')
    """

    tools: tuple[str, ...]
    slot_of: tuple[int, ...]
    occurrences: tuple[Occurrence, ...]


def role_count(occurrences: Sequence[Occurrence], j: int) -> int | None:
    """How many calls step ``j`` makes in nearly every occurrence (2 to :data:`MAX_ROLES`), else ``None``.

    Examples
    --------
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> c = lambda i: CallRecord("s", {"q": i}, None, True, None, None, None)
    >>> role_count([Occurrence("s", ((c(1), c(2)),))] * 5, 0), role_count([Occurrence("s", ((c(1),),))], 0)
    (2, None)
    """
    counts = Counter(len(logical_calls(o.steps[j])) for o in occurrences)
    if not counts:
        return None
    m, seen = counts.most_common(1)[0]
    return m if 2 <= m <= MAX_ROLES and seen >= ROLE_SHARE * len(occurrences) else None


def split_step(layout: Layout, j: int, m: int) -> Layout:
    """The layout with step ``j`` split into ``m`` consecutive single-call steps.

    Occurrences where the step made another number of calls are left out.

    Examples
    --------
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> c = lambda i: CallRecord("s", {"q": i}, None, True, None, None, None)
    >>> out = split_step(Layout(("find", "book"), (0, 1), (Occurrence("s", ((c(1), c(2)), (c(3),))),)), 0, 2)
    >>> out.tools, out.slot_of, [len(s) for s in out.occurrences[0].steps]
    (('find', 'find', 'book'), (0, 1, 2), [1, 1, 1])
    """
    slot = layout.slot_of[j]
    tools = layout.tools[:j] + (layout.tools[j],) * m + layout.tools[j + 1:]
    slot_of = (layout.slot_of[:j] + tuple(slot + r for r in range(m))
               + tuple(s + m - 1 for s in layout.slot_of[j + 1:]))
    occs = []
    for o in layout.occurrences:
        calls = logical_calls(o.steps[j])
        if len(calls) == m:
            occs.append(Occurrence(o.session_id, o.steps[:j] + tuple((c,) for c in calls) + o.steps[j + 1:], o.start))
    return Layout(tools, slot_of, tuple(occs))


def could_have_roles(flow: Dataflow, occurrences: Sequence[Occurrence], j: int, m: int) -> bool:
    """A cheap test before splitting step ``j``: could its ``m`` calls play different roles at all?

    Only if a later step reads step ``j`` or takes an input (a value a role could
    feed), or if the k-th call takes the same value in nearly every occurrence
    while another call takes another (different constants).

    Examples
    --------
    >>> from chainmine.miner.synthesis.dataflow import StepFlow
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> c = lambda **a: CallRecord("s", a, None, True, None, None, None)
    >>> flat = Dataflow((StepFlow({"q": "{{q}}"}, {}, None, frozenset()), StepFlow({}, {}, None, frozenset())), {})
    >>> occs = [Occurrence("s", ((c(q=f"a{i}"), c(q=f"b{i}")), (c(),))) for i in range(5)]
    >>> could_have_roles(flat, occs, 0, 2)
    False
    >>> occs = [Occurrence("s", ((c(mode="in", q=f"a{i}"), c(mode="out", q=f"b{i}")), (c(),))) for i in range(5)]
    >>> could_have_roles(flat, occs, 0, 2)
    True
    """
    for step in flow.steps[j + 1:]:
        if j in step.references or any(src.kind == "input" for src in step.sources.values()):
            return True
    per_role: list[dict[str, Counter]] = [{} for _ in range(m)]
    seen = 0
    for o in occurrences:
        calls = logical_calls(o.steps[j])
        if len(calls) != m or not all(isinstance(c.args, dict) for c in calls):
            continue
        seen += 1
        for k, c in enumerate(calls):
            for name, value in c.args.items():
                per_role[k].setdefault(name, Counter())[repr(value)] += 1
    if not seen:
        return False
    for name in per_role[0]:
        tops = []
        for role in per_role:
            counts = role.get(name)
            if not counts:
                break
            value, n = counts.most_common(1)[0]
            if n < ROLE_SHARE * seen:
                break
            tops.append(value)
        else:
            if len(set(tops)) > 1:
                return True
    return False


def distinct_roles(flow: Dataflow, j: int, m: int) -> bool:
    """Whether the ``m`` steps from ``j`` in a split ``flow`` play different roles.

    They do when any step reads one of them other than the last (the unsplit
    step would read only the last call), or when two of them take different
    constants for one parameter.

    Examples
    --------
    >>> from chainmine.miner.synthesis.dataflow import StepFlow
    >>> s = lambda refs, params={}: StepFlow(params, {}, None, frozenset(refs))
    >>> distinct_roles(Dataflow((s([]), s([]), s([0, 1])), {}), 0, 2)
    True
    >>> distinct_roles(Dataflow((s([]), s([]), s([1])), {}), 0, 2)
    False
    """
    roles = set(range(j, j + m - 1))
    if any(roles & step.references for q, step in enumerate(flow.steps) if q > j):
        return True
    constants: dict[str, set[str]] = {}
    for step in flow.steps[j:j + m]:
        for name, source in step.sources.items():
            if source.kind == "constant":
                constants.setdefault(name, set()).add(repr(source.source))
    return any(len(v) > 1 for v in constants.values())
