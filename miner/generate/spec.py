"""Building blocks of the synthetic logs: tools, planted workflows, domains.

A *domain* (support, devops, research, commerce) owns its demo tools and the
workflows planted in its sessions. Each :class:`ToolSpec` carries the real
Python function that builds the tool's result (the same function the demo
registry exposes), a sampler for the arguments of stray calls, and the
tool's latency, failure rate, error messages and cost.

Results are deterministic functions of the arguments (see
:mod:`chainmine.miner.generate.values`), so logs and demo runs agree.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from chainmine.miner.errors import ChainmineError



class GenerateError(ChainmineError):
    """The generator was asked for something it cannot make (unknown scenario, bad count, bad path).

    Examples
    --------
    >>> isinstance(GenerateError("x"), ChainmineError)
    True
    """


class Stream:
    """Uniform draws from a numpy generator, drawn in blocks so single picks stay cheap.

    Examples
    --------
    >>> import numpy as np
    >>> r = Stream(np.random.default_rng(1))
    >>> 0 <= r.below(10) < 10 and r.pick("abc") in "abc"
    True
    """

    __slots__ = ("_rng", "_buf", "_i", "_block")

    def __init__(self, rng: np.random.Generator, block: int = 1 << 15):
        self._rng = rng
        self._block = block
        self._buf: list[float] = []
        self._i = 0

    def u(self) -> float:
        """A float in ``[0, 1)``."""
        if self._i >= len(self._buf):
            self._buf = self._rng.random(self._block).tolist()
            self._i = 0
        self._i += 1
        return self._buf[self._i - 1]

    def below(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        return int(self.u() * n)

    def pick(self, seq: Sequence[Any]) -> Any:
        """One element of ``seq``."""
        return seq[int(self.u() * len(seq))]

    def between(self, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]``."""
        return lo + int(self.u() * (hi - lo + 1))

    def weighted(self, cumulative: Sequence[float]) -> int:
        """An index drawn with the weights whose running totals are ``cumulative``."""
        return bisect.bisect_right(cumulative, self.u() * cumulative[-1])

    def poisson(self, lam: float) -> int:
        """A Poisson count with mean ``lam`` (inverse transform; fine for small ``lam``)."""
        u, k, p = self.u(), 0, math.exp(-lam)
        total = p
        while u > total and k < 50:
            k += 1
            p *= lam / k
            total += p
        return k


Sampler = Callable[[Stream], Any]
"""A function of the generator's random stream returning a value (or an args dict)."""

TIMEOUT = ("TimeoutError", "upstream service timed out after 30s")
RATE_LIMIT = ("RateLimitError", "rate limit exceeded (429), retry later")
UNAVAILABLE = ("ServiceUnavailable", "service temporarily unavailable (503)")


@dataclass(frozen=True)
class ToolSpec:
    """One demo tool: its function, stray-call sampler, latency, failures and cost.

    ``errors`` holds ``(error class, message)`` pairs; a failed call logs
    ``error="<class>: <message>"`` and the result ``"Error: <message>"``.

    Examples
    --------
    >>> spec = ToolSpec(fn=len, sample=lambda r: {}, name="count")
    >>> spec.failure_rate
    0.01
    """

    fn: Callable[..., Any]
    sample: Sampler
    name: str = ""
    median_ms: float = 150.0
    spread: float = 0.5
    failure_rate: float = 0.01
    errors: tuple[tuple[str, str], ...] = (TIMEOUT, RATE_LIMIT)
    cost: float = 0.0
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.fn.__name__)


@dataclass(frozen=True)
class Param:
    """Where a planted step's argument comes from.

    ``kind`` is ``input`` (``name``, ``sample`` draws a fresh value per
    occurrence; two params with one input name share the value), ``constant``
    (``value``), ``bound`` (``step`` index and ``path`` into its result, ``""``
    for the whole result), ``item`` (``path`` inside the current list item),
    ``selection`` (one element of the list at ``path`` in step ``step``'s
    result, at a random index, then ``within`` that element) or ``secret`` (a
    credential ``name`` whose ``value`` is the same key in every call).

    Examples
    --------
    >>> bound(0, "reservations[0]").truth()
    {'kind': 'bound', 'step': 0, 'path': 'reservations[0]'}
    >>> select(0, "bookings").truth(), secret("api_key", "sk-x").truth()
    ({'kind': 'selection', 'step': 0, 'path': 'bookings'}, {'kind': 'secret', 'name': 'api_key'})
    """

    kind: str
    name: str = ""
    value: Any = None
    step: int = -1
    path: str = ""
    sample: Sampler | None = None
    within: str = ""

    def truth(self) -> dict[str, Any]:
        """The ground-truth description of this parameter (a secret's value is left out)."""
        if self.kind in ("input", "secret"):
            return {"kind": self.kind, "name": self.name}
        if self.kind == "selection":
            return {"kind": "selection", "step": self.step, "path": self.path,
                    **({"within": self.within} if self.within else {})}
        if self.kind == "constant":
            return {"kind": "constant", "value": self.value}
        if self.kind == "bound":
            return {"kind": "bound", "step": self.step, "path": self.path}
        return {"kind": "item", "path": self.path}


