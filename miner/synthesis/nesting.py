"""One suggestion per lookup: nested variants that only add reads are folded into the longer one.

Agents look the same things up in slightly different combinations:
``get_country → get_stats``, ``get_country → get_news`` and
``get_country → (get_stats | get_news)``. Closure keeps a shorter chain when it
often occurs without the longer one, so all three would be suggested. When
the longer workflow only adds read-only steps, calling it where the shorter
one was enough costs a harmless extra lookup, so one suggestion serves both:
the shorter ones are folded into it and named in its ``stats.variants``.
"""

from __future__ import annotations

from typing import Sequence

from chainmine.library.model import WorkflowTemplate
from chainmine.miner.chains.model import Chain

FOLD_SHARE = 0.5
"""The longer chain must hold at least this share of the shorter one's occurrences."""


def _contains(longer: Sequence[str], shorter: Sequence[str]) -> bool:
    """Whether ``shorter`` is ``longer`` with some steps left out, starting with the same step."""
    if not shorter or longer[0] != shorter[0] or len(shorter) >= len(longer):
        return False
    it = iter(longer)
    return all(any(t == u for u in it) for t in shorter)


def fold_nested(chains: Sequence[Chain], workflows: Sequence[WorkflowTemplate]
                ) -> tuple[list[Chain], list[WorkflowTemplate]]:
    """Fold each workflow into a longer one that starts alike and only adds read-only steps.

    Parameters
    ----------
    chains, workflows : aligned, best first.

    Returns
    -------
    The kept chains and workflows, aligned and in the same order; a kept workflow
    lists the names of the ones folded into it in ``stats.variants``.

    Examples
    --------
    >>> from chainmine.library.model import WorkflowStep, WorkflowStats
    >>> def wf(name, tools, effects, freq):
    ...     steps = [WorkflowStep(id=f"s{i}", tool_name=t, effect=e) for i, (t, e) in enumerate(zip(tools, effects))]
    ...     return WorkflowTemplate(name=name, steps=steps, stats=WorkflowStats(frequency=freq))
    >>> c = lambda tools, freq: Chain(tuple(tools), freq, freq, 1.0, 0.5, None, None, len(tools), 1.0)
    >>> both = wf("both", ["country", "stats", "news"], ["read"] * 3, 9)
    >>> news = wf("news", ["country", "news"], ["read"] * 2, 11)
    >>> pay = wf("pay", ["country", "pay"], ["read", "destructive"], 11)
    >>> kept, wfs = fold_nested([c(["country", "stats", "news"], 9), c(["country", "news"], 11),
    ...                          c(["country", "pay"], 11)], [both, news, pay])
    >>> [w.name for w in wfs], wfs[0].stats.variants
    (['both', 'pay'], ['news'])

    Notes
    -----
    O(n² · k) for n workflows of at most k steps.
    """
    folded_into: dict[int, int] = {}
    for b, (cb, wb) in enumerate(zip(chains, workflows)):
        for a, (ca, wa) in enumerate(zip(chains, workflows)):
            if a == b or a in folded_into or not _contains(wa.tools, wb.tools):
                continue
            extra = list(wa.steps)
            for tool in wb.tools:
                extra.remove(next(s for s in extra if s.tool_name == tool))
            if all(s.effect == "read" for s in extra) and ca.frequency >= FOLD_SHARE * cb.frequency:
                folded_into[b] = a
                break
    names: dict[int, list[str]] = {}
    for b, a in folded_into.items():
        while a in folded_into:  # folded into a workflow that was itself folded
            a = folded_into[a]
        names.setdefault(a, []).append(workflows[b].name)
    kept_chains, kept = [], []
    for i, (c, w) in enumerate(zip(chains, workflows)):
        if i in folded_into:
            continue
        if i in names and w.stats is not None:
            stats = w.stats.model_copy(update={"variants": sorted(names[i])})
            w = w.model_copy(update={"stats": stats})
        kept_chains.append(c)
        kept.append(w)
    return kept_chains, kept
