"""Turn mined chains into validated :class:`~chainmine.library.model.WorkflowTemplate` objects."""

from __future__ import annotations

import logging
from dataclasses import replace
from statistics import fmean
from typing import Sequence

from pydantic import ValidationError as PydanticError

from chainmine.library.effects import EffectOverrides, classify_tool
from chainmine.library.errors import LibraryError
from chainmine.library.model import WorkflowStats, WorkflowStep, WorkflowTemplate
from chainmine.library.templates import parse_reference
from chainmine.library.validate import validate_workflow
from chainmine.miner.chains.chain_search import ChainSearch
from chainmine.miner.chains.model import Chain, slot_positions
from chainmine.miner.chains.redundancy import connected
from chainmine.miner.synthesis.categories import CategoryClassifier, categorize, namespace
from chainmine.miner.synthesis.dataflow import Dataflow, infer_dataflow
from chainmine.miner.synthesis.evidence import agrees_across_junction
from chainmine.miner.synthesis.index import NodeCache
from chainmine.miner.chains.params import MiningParams
from chainmine.miner.synthesis.nesting import fold_nested
from chainmine.miner.synthesis.onecall import context_keys, occurrence_usage, session_outcomes, usage_figures
from chainmine.miner.synthesis.roles import Layout, could_have_roles, distinct_roles, role_count, split_step
from chainmine.miner.synthesis.describe import describe
from chainmine.miner.synthesis.naming import distinct_names, step_ids, workflow_name
from chainmine.miner.synthesis.sampling import Occurrence, sample_occurrences
from chainmine.miner.synthesis.screen import flow_screen, node_cache

log = logging.getLogger(__name__)

MAX_EXAMPLES = 5
PROBE_SAMPLE = 20
"""Occurrences sampled to judge whether data flows across a weak junction."""


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(fmean(known), 3) if known else None


def _step_figures(occs: Sequence[Occurrence], j: int, per_item: bool) -> tuple[float | None, float | None]:
    durations, costs = [], []
    for o in occs:
        calls = o.steps[j]
        known = [c.duration_ms for c in calls if c.duration_ms is not None]
        durations.append(sum(known) if known else None)
        priced = [c.cost for c in calls if c.cost is not None]
        if priced:
            costs.append(sum(priced) / len(priced) if per_item else sum(priced))
    return _mean(durations), _mean(costs)


def example_sessions(occs: Sequence[Occurrence], limit: int = MAX_EXAMPLES) -> tuple[str, ...]:
    """Up to ``limit`` distinct session ids, in sample order.

    Examples
    --------
    >>> example_sessions([Occurrence("s2", ()), Occurrence("s1", ()), Occurrence("s2", ())])
    ('s2', 's1')
    """
    out: list[str] = []
    for o in occs:
        if o.session_id not in out:
            out.append(o.session_id)
        if len(out) == limit:
            break
    return tuple(out)


