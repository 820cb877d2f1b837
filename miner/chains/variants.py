"""Order variants are counted together, and their fragments never count an occurrence twice.

The level-wise search counts each order of a chain on its own: ``a b c d`` and
``a c b d`` are different keys. A workflow seen 600 times, half in each order,
fails ``--min-frequency 500`` order by order, while with a gap allowed its
fragments ``a b d`` and ``a c d`` (each skipping the other's step) pass with all
600 occurrences each. So:

* the search counts down to :func:`search_floor`, and a chain below
  ``min_frequency`` grows only while its order variants together reach it
  (:func:`variant_growth`); patterns are then judged on the sum over their orders
  (:func:`frequent_patterns`), and closure removes the fragments;
* fragments that survive anyway (the whole workflow is longer than
  ``--max-length``, or one order is too rare to merge) are chains that can hold
  the very same calls as an occurrence (:func:`rival_pairs`); the miner hands each
  shared occurrence to the better-ranked chain and recounts the other.

Tools are any hashable, sortable identifiers, so tests can use strings.
"""

from __future__ import annotations

import math
from typing import Callable, Hashable, Mapping, Sequence

from chainmine.miner.chains.redundancy import VARIANT_SHARE, Slots, Tools, contains, group_variants


def search_floor(min_frequency: int) -> int:
    """The frequency the search counts down to, so each order of a frequent pattern that may merge is seen.

    A pattern of two orders reaching ``min_frequency`` has a main order with at
    least half of it, and an order merges down to :data:`VARIANT_SHARE` of the
    main order's occurrences.

    Examples
    --------
    >>> search_floor(500), search_floor(3)
    (25, 1)
    """
    return max(1, math.ceil(VARIANT_SHARE * min_frequency / 2))


def family_key(tools: Tools) -> tuple:
    """Chains with the same key are orders of each other: same first step, same other steps.

    The first step stays put: commuting steps are never a chain's first (see
    :func:`~chainmine.miner.chains.redundancy.group_variants`).

    Examples
    --------
    >>> family_key(("a", "c", "b")) == family_key(("a", "b", "c")) != family_key(("b", "a", "c"))
    True
    """
    return (len(tools), tools[0], tuple(sorted(tools[1:], key=repr)))


def family_totals(frequency: Mapping[Tools, int]) -> dict[tuple, tuple[int, int]]:
    """``family key -> (occurrences over every order, occurrences of the most frequent order)``.

    Examples
    --------
    >>> family_totals({("a", "b", "c"): 6, ("a", "c", "b"): 5, ("a",): 11})[family_key(("a", "b", "c"))]
    (11, 6)

    Notes
    -----
    O(n) for n chains.
    """
    out: dict[tuple, tuple[int, int]] = {}
    for tools, f in frequency.items():
        if tools:
            key = family_key(tools)
            total, top = out.get(key, (0, 0))
            out[key] = (total + f, max(top, f))
    return out


def variant_growth(min_frequency: int, rule: Callable[[Tools, dict], bool]) -> Callable[[Tools, dict], bool]:
    """A growth rule for a search run down to :func:`search_floor`.

    A chain with ``min_frequency`` occurrences grows when ``rule`` says so. A
    rarer one grows only as an order of a family whose orders together reach
    ``min_frequency`` and only if it holds :data:`VARIANT_SHARE` of the family's
    main order (it could not merge otherwise); ``rule`` must still agree.

    Examples
    --------
    >>> grow = variant_growth(10, lambda tools, frequency: True)
    >>> f = {("a", "b"): 12, ("a", "b", "c"): 6, ("a", "c", "b"): 5, ("a", "b", "d"): 4}
    >>> [grow(t, f) for t in f]
    [True, True, True, False]

    Notes
    -----
    The family totals are rebuilt when the search has counted a new level: O(n)
    for n chains, once per level; each call is then O(k) for k steps.
    """
    totals: dict[tuple, tuple[int, int]] = {}
    built_for = [-1]

    def extend(tools: Tools, frequency: dict) -> bool:
        f = frequency[tools]
        if f < min_frequency:
            if len(tools) < 3:
                return False
            if built_for[0] != len(frequency):  # the search adds a whole level before asking
                totals.clear()
                totals.update(family_totals(frequency))
                built_for[0] = len(frequency)
            total, top = totals.get(family_key(tools), (0, 0))
            if total < min_frequency or f < VARIANT_SHARE * top:
                return False
        return rule(tools, frequency)

    return extend


def frequent_patterns(frequency: Mapping[Tools, int], min_length: int,
                      min_frequency: int) -> list[tuple[tuple[Tools, ...], Slots]]:
    """Order variants grouped into patterns (:func:`group_variants`), kept when their orders together are frequent.

    ``frequency`` may hold chains below ``min_frequency`` (counted down to
    :func:`search_floor`); only those in a family that reaches it take part.

    Examples
    --------
    >>> f = {("a", "b", "c", "d"): 6, ("a", "c", "b", "d"): 5, ("a", "b"): 11, ("x", "y"): 4}
    >>> [slots for members, slots in frequent_patterns(f, 2, 10)]
    [(('a',), ('b', 'c'), ('d',)), (('a',), ('b',))]

    Notes
    -----
    O(n log n + n * V * k), as :func:`group_variants`, for n chains.
    """
    totals = family_totals(frequency)
    chains = [t for t, f in frequency.items() if len(t) >= min_length
              and (f >= min_frequency or totals[family_key(t)][0] >= min_frequency)]
    return [(members, slots) for members, slots in group_variants(chains, frequency)
            if sum(frequency[t] for t in members) >= min_frequency]


def rival_pairs(patterns: Sequence[Slots], max_gap: int) -> set[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``, of patterns that can hold the very same calls as an occurrence.

    Such patterns start and end with the same tool and neither contains the
    other (a chain inside another was already judged by closure: it stands on
    its own occurrences).

    Examples
    --------
    >>> p = [(("a",), ("b",), ("d",)), (("a",), ("c",), ("d",)), (("a",), ("d",)), (("b",), ("d",))]
    >>> sorted(rival_pairs(p, 1))
    [(0, 1)]

    Notes
    -----
    O(n^2) pairs for n patterns, each judged by :func:`~chainmine.miner.chains.redundancy.contains`.
    """
    ends: dict[tuple[Hashable, Hashable], list[int]] = {}
    for i, slots in enumerate(patterns):
        if len(slots[0]) == 1 and len(slots[-1]) == 1:
            ends.setdefault((slots[0][0], slots[-1][0]), []).append(i)
    pairs = set()
    for group in ends.values():
        for n, i in enumerate(group):
            for j in group[n + 1:]:
                if not contains(patterns[i], patterns[j], max_gap) and not contains(patterns[j], patterns[i], max_gap):
                    pairs.add((i, j))
    return pairs
