"""Ground truth: what was planted in a generated log, counted as it was written.

The truth file (``<log stem>.truth.json``) has this shape::

    {"generator": {"seed", "sessions", "scenario", "calls"},
     "workflows": [{"name", "domain", "reliable", "tools", "steps", "occurrences", "sessions", ...}]}

``occurrences`` counts occurrences written with every step (an occurrence the
agent gave up on after a failure is in ``attempts`` only); ``sessions`` the
distinct sessions holding at least one. Each step lists its ``parameters``
with ``kind`` ``input`` (``name``), ``constant`` (``value``), ``bound``
(``step``, ``path``; ``""`` is the whole result) or ``item`` (``path`` inside
the list element of a map step). A parameter may also list ``equivalent``
sources: other places that held the very same value in every sampled
occurrence (``get_order_details.order_id`` echoes the id taken from
``orders[0].order_id``), so a miner binding to either one is right.

Shapes of real logs (the ``travel`` scenario) add parameter kinds
``selection`` (``step``, ``path`` of a list, optional ``within``; the agent
picked one element at a random index; ``effect`` is the step tool's
side-effect class by name: a ``read`` step is mined as a map over the list,
any other as an input with ``choices``) and ``secret`` (``name``: a
credential, the same key in every call, whose value the truth leaves out;
listed under ``inputs`` with ``secret: true``). A workflow that plants such
shapes lists them under ``shapes``; one planted with ``session_success``
also reports it and the observed ``outcome_rate`` (share of its occurrences
in sessions whose ``session_outcome`` is 1).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterator

from chainmine.library.effects import effect_from_name
from chainmine.miner.generate.spec import WorkflowSpec

SAMPLES = 30
MIN_SAMPLES_FOR_EQUIVALENTS = 5


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every sub-value of ``value`` with its path (``""`` for the whole value).

    Examples
    --------
    >>> [p for p, _ in leaves({"orders": [{"id": 1}]})]
    ['', 'orders', 'orders[0]', 'orders[0].id']
    """
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")


def json_type(value: Any) -> str:
    """The JSON type name of ``value`` as used by workflow inputs.

    Examples
    --------
    >>> json_type(3), json_type("a"), json_type([1])
    ('integer', 'string', 'array')
    """
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "any"


