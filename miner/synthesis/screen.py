"""A cheap screen for dataflow between tools, before per-chain dataflow probes.

Whether data flows across a weak junction of a chain is settled by sampling
the chain's occurrences (:func:`chainmine.miner.synthesis.build.dataflow_edges`). Most
weak junctions are two unrelated workflows side by side, and a single pass
over a bounded sample of sessions shows which tool pairs do pass values: for
every call, which tools called shortly before it returned one of its argument
values (a value that is not common to many results, and that no earlier call
was itself given). The search grows only chains whose new step is cohesive or
fed by such a pair, and only chains such pairs could hold together are probed.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from chainmine.miner.chains.chain_search import SAMPLE_WINDOW, ChainSearch
from chainmine.miner.synthesis.dataflow import logical_calls
from chainmine.miner.synthesis.index import NodeCache
from chainmine.miner.synthesis.sampling import call_refs, fetch_calls
from chainmine.miner.synthesis.values import arg_leaves, value_key

log = logging.getLogger(__name__)

SCREEN_EVENTS = 8000
"""Events (collapsed runs) read for the screen; sessions are picked by a hash of their id.

Parsing the sampled results dominates the screen. Measured on 1M generated calls:
5,000, 10,000 and 20,000 events give the same suggestions, and the quality tests
pass at 5,000; 8,000 keeps a margin for logs with rarer workflows."""
SCREEN_WINDOWS = 64
"""Stretches of the log the sampled sessions are drawn from (fewer at small scale is fine)."""
MIN_SHARE = 0.25
"""A pair passes values when some argument of the later tool matched in this share of cases."""
COMMON_SHARE = 0.01
MIN_COMMON = 10
"""A value found in the results of more than this share of sampled events (at least
``MIN_COMMON``) is too common to show dataflow."""


@dataclass(frozen=True)
class FlowScreen:
    """Tool pairs seen passing values in the sample: ``(source tool id, target tool id)``.

    Examples
    --------
    >>> s = FlowScreen(flows=frozenset({(1, 2)}))
    >>> s.likely(1, 2), s.likely(2, 1)
    (True, False)
    """

    flows: frozenset[tuple[int, int]]

    def likely(self, source: int, target: int) -> bool:
        """True when the sample shows ``target`` reading ``source``'s results."""
        return (source, target) in self.flows


def node_cache(search: ChainSearch) -> NodeCache:
    """The :class:`NodeCache` shared by everything that samples calls of ``search``.

    Examples
    --------
    >>> node_cache.__name__
    'node_cache'
    """
    return search.cache.setdefault("nodes", NodeCache())


def flow_screen(search: ChainSearch, sample_events: int = SCREEN_EVENTS) -> FlowScreen:
    """Build (once per search) the :class:`FlowScreen` from a sample of sessions.

    Parameters
    ----------
    search : a finished chain search (its event table is read).
    sample_events : about how many events to read.

    Examples
    --------
    >>> flow_screen.__name__
    'flow_screen'

    Notes
    -----
    One query, then O(E * W * A) for E sampled events, a window of W earlier
    events (the longest chain span) and A argument leaves per call.
    """
    cached = search.cache.get("flow_screen")
    if cached is not None:
        return cached
    p = search.params
    window = (p.max_length - 1) * (p.max_gap + 1)
    modulus = max(1, -(-search.summary.events // max(1, sample_events)))
    # Whole sessions, picked by the window of calls they start in, so the calls read
    # lie in a few stretches of the log (see ChainSearch.sample_events).
    stretch = max(1, min(SAMPLE_WINDOW, search.summary.calls // (SCREEN_WINDOWS * modulus)))
    rows = search.screen_events(modulus, stretch)
    refs = [call_refs(row[2], row[3]) for row in rows]
    calls = fetch_calls(search, [r for run in refs for r in run])
    nodes = node_cache(search)
    seen: Counter = Counter()
    hits: Counter = Counter()
    runs = []
    spread: Counter = Counter()
    for (sid, tool, _, _), run_refs in zip(rows, refs):
        run = logical_calls([calls[r] for r in run_refs if r in calls])
        if run:
            values = {k for c in run for k in nodes.table(c).values}
            spread.update(values)
            runs.append((sid, tool, run, values))
    # Values in many results (statuses, plans, repo names) match by chance; only specific ones count.
    common = max(MIN_COMMON, COMMON_SHARE * len(runs))
    history: list[tuple[int, set, set]] = []
    current = None
    for sid, tool, run, values in runs:
        if sid != current:
            current, history = sid, []
        args = run[0].args
        leaves = [(path, k) for path, v in arg_leaves(args) if (k := value_key(v)) is not None] \
            if isinstance(args, dict) else []
        recent = history[-window:]
        # A value an earlier call was given is an input passed along, not a result read.
        given = set().union(*(h[2] for h in recent)) if recent else set()
        found: set[tuple] = set()
        for before, earlier_values, _ in recent:
            seen_pair = (before, tool)
            if seen_pair not in found:
                found.add(seen_pair)
                seen[seen_pair] += 1
            for path, key in leaves:
                if key in earlier_values and key not in given and spread[key] <= common:
                    found.add((before, tool, path))
        hits.update(f for f in found if len(f) == 3)
        history.append((tool, values, {k for _, k in leaves}))
    flows = {(a, b) for (a, b, _), n in hits.items() if n >= MIN_SHARE * seen[(a, b)]}
    screen = FlowScreen(frozenset(flows))
    log.info("flow screen: %d events, %d tool pairs seen, %d pass values", len(rows), len(seen), len(flows))
    search.cache["flow_screen"] = screen
    return screen
