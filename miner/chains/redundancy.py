"""Pure functions that decide which frequent chains are workflows.

* :func:`junction_confidence` — is each junction of a chain cohesive, or did two
  unrelated things merely sit next to each other?
* :func:`order_slots` — do several chains differ only by the order of some
  middle steps (which then commute)?
* :func:`closed_mask` — is a chain redundant because a longer one that
  contains it (:func:`contains`) has nearly all of its occurrences?

They work on tuples of hashable tool identifiers, so tests can use strings.
"""

from __future__ import annotations

from collections import Counter
from itertools import permutations, product
from typing import Hashable, Iterable, Mapping, Sequence

from chainmine.miner.chains.model import wilson_lower

Tools = tuple[Hashable, ...]
Slots = tuple[tuple[Hashable, ...], ...]


def connected(slot_of: Sequence[int], weak: set[int], edges: Iterable[tuple[int, int]]) -> bool:
    """Is a chain one piece once its weak junctions are cut, counting dataflow edges?

    Steps of neighbouring slots are linked when the junction between them
    (numbered by the later slot) is not weak; ``edges`` add links between steps
    that pass data. A chain made of two workflows side by side, or of a
    workflow with a stray call in it, falls apart; a connected chain has a link
    across every junction.

    Parameters
    ----------
    slot_of : slot index of each step.
    weak : junctions that failed ``min_confidence``.
    edges : ``(earlier step, later step)`` pairs that pass data.

    Examples
    --------
    >>> connected([0, 1, 2], {1}, [(0, 2)])
    True
    >>> connected([0, 1, 2, 3], {1, 2, 3}, [(0, 3), (1, 2)])
    False

    Notes
    -----
    O(k^2) for k steps (union-find over at most k^2 links).
    """
    parent = list(range(len(slot_of)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    links = list(edges)
    links += [(a, b) for a in range(len(slot_of)) for b in range(len(slot_of))
              if slot_of[b] == slot_of[a] + 1 and slot_of[b] not in weak]
    for a, b in links:
        parent[root(a)] = root(b)
    return len({root(i) for i in range(len(slot_of))}) <= 1


def pattern_frequency(slots: Slots, frequency: Mapping[Tools, int]) -> int:
    """Occurrences of a pattern: the sum over its orders (distinct orders never share an occurrence).

    Examples
    --------
    >>> pattern_frequency((("a",), ("b", "c")), {("a", "b", "c"): 6, ("a", "c", "b"): 4})
    10
    """
    if all(len(slot) == 1 for slot in slots):
        return frequency.get(tuple(slot[0] for slot in slots), 0)
    return sum(frequency.get(order, 0) for order in linearizations(slots))


def plain(tools: Tools) -> Slots:
    """A chain as a pattern of one-tool slots.

    Examples
    --------
    >>> plain(("a", "b"))
    (('a',), ('b',))
    """
    return tuple((t,) for t in tools)


def junction_confidence(slots: Slots, frequency: Mapping[Tools, int], *, lower: bool = False) -> list[float]:
    """Cohesion of every junction between slots: ``max(f(p)/f(prefix), f(p)/f(suffix))``.

    Junction ``i`` (1-based) splits ``slots[:i]`` from ``slots[i:]``. The value is
    the share of the prefix's occurrences that go on into the suffix, or of the
    suffix's occurrences that the prefix leads into, whichever is larger. With
    ``lower=True`` each share is replaced by its Wilson 95% lower bound, so a
    share seen on a handful of occurrences (a rare stray call that happened to
    precede a common workflow 3 times out of 5) does not pass for cohesion.

    Parameters
    ----------
    slots : the pattern (see :func:`plain` for a chain).
    frequency : occurrences of every frequent chain (its sub-chains included).
    lower : use the Wilson lower bound of each share.

    Returns
    -------
    list of float
        ``len(slots) - 1`` values in [0, 1].

    Examples
    --------
    >>> f = {("a",): 10, ("b",): 40, ("a", "b"): 8}
    >>> junction_confidence(plain(("a", "b")), f)
    [0.8]
    >>> [round(x, 2) for x in junction_confidence(plain(("a", "b")), f, lower=True)]
    [0.49]

    Notes
    -----
    O(k * L) dictionary lookups for k slots and L orders.
    """
    share = (lambda k, n: wilson_lower(k, n)) if lower else (lambda k, n: k / n)
    f = pattern_frequency(slots, frequency)
    out = []
    for i in range(1, len(slots)):
        parts = (pattern_frequency(slots[:i], frequency), pattern_frequency(slots[i:], frequency))
        # A part that was never counted (its growth was pruned) gives no evidence either way.
        sides = [share(f, max(n, f)) for n in parts if n]
        out.append(min(1.0, max(sides, default=0.0)) if f else 0.0)
    return out


def insertion_ratios(slots: Slots, frequency: Mapping[Tools, int]) -> list[float]:
    """For each step of an inner slot, ``f(pattern) / f(pattern without that step)`` when known.

    With gaps allowed, ``a, x, b`` and ``a, b`` are both chains; when ``x`` sits
    between ``a`` and ``b`` in only a small share of the ``a ... b``
    occurrences, it is a stray call inside another workflow, not a step of it.
    Steps whose removal leaves an unknown pattern are skipped.

    Examples
    --------
    >>> insertion_ratios(plain(("a", "x", "b")), {("a", "x", "b"): 5, ("a", "b"): 400})
    [0.0125]

    Notes
    -----
    O(k * L) dictionary lookups for k steps and L orders.
    """
    f = pattern_frequency(slots, frequency)
    out = []
    for s in range(1, len(slots) - 1):
        for tool in slots[s]:
            rest = tuple(x for x in slots[s] if x != tool)
            without = pattern_frequency(slots[:s] + ((rest,) if rest else ()) + slots[s + 1:], frequency)
            if without:
                out.append(min(1.0, f / without))
    return out


VARIANT_SHARE = 0.1
"""An order variant must have at least this share of the main order's occurrences to merge."""


def _plausible(slots: Slots, members: Sequence[Tools]) -> bool:
    """Commuting steps sit inside the chain, do not recur elsewhere in it, and show enough orders."""
    if len(slots[0]) > 1 or len(slots[-1]) > 1:
        return False
    pos = 0
    for slot in slots:
        if len(slot) > 1:
            others = {t for s in slots if s is not slot for t in s}
            if others & set(slot):
                return False
            if len({m[pos:pos + len(slot)] for m in members}) < len(slot):
                return False
        pos += len(slot)
    return True


def group_variants(chains: Sequence[Tools], frequency: Mapping[Tools, int]) -> list[tuple[tuple[Tools, ...], Slots]]:
    """Group chains that are order variants of each other into patterns.

    Chains over the same steps are merged greedily, most frequent first, while
    they share one slot structure (:func:`order_slots`) whose parallel slots are
    inner, hold no tool found elsewhere in the chain, and show at least as many
    orders as steps; a variant needs :data:`VARIANT_SHARE` of the main order's
    occurrences. The rest stay alone.

    Returns
    -------
    list of (members, slots)
        Members most frequent first; slots follow the first member's order.

    Examples
    --------
    >>> f = {("a", "b", "c", "d"): 6, ("a", "c", "b", "d"): 4, ("b", "a", "c", "d"): 1}
    >>> [(len(m), s) for m, s in group_variants(list(f), f)]
    [(2, (('a',), ('b', 'c'), ('d',))), (1, (('b',), ('a',), ('c',), ('d',)))]

    Notes
    -----
    O(n log n + n * V * k) for n chains, V variants per group and k steps.
    """
    groups: dict[tuple, list[Tools]] = {}
    for t in chains:
        groups.setdefault((len(t), tuple(sorted(t, key=repr))), []).append(t)
    out: list[tuple[tuple[Tools, ...], Slots]] = []
    for members in groups.values():
        members.sort(key=lambda t: (-frequency.get(t, 0), repr(t)))
        merged: list[Tools] = [members[0]]
        slots: Slots | None = None
        rest: list[Tools] = []
        floor = VARIANT_SHARE * frequency.get(members[0], 0)
        for m in members[1:]:
            trial = order_slots(merged + [m]) if frequency.get(m, 0) >= floor else None
            if trial is not None and (slots is None or trial == slots) and _plausible(trial, merged + [m]):
                merged.append(m)
                slots = trial
            else:
                rest.append(m)
        out.append((tuple(merged), slots or plain(merged[0])))
        out.extend(((m,), plain(m)) for m in rest)
    return out


def order_slots(variants: Sequence[Tools]) -> Slots | None:
    """Slots shared by chains that hold the same steps in different orders.

    A slot boundary falls after position ``i`` when every variant has the same
    multiset of tools in its first ``i + 1`` steps. Returns ``None`` when the
    variants do not form at least two slots, or a slot repeats a tool (steps
    would then be ambiguous).

    Parameters
    ----------
    variants : two or more chains of equal length over the same multiset of tools.

    Examples
    --------
    >>> order_slots([("a", "b", "c", "d"), ("a", "c", "b", "d")])
    (('a',), ('b', 'c'), ('d',))
    >>> order_slots([("a", "b"), ("b", "a")]) is None
    True

    Notes
    -----
    O(V * k) for V variants of k steps.
    """
    if len(variants) < 2 or len({len(v) for v in variants}) != 1:
        return None
    first = variants[0]
    slots: list[tuple[Hashable, ...]] = []
    start = 0
    seen = [Counter() for _ in variants]
    for i in range(len(first)):
        for counter, v in zip(seen, variants):
            counter[v[i]] += 1
        if all(c == seen[0] for c in seen[1:]):
            slots.append(tuple(first[start:i + 1]))
            start = i + 1
    if start != len(first) or len(slots) < 2:
        return None
    if any(len(set(s)) != len(s) for s in slots):
        return None
    return tuple(slots)


def linearizations(slots: Slots, limit: int = 24) -> list[Tools]:
    """Every order of ``slots`` (each slot's steps permuted), at most ``limit``.

    Examples
    --------
    >>> linearizations((("a",), ("b", "c")))
    [('a', 'b', 'c'), ('a', 'c', 'b')]
    """
    out = []
    for combo in product(*(permutations(s) for s in slots)):
        out.append(tuple(t for part in combo for t in part))
        if len(out) >= limit:
            break
    return out


def _embeds(inner: Tools, outer: Tools, max_gap: int) -> bool:
    """Is ``inner`` a sub-sequence of ``outer`` with at most ``max_gap`` skipped steps between picks?"""
    def walk(i: int, start: int, first: bool) -> bool:
        if i == len(inner):
            return True
        stop = len(outer) if first else min(len(outer), start + max_gap + 1)
        return any(outer[j] == inner[i] and walk(i + 1, j + 1, False) for j in range(start, stop))

    return walk(0, 0, True)


def contains(outer: Slots, inner: Slots, max_gap: int = 0) -> bool:
    """Whether ``outer`` has more steps and one of ``inner``'s orders is a sub-sequence of one of its orders.

    Between two picked steps at most ``max_gap`` steps of ``outer`` are skipped (0: contiguous).

    Examples
    --------
    >>> contains(plain(("a", "b", "c")), plain(("a", "c")), 1), contains(plain(("a", "b", "c")), plain(("a", "c")))
    (True, False)

    Notes
    -----
    O(L^2 * k^2) at worst for L orders each and k steps.
    """
    if sum(len(s) for s in outer) <= sum(len(s) for s in inner):
        return False
    orders = linearizations(inner)
    return any(_embeds(o, big, max_gap) for big in linearizations(outer) for o in orders)


def closed_mask(patterns: Sequence[tuple[Slots, int]], ratio: float, *, min_length: int = 2,
                max_gap: int = 0, absorbers: Sequence[tuple[Slots, int]] = ()) -> list[bool]:
    """Which patterns are closed: no longer pattern contains them with ``>= ratio`` of their frequency.

    A pattern is a tuple of slots (see :func:`order_slots`; a plain chain is one
    tool per slot) with its frequency. ``Q`` is contained in ``P`` when one of
    ``Q``'s orders is a sub-sequence of one of ``P``'s orders with at most
    ``max_gap`` steps skipped between two picks (0: contiguous).

    Parameters
    ----------
    patterns : ``(slots, frequency)`` pairs to judge; each also absorbs the others.
    ratio : the ``--closure`` share, in [0, 1].
    min_length, max_gap : the mining limits.
    absorbers : further ``(slots, frequency)`` pairs that may contain the patterns
        (e.g. frequent chains that are not suggested themselves).

    Examples
    --------
    >>> p = [((("a",), ("b",)), 100), ((("a",), ("b",), ("c",)), 95), ((("b",), ("c",)), 300)]
    >>> closed_mask(p, 0.9)
    [False, True, True]

    Notes
    -----
    O(n * m * L^2 * k^2) at worst for n patterns, m absorbers holding all of
    a pattern's tools, L orders each and k steps; an index by tool keeps m small.
    """
    candidates = list(patterns) + list(absorbers)
    by_tool: dict[Hashable, set[int]] = {}
    for n, (slots, _) in enumerate(candidates):
        for slot in slots:
            for tool in slot:
                by_tool.setdefault(tool, set()).add(n)
    mask = []
    for me, (slots, freq) in enumerate(patterns):
        size = sum(len(slot) for slot in slots)
        tools = {t for slot in slots for t in slot}
        holders = set.intersection(*(by_tool[t] for t in tools)) if tools else set()
        orders = linearizations(slots)
        absorbed = False
        for n in holders - {me}:
            other, other_freq = candidates[n]
            if other_freq < ratio * freq or sum(len(s) for s in other) <= size:
                continue
            if any(_embeds(o, outer, max_gap) for outer in linearizations(other) for o in orders):
                absorbed = True
                break
        mask.append(not absorbed)
    return mask