def synthesise_layout(chain: Chain, occurrences: Sequence[Occurrence], cache: NodeCache | None,
                      effects: Sequence[str]) -> tuple[Layout, Dataflow]:
    """The chain's steps (repeated calls split into roles where they play different parts) and their dataflow.

    Examples
    --------
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> def occ(a, b):
    ...     find = tuple(CallRecord("s", {"q": q}, {"code": q.upper()}, True, None, None, None) for q in (a, b))
    ...     return Occurrence("s", (find, (CallRecord("s", {"src": a.upper(), "dst": b.upper()}, {}, True, None, None, None),)))
    >>> c = Chain(("find_airport", "search_flights"), 3, 3, 1.0, 0.4, None, None, 3.0, 1.0)
    >>> layout, flow = synthesise_layout(c, [occ("rome", "oslo"), occ("lima", "nice"), occ("bonn", "pisa")],
    ...                                  None, ["read", "read"])
    >>> layout.tools, flow.steps[2].parameters
    (('find_airport', 'find_airport', 'search_flights'), {'src': '{{find_airport.code}}', 'dst': '{{find_airport_2.code}}'})

    Notes
    -----
    One :func:`infer_dataflow` per step that could have roles, on the sample.
    """
    layout = Layout(tuple(chain.tools), tuple(slot_positions(chain)), tuple(occurrences))
    effect_list = list(effects)
    flow = infer_dataflow(step_ids(layout.tools), layout.slot_of, layout.occurrences, cache=cache, effects=effect_list)
    for j in reversed(range(len(chain.tools))):
        alone = sum(1 for s in layout.slot_of if s == layout.slot_of[j]) == 1
        m = role_count(layout.occurrences, j) if alone and flow.steps[j].map_over is None else None
        if m is None or not could_have_roles(flow, layout.occurrences, j, m):
            continue
        split = split_step(layout, j, m)
        split_effects = effect_list[:j] + [effect_list[j]] * m + effect_list[j + 1:]
        split_flow = infer_dataflow(step_ids(split.tools), split.slot_of, split.occurrences, cache=cache,
                                    effects=split_effects)
        if split.occurrences and distinct_roles(split_flow, j, m):
            layout, flow, effect_list = split, split_flow, split_effects
    return layout, flow


def build_workflow(chain: Chain, occurrences: Sequence[Occurrence], *,
                   classifier: CategoryClassifier | None = None, name: str | None = None,
                   cache: NodeCache | None = None, overrides: EffectOverrides | None = None) -> WorkflowTemplate:
    """Synthesise one workflow (status ``suggested``, source ``mined``) from a chain and its sample.

    Parameters
    ----------
    chain : the mined chain (its figures become ``stats``).
    occurrences : sampled occurrences, steps in ``chain.tools`` order.
    classifier : optional category classifier trained on a library.
    name : the workflow name (default: from the step ids).
    cache : parsed result nodes shared across chains.
    overrides : side-effect classes that override the verbs of tool names.

    Examples
    --------
    >>> from chainmine.miner.synthesis.sampling import CallRecord
    >>> def occ(q, found):
    ...     a = CallRecord("s", {"q": q}, found, True, 5.0, None, None)
    ...     return Occurrence("s", ((a,), (CallRecord("s", {"id": found}, {}, True, 7.0, None, None),)))
    >>> c = Chain(("search_items", "get_item"), 3, 3, 1.0, 0.44, 12.0, None, 2.0, 1.0)
    >>> wf = build_workflow(c, [occ("x", "r1"), occ("y", "r2"), occ("z", "r3")])
    >>> wf.name, wf.steps[1].parameters
    ('search_items_then_get_item', {'id': '{{search_items}}'})

    Notes
    -----
    O(S * V) for S sampled occurrences with V result nodes; see :func:`infer_dataflow`.
    """
    return _build(chain, occurrences, classifier, name, cache, overrides)[0]


