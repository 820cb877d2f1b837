"""The session simulator: agents calling tools, planted workflows, noise and failures.

Control flow (which tool comes next, which call fails) is a Python loop over
calls, fed by uniform numbers drawn from numpy in blocks; everything that
is a plain per-call number (durations, think time, timestamps, costs, ids)
is drawn afterwards for a whole batch at once with numpy.

Each session belongs to one domain and one agent. It is either a single stray
call, a few stray calls, or 1-3 workflow occurrences in random order with
stray calls around them; an occurrence sometimes has a stray call inside it,
its commuting steps come in either order, and a failed step is retried or,
when later steps need its result, the agent gives up on the occurrence.
"""

from __future__ import annotations

import functools
import logging
from itertools import accumulate
from typing import Any, Iterator

import numpy as np

from chainmine.library.templates import parse_path
from chainmine.miner.generate import pools
from chainmine.miner.generate.columns import Batch, CallColumns, encode_json, finish_batch
from chainmine.miner.generate.scenarios import get_scenario
from chainmine.miner.generate.spec import Domain, GenerateError, Param, Stream, ToolSpec, WorkflowSpec
from chainmine.miner.generate.truth import TruthRecorder

log = logging.getLogger(__name__)

BATCH_SESSIONS = 1000
BASE_MS = int(np.datetime64("2026-01-05T08:00:00", "ms").astype(np.int64))
SPAN_MS = 14 * 24 * 3600 * 1000
P_SINGLE_CALL = 0.07      # sessions that are one stray call
P_NOISE_ONLY = 0.05       # sessions of a few stray calls and no workflow
OCCURRENCES_CUM = tuple(accumulate((0.5, 0.33, 0.17)))   # 1, 2 or 3 occurrences per session
STRAY_BEFORE = 0.7        # mean stray calls before each occurrence
STRAY_AFTER = 0.5         # mean stray calls at the end of a session
P_INSIDE_NOISE = 0.05     # an occurrence with one stray call between two of its steps
P_SWAP = 0.5              # commuting steps written in the other order
P_RETRY_NEEDED = 0.6      # retry a failed step whose result later steps need
P_RETRY_LEAF = 0.25       # retry a failed step nothing depends on
MEMO_SIZE = 1 << 17       # memoised tool results (shared, never mutated)


@functools.lru_cache(maxsize=512)
def _path(text: str) -> tuple:
    return parse_path(text)


def _walk(value: Any, path: tuple) -> Any:
    """Follow a parsed path the generator wrote itself (always present, so no error reporting)."""
    for part in path:
        value = value[part]
    return value


class _DomainPlan:
    """Per-domain draw tables, precomputed once."""

    def __init__(self, domain: Domain, tools: dict[str, ToolSpec], general: list[str]):
        self.domain = domain
        self.stray = [tools[n] for n in sorted(set(domain.tools) | set(general))]
        self.stray_cum = list(accumulate(s.weight for s in self.stray))
        self.workflows = domain.workflows
        self.workflow_cum = list(accumulate(w.weight for w in domain.workflows))