def inp(name: str, sample: Sampler) -> Param:
    """A workflow input named ``name`` drawn by ``sample`` once per occurrence.

    Examples
    --------
    >>> inp("user_id", lambda r: "u1").truth()
    {'kind': 'input', 'name': 'user_id'}
    """
    return Param("input", name=name, sample=sample)


def const(value: Any) -> Param:
    """A constant argument.

    Examples
    --------
    >>> const(5).truth()
    {'kind': 'constant', 'value': 5}
    """
    return Param("constant", value=value)


def bound(step: int, path: str = "") -> Param:
    """An argument taken from step ``step``'s result at ``path``.

    Examples
    --------
    >>> bound(1, "orders[0].order_id").path
    'orders[0].order_id'
    """
    return Param("bound", step=step, path=path)


def item(path: str = "") -> Param:
    """An argument taken from the current element of a map step's list.

    Examples
    --------
    >>> item("number").truth()
    {'kind': 'item', 'path': 'number'}
    """
    return Param("item", path=path)


def select(step: int, path: str, within: str = "") -> Param:
    """One element, picked at random, of the list at ``path`` in step ``step``'s result (then ``within`` it).

    Examples
    --------
    >>> select(0, "flights", "flight_number").truth()
    {'kind': 'selection', 'step': 0, 'path': 'flights', 'within': 'flight_number'}
    """
    return Param("selection", step=step, path=path, within=within)


def secret(name: str, value: str) -> Param:
    """A credential argument ``name``: the same key ``value`` in every call (never a constant to mine).

    Examples
    --------
    >>> secret("token", "sk-test-0000000000000").value
    'sk-test-0000000000000'
    """
    return Param("secret", name=name, value=value)


@dataclass(frozen=True)
class StepSpec:
    """One planted step: a tool, where its arguments come from, map and order options.

    ``map_over`` is ``(step index, path)`` of a list in an earlier result: the
    step is then called once per element, consecutively. Steps sharing a
    ``parallel_group`` are written in random order.

    Examples
    --------
    >>> StepSpec("get_reservation_details", {"reservation_id": item()}, map_over=(0, "reservations")).is_map
    True
    """

    tool: str
    params: dict[str, Param] = field(default_factory=dict)
    map_over: tuple[int, str] | None = None
    parallel_group: int | None = None

    @property
    def is_map(self) -> bool:
        """True when the step runs once per element of an earlier list."""
        return self.map_over is not None


@dataclass(frozen=True, eq=False)
class WorkflowSpec:
    """A workflow planted in the logs of one domain.

    ``reliable=False`` marks a chain that is frequent but fails often; a miner
    with a minimum success rate of 0.8 must not suggest it. ``session_success``
    (``None``: no effect) is the chance that a session holding an occurrence
    still ends well: below 1 the chain succeeds call by call while its
    sessions fail their task (``session_outcome`` 0). ``shapes`` names the
    real-log shapes the workflow plants (``selection``, ``same_id`` ...).

    Examples
    --------
    >>> wf = WorkflowSpec("w", "support", (StepSpec("a"), StepSpec("b")))
    >>> wf.tools
    ['a', 'b']
    """

    name: str
    domain: str
    steps: tuple[StepSpec, ...]
    weight: float = 1.0
    reliable: bool = True
    description: str = ""
    session_success: float | None = None
    shapes: tuple[str, ...] = ()

    @property
    def tools(self) -> list[str]:
        """Step tools in order (each step once, however often a map step repeats)."""
        return [s.tool for s in self.steps]

    def dependents(self, index: int) -> bool:
        """True when a later step takes a value from step ``index``'s result."""
        for s in self.steps[index + 1:]:
            if s.map_over and s.map_over[0] == index:
                return True
            if any(p.kind in ("bound", "selection") and p.step == index for p in s.params.values()):
                return True
        return False


@dataclass(frozen=True)
class Domain:
    """An agent domain: its agents, tools and planted workflows.

    Examples
    --------
    >>> Domain("d", ("bot",), {}, ()).name
    'd'
    """

    name: str
    agents: tuple[str, ...]
    tools: dict[str, ToolSpec]
    workflows: tuple[WorkflowSpec, ...]
    weight: float = 1.0


def tool_table(*specs: ToolSpec) -> dict[str, ToolSpec]:
    """Index tool specs by name, refusing duplicates.

    Examples
    --------
    >>> list(tool_table(ToolSpec(fn=len, sample=lambda r: {})))
    ['len']
    """
    table: dict[str, ToolSpec] = {}
    for spec in specs:
        if spec.name in table:
            raise ValueError(f"tool {spec.name} defined twice")
        table[spec.name] = spec
    return table