def _build(chain: Chain, occurrences: Sequence[Occurrence], classifier: CategoryClassifier | None,
           name: str | None, cache: NodeCache | None,
           overrides: EffectOverrides | None) -> tuple[WorkflowTemplate, Layout]:
    effect_of = {t: classify_tool(t, overrides=overrides) for t in set(chain.tools)}
    layout, flow = synthesise_layout(chain, occurrences, cache, [effect_of[t][0] for t in chain.tools])
    tools, slot_of = layout.tools, layout.slot_of
    ids = step_ids(tools)
    slots = [[j for j, s in enumerate(slot_of) if s == k] for k in sorted(set(slot_of))]
    map_steps = {j for j, f in enumerate(flow.steps) if f.map_over}
    steps = []
    for j, tool in enumerate(tools):
        f = flow.steps[j]
        before = slots[slot_of[j] - 1] if slot_of[j] else []
        # Log order says nothing about two reads that pass no data: they may run side by side.
        reads = effect_of[tool][0] == "read" and all(effect_of[tools[p]][0] == "read" for p in before)
        deps = set() if reads else set(before)
        deps |= {p for p in f.references if p != j}
        duration, cost = _step_figures(layout.occurrences, j, per_item=j in map_steps)
        effect, effect_source = effect_of[tool]
        steps.append(WorkflowStep(
            id=ids[j], tool_name=tool, parameters=f.parameters, depends_on=[ids[p] for p in sorted(deps)],
            map_over=f.map_over, duration_estimate_ms=duration, cost_estimate=cost, sources=f.sources,
            effect=effect, effect_source=effect_source))
    map_lists = {}
    for j in map_steps:
        path = parse_reference(flow.steps[j].map_over).path
        map_lists[j] = next((str(p) for p in reversed(path) if isinstance(p, str)), "item")
    examples = chain.example_sessions or example_sessions(occurrences)
    duration = chain.avg_duration_ms
    stats = WorkflowStats(
        frequency=chain.frequency, sessions=chain.sessions, success_rate=round(chain.success_rate, 4),
        success_rate_low=round(chain.success_rate_low, 4),
        avg_duration_ms=None if duration is None else round(duration, 3),
        avg_cost=None if chain.avg_cost is None else round(chain.avg_cost, 6),
        example_sessions=list(examples), score=round(chain.score, 3),
        round_trips_saved=round(chain.round_trips_saved, 3), avg_calls=round(chain.avg_calls, 3),
        confidence=round(chain.confidence, 4), sampled=len(occurrences))
    tags = ["mined"] + sorted({ns for ns in map(namespace, chain.tools) if ns})
    tags += ["map"] if map_steps else []
    tags += ["parallel"] if chain.parallel_groups else []
    wf = WorkflowTemplate(
        name=name or workflow_name(ids, slots, map_steps),
        description=describe(list(tools), slots, map_lists, chain.frequency, chain.sessions, chain.success_rate),
        category=categorize(chain.tools, classifier), tags=tags, status="suggested", source="mined",
        inputs=flow.inputs, steps=steps, stats=stats)
    return validate_workflow(wf), layout


def synthesise(search: ChainSearch, chains: Sequence[Chain], *, sample_size: int = 200,
               classifier: CategoryClassifier | None = None, overrides: EffectOverrides | None = None,
               params: MiningParams | None = None) -> tuple[list[Chain], list[WorkflowTemplate]]:
    """Sample and synthesise every chain; returns the chains (example sessions filled) and workflows, best first.

    Each workflow's ``stats`` gain ``one_call_share``, an honest ``round_trips_saved``
    and ``outcome_rate`` (see :mod:`chainmine.miner.synthesis.onecall`); workflows below
    ``params.min_one_call`` or ``params.min_outcome`` are left out
    (``search.stats["not_one_call"]``, ``["low_outcome"]``) and the rest ranked by
    :func:`usable_score`. A chain whose workflow cannot be built or fails
    validation is left out (both lists stay aligned) with a warning;
    ``search.stats["invalid"]`` counts them and ``search.notes["invalid"]`` holds the reasons.

    Examples
    --------
    >>> synthesise.__name__
    'synthesise'

    Notes
    -----
    One sampling pass for all chains, :func:`build_workflow` per chain, then one
    look-back query for the occurrences whose inputs were not known from their first calls.
    """
    samples = sample_occurrences(search, chains, sample_size)
    chains = [c if c.example_sessions else replace(c, example_sessions=example_sessions(s))
              for c, s in zip(chains, samples)]
    cache = node_cache(search)
    built = []
    for chain, sample in zip(chains, samples):
        try:
            wf, layout = _build(chain, sample, classifier, None, cache, overrides)
        except (LibraryError, PydanticError) as exc:
            # One odd chain (say, logged text the templates cannot express) must not cost every other one.
            reason = f"{' -> '.join(chain.tools)}: {' '.join(str(exc).split())}"
            log.warning("chain left out, its workflow is invalid: %s", reason)
            search.notes.setdefault("invalid", []).append(reason)
            continue
        built.append((chain, wf, occurrence_usage(wf, layout)))
    search.stats["invalid"] = len(chains) - len(built)
    contexts = context_keys(search, [u.start for _, _, us in built for u in us if u.pending and u.start])
    outcomes = session_outcomes(search, [u.session_id for _, _, us in built for u in us])
    p = params or MiningParams()
    ranked = []
    for chain, wf, usages in built:
        figures = usage_figures(usages, chain.frequency, contexts, outcomes)
        stats = wf.stats.model_copy(update=figures)
        stats.score = usable_score(stats)
        wf = wf.model_copy(update={"stats": stats})
        if figures["one_call_share"] is not None and figures["one_call_share"] < p.min_one_call:
            search.stats["not_one_call"] = search.stats.get("not_one_call", 0) + 1
            continue
        if figures["outcome_rate"] is not None and figures["outcome_rate"] < p.min_outcome:
            search.stats["low_outcome"] = search.stats.get("low_outcome", 0) + 1
            continue
        ranked.append((chain, wf))
    ranked.sort(key=lambda cw: -cw[1].stats.score)
    kept = [c for c, _ in ranked]
    workflows = [w for _, w in ranked]
    names = distinct_names([w.name for w in workflows], ["|".join(c.tools) for c in kept])
    workflows = [w if w.name == n else w.model_copy(update={"name": n}) for w, n in zip(workflows, names)]
    before = len(workflows)
    kept, workflows = fold_nested(kept, workflows)
    search.stats["folded"] = before - len(workflows)
    return kept, workflows


