"""Retry policy, per-tool circuit breakers and rate limiters.

Breakers and limiters are keyed by tool name and live in a :class:`ToolGuards`
object. The process-wide one (:func:`default_guards`) is shared by every run in
the process, so a tool that keeps failing is refused by later runs too, and a
rate limit holds across concurrent runs. Both take a clock (and the limiter a
sleep function) so tests can drive them without real time.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from chainmine.library.runner.errors import FailedResultError, NonRetryableError, RetryableError

Retryable = bool | tuple[type[BaseException], ...] | None


def is_retryable(exc: BaseException, retryable: Retryable = None) -> bool:
    """Whether another attempt may help after ``exc``.

    :class:`NonRetryableError` never retries and :class:`RetryableError` always
    does; a failure result (:class:`FailedResultError`) retries only when the
    tools module's ``is_failure`` hook said so. Otherwise a tool's declared ``retryable`` decides (``True``: any
    error, ``False``: none, a tuple: those exception types); with nothing
    declared, timeouts and connection/OS errors retry and everything else does not.

    Examples
    --------
    >>> is_retryable(ConnectionResetError()), is_retryable(ValueError())
    (True, False)
    >>> is_retryable(ValueError(), retryable=(ValueError,))
    True
    """
    if isinstance(exc, NonRetryableError):
        return False
    if isinstance(exc, RetryableError):
        return True
    if isinstance(exc, FailedResultError):
        return exc.retryable
    if retryable is True:
        return isinstance(exc, Exception)
    if retryable is False:
        return False
    if isinstance(retryable, tuple) and isinstance(exc, retryable):
        return True
    return isinstance(exc, (TimeoutError, ConnectionError, OSError))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``delay`` × ``backoff``^n, capped, with jitter.

    ``jitter`` is the fraction of each delay that is randomised downwards
    (0.25 → a delay lands in [0.75 d, d]), so retries of parallel steps spread out.

    Examples
    --------
    >>> p = RetryPolicy(max_retries=3, delay=0.5, backoff=2.0, jitter=0.0, max_delay=1.5)
    >>> [p.delay_for(n) for n in (1, 2, 3)]
    [0.5, 1.0, 1.5]
    """

    max_retries: int = 0
    delay: float = 0.5
    backoff: float = 2.0
    jitter: float = 0.25
    max_delay: float = 30.0

    def delay_for(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry).

        Examples
        --------
        >>> RetryPolicy(delay=0.0).delay_for(1)
        0.0
        """
        base = min(self.max_delay, self.delay * self.backoff ** (retry - 1))
        if self.jitter <= 0 or base <= 0:
            return base
        return base * (1.0 - self.jitter * (rng or random).random())


class CircuitBreaker:
    """Refuse calls to a tool after ``failure_threshold`` failures in a row.

    States: ``closed`` (calls pass), ``open`` (calls refused until
    ``reset_timeout`` seconds passed), ``half_open`` (one trial call: success
    closes the breaker, failure opens it again). Thread-safe.

    Examples
    --------
    >>> now = [0.0]
    >>> b = CircuitBreaker(failure_threshold=2, reset_timeout=10, clock=lambda: now[0])
    >>> b.record_failure(); b.record_failure(); b.state
    'open'
    >>> b.allow(), b.refused
    (False, 1)
    >>> now[0] = 11; b.allow(), b.state
    (True, 'half_open')
    """

    def __init__(self, failure_threshold: int = 5, reset_timeout: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        self.failure_threshold = max(1, int(failure_threshold))
        self.reset_timeout = float(reset_timeout)
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False
        self.refused = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_timeout:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """True when a call may go ahead now; counts refusals in ``refused``."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return True
            self.refused += 1
            return False

    def record_success(self) -> None:
        """A call succeeded: close the breaker and forget earlier failures."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def abandon(self) -> None:
        """A permitted call was cancelled before it finished: free the half-open trial slot."""
        with self._lock:
            self._trial_running = False

    def record_failure(self) -> None:
        """A call failed in a way that says the tool is unhealthy."""
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._trial_running = False


class RateLimiter:
    """At most ``rate`` calls per second (token bucket of size ``burst``), across threads and loops.

    Each :meth:`acquire` reserves the next free slot under a lock and then
    sleeps until it, so concurrent callers queue in order. ``waited`` counts
    the calls that had to wait.

    Examples
    --------
    >>> now = [0.0]
    >>> async def fake_sleep(s): now[0] += s
    >>> lim = RateLimiter(2.0, clock=lambda: now[0], sleep=fake_sleep)
    >>> async def five():
    ...     for _ in range(5): await lim.acquire()
    >>> asyncio.run(five()); now[0], lim.waited
    (2.0, 4)
    """

    def __init__(self, rate: float, burst: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        if rate <= 0:
            raise ValueError("rate must be > 0 calls per second")
        self.rate = float(rate)
        self.burst = max(1, int(burst))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = clock()
        self.waited = 0

    async def acquire(self) -> None:
        """Wait until this call may start."""
        interval = 1.0 / self.rate
        with self._lock:
            now = self._clock()
            # Generic cell rate: `_next_free` is the theoretical arrival time of the next call;
            # a bucket of `burst` tokens lets a call start up to burst-1 slots ahead of it.
            start = max(now, self._next_free - (self.burst - 1) * interval)
            self._next_free = max(self._next_free, now) + interval
            wait = start - now
            if wait > 0:
                self.waited += 1
        if wait > 0:
            await self._sleep(wait)


class ToolGuards:
    """Per-tool circuit breakers and rate limiters, created on first use.

    ``clock`` and ``sleep`` are handed to every breaker and limiter (tests
    pass fake ones).

    Examples
    --------
    >>> g = ToolGuards(failure_threshold=3)
    >>> g.breaker("search") is g.breaker("search")
    True
    >>> g.set_rate_limit("search", 5.0); g.limiter("search").rate
    5.0
    >>> g.limiter("other") is None
    True
    """

    def __init__(self, failure_threshold: int = 5, reset_timeout: float = 30.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limiters: dict[str, RateLimiter] = {}

    def breaker(self, tool: str) -> CircuitBreaker:
        """The breaker of ``tool`` (created closed on first use)."""
        found = self._breakers.get(tool)
        if found is None:
            with self._lock:
                found = self._breakers.setdefault(
                    tool, CircuitBreaker(self.failure_threshold, self.reset_timeout, self._clock))
        return found

    def limiter(self, tool: str) -> RateLimiter | None:
        """The rate limiter of ``tool``, or None when it has no limit."""
        return self._limiters.get(tool)

    def set_rate_limit(self, tool: str, calls_per_second: float | None, burst: int = 1) -> None:
        """Limit ``tool`` to ``calls_per_second`` (None removes the limit).

        An unchanged limit keeps its limiter, so runs that configure the same
        limit share one schedule.
        """
        with self._lock:
            if calls_per_second is None:
                self._limiters.pop(tool, None)
                return
            current = self._limiters.get(tool)
            if current is None or current.rate != float(calls_per_second) or current.burst != burst:
                self._limiters[tool] = RateLimiter(calls_per_second, burst, self._clock, self._sleep)


_DEFAULT_GUARDS = ToolGuards()


def default_guards() -> ToolGuards:
    """The process-wide guards shared by every run that does not bring its own.

    Examples
    --------
    >>> default_guards() is default_guards()
    True
    """
    return _DEFAULT_GUARDS