class LogGenerator:
    """Generate tool-call logs with planted workflows, and the ground truth of what was planted.

    Parameters
    ----------
    sessions : int
        Number of sessions (each one agent conversation or run).
    seed : int
        Random seed; the same seed gives the same calls, byte for byte.
    scenario : str
        One of :data:`chainmine.miner.generate.SCENARIOS`.
    annotate : bool
        Fill :attr:`Batch.planted` so tests can see which call belongs to which occurrence.

    Examples
    --------
    >>> gen = LogGenerator(sessions=20, seed=3, scenario="support")
    >>> calls = sum(len(b) for b in gen.batches())
    >>> gen.truth()["generator"]["calls"] == calls
    True

    Notes
    -----
    O(C) for C generated calls; the per-call Python work is one dictionary of
    arguments and one demo-tool call, the rest is vectorised per batch.
    """

    def __init__(self, sessions: int = 2000, seed: int = 7, scenario: str = "mixed", *, annotate: bool = False):
        if isinstance(sessions, bool) or not isinstance(sessions, int) or sessions < 1:
            raise GenerateError(f"sessions must be a positive integer, got {sessions!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise GenerateError(f"seed must be a non-negative integer, got {seed!r}")
        self.sessions, self.seed, self.annotate = sessions, seed, annotate
        self.scenario = get_scenario(scenario)
        tools = self.scenario.tools
        general = [n for n in tools if all(n not in d.tools for d in self.scenario.domains)]
        self._plans = [_DomainPlan(d, tools, general) for d in self.scenario.domains]
        self._domain_cum = list(accumulate(d.weight for d in self.scenario.domains))
        names = sorted(tools)
        self._tool_index = {n: i for i, n in enumerate(names)}
        self._median = np.array([tools[n].median_ms for n in names])
        self._spread = np.array([tools[n].spread for n in names])
        self._cost = np.array([tools[n].cost for n in names])
        self._truth = TruthRecorder(self.scenario.workflows)
        self._memo: dict[tuple, Any] = {}
        self._calls = 0
        self._done = False

    # ----------------------------------------------------------------- batches
    @property
    def batch_count(self) -> int:
        """How many batches of :data:`BATCH_SESSIONS` sessions the log has."""
        return -(-self.sessions // BATCH_SESSIONS)

    def batch(self, index: int) -> Batch:
        """Generate batch ``index`` on its own and count its occurrences in the truth recorder.

        Every batch draws from its own random streams (seeded by the seed and
        the batch number), so batches come out the same in any order and in
        any process.
        """
        flow_seed, time_seed, id_seed = np.random.SeedSequence(self.seed, spawn_key=(index,)).spawn(3)
        flow = Stream(np.random.default_rng(flow_seed))
        times, ids = np.random.default_rng(time_seed), np.random.default_rng(id_seed)
        first = index * BATCH_SESSIONS
        count = min(BATCH_SESSIONS, self.sessions - first)
        cols = CallColumns(self.annotate)
        for i in range(first, first + count):
            self._session(flow, i, cols)
        gap_ms = SPAN_MS / self.sessions
        # each batch owns a slice of the time span, so session starts grow through the file
        starts = BASE_MS + first * gap_ms + np.sort(times.uniform(0, count * gap_ms, count))
        return finish_batch(cols, starts, times, ids, first, self._median, self._spread, self._cost)

    def batches(self) -> Iterator[Batch]:
        """Yield every batch in order, in this process."""
        self.start_counting()
        for index in range(self.batch_count):
            batch = self.batch(index)
            self._calls += len(batch)
            yield batch
        self.finish_counting()

    def start_counting(self) -> None:
        """Forget counts of an earlier run (before the first batch)."""
        self._truth.reset()
        self._calls, self._done = 0, False

    def count_batch(self, calls: int, truth_state: dict[str, Any]) -> None:
        """Add a batch made elsewhere (another process): its call count and :meth:`TruthRecorder.state`."""
        self._calls += calls
        self._truth.absorb(truth_state)

    def truth_state(self) -> dict[str, Any]:
        """The truth recorder's counts so far (to hand to :meth:`count_batch` in another process)."""
        return self._truth.state()

    def finish_counting(self) -> None:
        """Mark the log complete: :meth:`truth` may now be read."""
        self._done = True
        log.info("generated %d calls in %d sessions (seed %d, scenario %s)",
                 self._calls, self.sessions, self.seed, self.scenario.name)

    def truth(self) -> dict[str, Any]:
        """The ground truth of the generated logs (call after :meth:`batches` is exhausted)."""
        if not self._done:
            raise GenerateError("ground truth is known only after every batch has been generated")
        return self._truth.to_dict({"seed": self.seed, "sessions": self.sessions,
                                    "scenario": self.scenario.name, "calls": self._calls})

    # ------------------------------------------------------------- simulation
    def _session(self, r: Stream, index: int, cols: CallColumns) -> None:
        """Simulate session ``index``; its occurrences are numbered ``index * 10 + k``."""
        plan = self._plans[r.weighted(self._domain_cum)]
        cols.open_session(r.pick(plan.domain.agents), r.pick(pools.OPERATORS))
        kind = r.u()
        if kind < P_SINGLE_CALL:
            self._stray(r, plan, cols)
        elif kind < P_SINGLE_CALL + P_NOISE_ONLY:
            for _ in range(r.between(2, 6)):
                self._stray(r, plan, cols)
        else:
            for k in range(1 + r.weighted(OCCURRENCES_CUM)):
                wf = plan.workflows[r.weighted(plan.workflow_cum)]
                for _ in range(r.poisson(STRAY_BEFORE)):
                    self._stray(r, plan, cols, frozenset(wf.tools[:1]))
                self._occurrence(r, plan, wf, index, index * 10 + k, cols)
            for _ in range(r.poisson(STRAY_AFTER)):
                self._stray(r, plan, cols)
        cols.close_session()
        self._truth.close_session(cols.outcomes[-1] >= 0.5)

    def _stray(self, r: Stream, plan: _DomainPlan, cols: CallColumns, avoid: frozenset = frozenset()) -> None:
        """One stray call; never the tool just called (a stray call would extend a map or retry run) nor ``avoid``."""
        for _ in range(20):
            spec = plan.stray[r.weighted(plan.stray_cum)]
            if spec.name not in avoid and spec.name != cols.last_tool:
                break
        self._call(r, spec, spec.sample(r), cols, None)

    def _call(self, r: Stream, spec: ToolSpec, args: dict[str, Any], cols: CallColumns,
              planted: dict[str, Any] | None) -> tuple[bool, Any]:
        if spec.failure_rate and r.u() < spec.failure_rate:
            cls, message = spec.errors[r.below(len(spec.errors))]
            text = f"Error: {message}"
            cols.add((self._tool_index[spec.name], spec.name, args, text, False, f"{cls}: {message}", None), planted)
            return False, None
        result, encoded = self._result(spec, args)
        cols.add((self._tool_index[spec.name], spec.name, args, result, True, None, encoded), planted)
        return True, result

    def _result(self, spec: ToolSpec, args: dict[str, Any]) -> tuple[Any, str]:
        """The tool's result and its JSON text, memoised: tools are pure and entity pools finite."""
        try:
            key = (spec.name, *args.items())
            return self._memo[key]
        except TypeError:  # a list argument: not hashable, compute it
            result = spec.fn(**args)
            return result, encode_json(result)
        except KeyError:
            pass
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        result = spec.fn(**args)
        self._memo[key] = pair = (result, encode_json(result))
        return pair

    def _occurrence(self, r: Stream, plan: _DomainPlan, wf: WorkflowSpec, session: int, occ: int,
                    cols: CallColumns) -> None:
        tools = self.scenario.tools
        order = _step_order(r, wf)
        inside = r.below(len(order) - 1) + 1 if len(order) > 1 and r.u() < P_INSIDE_NOISE else -1
        self._truth.start(wf.name)
        inputs: dict[str, Any] = {}
        results: list[Any] = [None] * len(wf.steps)
        step_args: list[Any] = [None] * len(wf.steps)
        failed = [False] * len(wf.steps)
        ok_all = True
        for pos, si in enumerate(order):
            step = wf.steps[si]
            if pos == inside:
                self._stray(r, plan, cols, frozenset(wf.tools))
            if any(failed[j] for j in _needs(wf, si)):
                return  # the agent gives up: what it needed is missing
            spec = tools[step.tool]
            if step.map_over:
                elements = _walk(results[step.map_over[0]], _path(step.map_over[1]))
                outs, all_args = [], []
                for k, element in enumerate(elements):
                    args = {name: _value(p, r, inputs, results, element) for name, p in step.params.items()}
                    ok, out = self._call(r, spec, args, cols, self._tag(wf, occ, si, k, False))
                    ok_all &= ok
                    outs.append(out)
                    all_args.append(args)
                results[si], step_args[si] = outs, all_args
                continue
            args = {name: _value(p, r, inputs, results, None) for name, p in step.params.items()}
            ok, out = self._call(r, spec, args, cols, self._tag(wf, occ, si, None, False))
            if not ok:
                ok_all = False
                if r.u() < (P_RETRY_NEEDED if wf.dependents(si) else P_RETRY_LEAF):
                    ok, out = self._call(r, spec, args, cols, self._tag(wf, occ, si, None, True))
            failed[si], results[si], step_args[si] = not ok, out, args
        sample = (step_args, results) if ok_all and self._truth.wants_sample(wf.name) else None
        self._truth.complete(wf.name, session, ok_all, order, sample)
        if wf.session_success is not None and r.u() >= wf.session_success:
            cols.fail_session()  # every call worked, yet the conversation did not reach its goal

    def _tag(self, wf: WorkflowSpec, occ: int, step: int, item: int | None, retry: bool) -> dict[str, Any] | None:
        if not self.annotate:
            return None
        return {"workflow": wf.name, "occurrence": occ, "step": step, "item": item, "retry": retry}

@functools.lru_cache(maxsize=256)
def _needs(wf: WorkflowSpec, index: int) -> frozenset[int]:
    """Steps whose results step ``index`` takes values from."""
    step = wf.steps[index]
    needs = {p.step for p in step.params.values() if p.kind in ("bound", "selection")}
    if step.map_over:
        needs.add(step.map_over[0])
    return frozenset(needs)


def _step_order(r: Stream, wf: WorkflowSpec) -> list[int]:
    """Declared step order with each parallel group shuffled."""
    order = list(range(len(wf.steps)))
    groups: dict[int, list[int]] = {}
    for i, s in enumerate(wf.steps):
        if s.parallel_group is not None:
            groups.setdefault(s.parallel_group, []).append(i)
    for members in groups.values():
        if r.u() < P_SWAP:
            shuffled = members[::-1] if len(members) == 2 else sorted(members, key=lambda _: r.u())
            for pos, idx in zip(members, shuffled):
                order[pos] = idx
    return order


def _value(p: Param, r: Stream, inputs: dict[str, Any], results: list[Any], element: Any) -> Any:
    if p.kind in ("constant", "secret"):
        return p.value
    if p.kind == "selection":
        options = _walk(results[p.step], _path(p.path))
        picked = options[r.below(len(options))]
        return _walk(picked, _path(p.within)) if p.within else picked
    if p.kind == "input":
        if p.name not in inputs:
            inputs[p.name] = p.sample(r)
        return inputs[p.name]
    source = results[p.step] if p.kind == "bound" else element
    return _walk(source, _path(p.path))