def usable_score(stats: WorkflowStats) -> float:
    """Ranking score: round trips saved x one-call share x success rate (x outcome rate when known).

    Examples
    --------
    >>> usable_score(WorkflowStats(success_rate=0.9, round_trips_saved=100.0, one_call_share=0.5))
    45.0
    """
    extra = stats.model_extra or {}
    share = extra.get("one_call_share")
    outcome = extra.get("outcome_rate")
    value = float(extra.get("round_trips_saved") or 0.0) * float(stats.success_rate or 0.0)
    value *= 1.0 if share is None else float(share)
    value *= 1.0 if outcome is None else float(outcome)
    return round(value, 3)


def dataflow_edges(search: ChainSearch, chains: list[Chain], weak: list[set[int]],
                   sample_size: int = PROBE_SAMPLE) -> list[set[tuple[int, int]]]:
    """For each chain, the ``(earlier, later)`` step pairs that pass data.

    Used by :func:`chainmine.miner.chains.mine.find_chains` to keep chains whose weak
    junctions are spanned by dataflow. A chain that would fall apart even if
    every pair :func:`flow_screen` saw passing data did so here is answered
    without sampling; the others are sampled and inferred.

    Examples
    --------
    >>> dataflow_edges.__name__
    'dataflow_edges'

    Notes
    -----
    One screen per search, then one sampling pass for the chains left.
    """
    screen = flow_screen(search)
    out: list[set[tuple[int, int]]] = [set() for _ in chains]
    todo = []
    for n, (chain, need) in enumerate(zip(chains, weak)):
        ids = [search.tool_ids[t] for t in chain.tools]
        slot_of = slot_positions(chain)
        possible = [(p, q) for q in range(len(ids)) for p in range(q)
                    if slot_of[p] < slot_of[q] and screen.likely(ids[p], ids[q])]
        if connected(slot_of, need, possible):
            todo.append(n)
    search.stats["probed"] = search.stats.get("probed", 0) + len(todo)
    samples = sample_occurrences(search, [chains[n] for n in todo], sample_size)
    cache = node_cache(search)
    for n, occs in zip(todo, samples):
        if occs:
            flow = infer_dataflow(step_ids(chains[n].tools), slot_positions(chains[n]), occs, cache=cache,
                                  agreement=agrees_across_junction)
            out[n] = flow.edges
    return out