class TruthRecorder:
    """Counts planted occurrences as the generator writes them and builds the truth document.

    Examples
    --------
    >>> from chainmine.miner.generate.scenarios import SCENARIOS
    >>> rec = TruthRecorder(SCENARIOS["support"].workflows)
    >>> rec.start("support_lookup_reservations")
    >>> rec.complete("support_lookup_reservations", 0, True, [0, 1])
    >>> rec.to_dict({"seed": 1})["workflows"][0]["occurrences"]
    1
    """

    def __init__(self, workflows: tuple[WorkflowSpec, ...], samples: int = SAMPLES):
        self.workflows = {wf.name: wf for wf in workflows}
        self.samples_wanted = samples
        self.reset()

    def reset(self) -> None:
        """Forget every count (the generator calls this before it starts)."""
        names = list(self.workflows)
        self.attempts = dict.fromkeys(names, 0)
        self.occurrences = dict.fromkeys(names, 0)
        self.successes = dict.fromkeys(names, 0)
        self.sessions = dict.fromkeys(names, 0)
        self._last_session = dict.fromkeys(names, -1)
        self.ended_well = dict.fromkeys(names, 0)
        self._session_done: list[str] = []
        self.orders: dict[str, Counter] = {n: Counter() for n in names}
        self.samples: dict[str, list[tuple[list[Any], list[Any]]]] = {n: [] for n in names}

    def start(self, name: str) -> None:
        """Count an attempted occurrence."""
        self.attempts[name] += 1

    def wants_sample(self, name: str) -> bool:
        """True while fewer than ``samples`` successful occurrences of ``name`` were kept."""
        return len(self.samples[name]) < self.samples_wanted

    def complete(self, name: str, session: int, ok: bool, order: list[int],
                 sample: tuple[list[Any], list[Any]] | None = None) -> None:
        """Count an occurrence written with every step; ``sample`` is ``(args per step, results per step)``."""
        self.occurrences[name] += 1
        self.successes[name] += ok
        if self._last_session[name] != session:
            self._last_session[name] = session
            self.sessions[name] += 1
        self.orders[name][tuple(order)] += 1
        self._session_done.append(name)
        if sample is not None and self.wants_sample(name):
            self.samples[name].append(sample)

    def close_session(self, ended_well: bool) -> None:
        """Count the occurrences completed in the session just closed towards its outcome."""
        if ended_well:
            for name in self._session_done:
                self.ended_well[name] += 1
        self._session_done = []

    def state(self) -> dict[str, Any]:
        """Every count as plain data (picklable), for :meth:`absorb` in another process."""
        return {"attempts": dict(self.attempts), "occurrences": dict(self.occurrences),
                "successes": dict(self.successes), "sessions": dict(self.sessions),
                "ended_well": dict(self.ended_well),
                "orders": {n: dict(c) for n, c in self.orders.items()}, "samples": self.samples}

    def absorb(self, state: dict[str, Any]) -> None:
        """Add the counts of a later batch (sessions never span batches); keep the first samples.

        Examples
        --------
        >>> from chainmine.miner.generate.scenarios import SCENARIOS
        >>> a, b = TruthRecorder(SCENARIOS["devops"].workflows), TruthRecorder(SCENARIOS["devops"].workflows)
        >>> b.start("devops_deploy_service"); a.absorb(b.state()); a.attempts["devops_deploy_service"]
        1
        """
        for key in ("attempts", "occurrences", "successes", "sessions", "ended_well"):
            mine = getattr(self, key)
            for name, n in state[key].items():
                mine[name] += n
        for name, counts in state["orders"].items():
            self.orders[name].update(counts)
        for name, samples in state["samples"].items():
            room = self.samples_wanted - len(self.samples[name])
            self.samples[name].extend(samples[:max(room, 0)])

    def to_dict(self, generator: dict[str, Any]) -> dict[str, Any]:
        """The ground-truth document."""
        return {"generator": generator, "workflows": [self._workflow(wf) for wf in self.workflows.values()]}

    def _workflow(self, wf: WorkflowSpec) -> dict[str, Any]:
        name = wf.name
        samples = self.samples[name]
        steps = []
        for si, step in enumerate(wf.steps):
            params = {}
            for pname, p in step.params.items():
                entry = p.truth()
                if p.kind in ("input", "bound") and not step.is_map:
                    alternatives = self._equivalents(wf, si, pname, entry, samples)
                    if alternatives:
                        entry["equivalent"] = alternatives
                if p.kind == "selection":
                    entry["effect"] = effect_from_name(step.tool)
                params[pname] = entry
            info: dict[str, Any] = {"tool": step.tool, "map": step.is_map}
            if step.map_over:
                info["map_over"] = {"step": step.map_over[0], "path": step.map_over[1]}
            info.update(parallel_group=step.parallel_group, parameters=params)
            steps.append(info)
        tools: list[str] = []
        for t in wf.tools:
            if not tools or tools[-1] != t:
                tools.append(t)
        done = self.occurrences[name]
        out = {"name": name, "domain": wf.domain, "reliable": wf.reliable, "description": wf.description,
               "tools": tools, "steps": steps, "inputs": self._inputs(wf, samples),
               "occurrences": done, "sessions": self.sessions[name], "attempts": self.attempts[name],
               "success_rate": round(self.successes[name] / done, 4) if done else None}
        if wf.shapes:
            out["shapes"] = list(wf.shapes)
        if wf.session_success is not None:
            out["session_success"] = wf.session_success
            out["outcome_rate"] = round(self.ended_well[name] / done, 4) if done else None
        if any(s.parallel_group is not None for s in wf.steps):
            out["orders"] = [{"tools": [wf.steps[i].tool for i in order], "count": n}
                             for order, n in sorted(self.orders[name].items(), key=lambda kv: (-kv[1], kv[0]))]
        return out

    @staticmethod
    def _inputs(wf: WorkflowSpec, samples: list) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for si, step in enumerate(wf.steps):
            for pname, p in step.params.items():
                if p.kind == "secret" and p.name not in found:
                    found[p.name] = {"type": "string", "secret": True}
                if p.kind == "input" and p.name not in found:
                    example = samples[0][0][si][pname] if samples and not step.is_map else None
                    found[p.name] = {"type": json_type(example) if example is not None else "any", "example": example}
        return found

    @staticmethod
    def _equivalents(wf: WorkflowSpec, si: int, pname: str, primary: dict[str, Any],
                     samples: list[tuple[list[Any], list[Any]]]) -> list[dict[str, Any]]:
        """Other sources that held the parameter's value in every sampled occurrence."""
        if len(samples) < MIN_SAMPLES_FOR_EQUIVALENTS:
            return []
        group = wf.steps[si].parallel_group
        candidates: dict[str, dict[str, Any]] | None = None
        for args, results in samples:
            value = _canon(args[si][pname])
            here: dict[str, dict[str, Any]] = {}
            for j in range(si):
                earlier = wf.steps[j]
                if earlier.is_map or (group is not None and earlier.parallel_group == group):
                    continue  # not certain to run before step si, or one value per element
                for path, sub in leaves(results[j]):
                    if _canon(sub) == value:
                        here[f"b{j}:{path}"] = {"kind": "bound", "step": j, "path": path}
                for argname, p in earlier.params.items():
                    if p.kind == "input" and _canon(args[j][argname]) == value:
                        here[f"i:{p.name}"] = {"kind": "input", "name": p.name}
            candidates = here if candidates is None else {k: v for k, v in candidates.items() if k in here}
            if not candidates:
                return []
        return [c for c in (candidates or {}).values() if c != primary]
