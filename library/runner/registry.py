"""Tool registries: which tools exist and how to call them.

A Python registry is a module (``my_pkg.tools``) or a file
(``path/to/tools.py``): its public module-level functions, sync or async, are
its tools, unless it defines ``TOOLS: dict[str, callable]``, which then is the
whole registry. :func:`tool` names a function and declares its cost and retry
behaviour. A module may also define ``is_failure(tool_name, result)``, which then
judges its tools' results instead of the shared rule of :mod:`chainmine.library.failures`
(it is not a tool). MCP registries (``mcp:COMMAND ARGS``) live in
:mod:`chainmine.library.runner.mcp_registry`; :mod:`chainmine.library.runner.loading` turns ``--tools`` values into registries.

Sync tools run in a worker thread of the registry, so a slow or hanging sync
tool cannot block the event loop; a timed-out sync call is abandoned (Python
cannot stop a thread), while async tools are cancelled properly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
import queue
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Awaitable, Callable, Iterable, Mapping

from chainmine.library.failures import FailureHook
from chainmine.library.runner.errors import RegistryError, UnknownToolError
from chainmine.library.runner.resilience import Retryable

log = logging.getLogger(__name__)

TOOL_ATTR = "__chainmine_tool__"
FAILURE_HOOK = "is_failure"
"""Module-level name of a tools module's result judge (see :func:`chainmine.library.failures.classify`)."""
IDEMPOTENCY_PARAM = "idempotency_key"
"""A tool with a parameter of this name is passed a stable key per call (see :mod:`chainmine.library.runner.calls`)."""
Invoke = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class ToolMeta:
    """What :func:`tool` attaches to a function.

    Examples
    --------
    >>> ToolMeta(name="search", cost=0.01).cost
    0.01
    """

    name: str | None = None
    cost: float | None = None
    retryable: Retryable = None
    description: str | None = None


def tool(func: Callable | None = None, *, name: str | None = None, cost: float | None = None,
         retryable: Retryable = None, description: str | None = None):
    """Mark a function as a tool, optionally renaming it and declaring its cost per call.

    ``retryable``: ``True`` retries any exception, ``False`` none, a tuple of
    exception types those; left out, the default rule applies (timeouts and
    connection errors retry). Usable bare (``@tool``) or with arguments.

    Examples
    --------
    >>> @tool(name="search_flights", cost=0.002)
    ... def search(origin: str) -> list: return []
    >>> getattr(search, TOOL_ATTR).name, search("LHR")
    ('search_flights', [])
    """
    meta = ToolMeta(name=name, cost=cost, retryable=retryable, description=description)

    def mark(f: Callable) -> Callable:
        setattr(f, TOOL_ATTR, meta)
        return f

    return mark(func) if func is not None else mark


@dataclass(frozen=True)
class ToolSpec:
    """A callable tool: its name, where it comes from, its declared cost, and how to invoke it.

    ``invoke(params)`` is a coroutine function calling the tool with the
    parameters as keyword arguments. ``is_failure`` is its module's hook judging
    results (``None``: the shared rule of :mod:`chainmine.library.failures`).
    ``annotations`` are the MCP tool
    annotations the tool's server declared (``readOnlyHint``, ...), used to
    classify its side effects; ``takes_idempotency_key`` says whether the tool
    accepts an ``idempotency_key`` argument.

    Examples
    --------
    >>> async def echo(params): return params
    >>> spec = ToolSpec("echo", echo, source="python:demo")
    >>> asyncio.run(spec.invoke({"a": 1}))
    {'a': 1}
    """

    name: str
    invoke: Invoke
    source: str = ""
    cost: float | None = None
    retryable: Retryable = None
    description: str = ""
    is_failure: FailureHook | None = None
    annotations: Mapping[str, Any] | None = None
    takes_idempotency_key: bool = False


def takes_idempotency_key(func: Callable) -> bool:
    """True when ``func`` has a parameter named ``idempotency_key`` (``**kwargs`` does not count).

    Examples
    --------
    >>> takes_idempotency_key(lambda order_id, idempotency_key=None: 1), takes_idempotency_key(lambda **kw: 1)
    (True, False)
    """
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    p = params.get(IDEMPOTENCY_PARAM)
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


class ToolRegistry:
    """A set of named tools. Subclasses fill ``self._tools``; :meth:`close` frees resources.

    Examples
    --------
    >>> reg = PythonRegistry.from_mapping({"add": lambda a, b: a + b})
    >>> reg.names(), "add" in reg
    (['add'], True)
    """

    source = "tools"

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def names(self) -> list[str]:
        """Tool names, sorted."""
        return sorted(self._tools)

    def get(self, name: str) -> ToolSpec:
        """The tool ``name``; raises :class:`UnknownToolError` naming what exists."""
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(self.names()[:12]) or "none"
            raise UnknownToolError(f"tool {name!r} is not in any registry (known: {known}); "
                                   "add a --tools module or server that provides it") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def close(self) -> None:
        """Release threads, processes and connections (idempotent)."""

    def __enter__(self) -> "ToolRegistry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PythonRegistry(ToolRegistry):
    """Tools that are Python callables; sync ones run on this registry's worker threads.

    Examples
    --------
    >>> async def ping(): return "pong"
    >>> reg = PythonRegistry.from_mapping({"ping": ping, "neg": lambda x: -x})
    >>> asyncio.run(reg.get("neg").invoke({"x": 2})), asyncio.run(reg.get("ping").invoke({}))
    (-2, 'pong')
    >>> reg.close()
    """

    def __init__(self, functions: Mapping[str, Callable], source: str = "python", max_threads: int = 64,
                 is_failure: FailureHook | None = None):
        super().__init__()
        if is_failure is not None and not callable(is_failure):
            raise RegistryError(f"{source}: {FAILURE_HOOK} must be a function (tool_name, result) -> reason or None")
        self.source = source
        self._max_threads = max_threads
        self._pool: DaemonThreadPool | None = None
        for name, func in functions.items():
            if not callable(func):
                raise RegistryError(f"{source}: tool {name!r} is not callable")
            meta: ToolMeta = getattr(func, TOOL_ATTR, None) or ToolMeta()
            self._tools[name] = ToolSpec(
                name=name, invoke=self._invoker(func), source=source, cost=meta.cost,
                retryable=meta.retryable, description=meta.description or (inspect.getdoc(func) or "").split("\n")[0],
                is_failure=is_failure,
                takes_idempotency_key=takes_idempotency_key(func))

    @classmethod
    def from_mapping(cls, functions: Mapping[str, Callable], source: str = "python",
                     is_failure: FailureHook | None = None) -> "PythonRegistry":
        """A registry of ``{name: callable}``; ``is_failure`` judges their results (see :mod:`chainmine.library.failures`)."""
        return cls(functions, source=source, is_failure=is_failure)

    @classmethod
    def from_module(cls, module: ModuleType, source: str | None = None) -> "PythonRegistry":
        """A registry of ``module.TOOLS``, or else of its public module-level functions.

        A function decorated with :func:`tool` is registered under its declared name;
        a module-level ``is_failure`` is the results hook, not a tool.
        """
        source = source or f"python:{module.__name__}"
        hook = getattr(module, FAILURE_HOOK, None)
        table = getattr(module, "TOOLS", None)
        if table is not None:
            if not isinstance(table, Mapping):
                raise RegistryError(f"{source}: TOOLS must be a dict of name -> callable")
            return cls(dict(table), source=source, is_failure=hook)
        functions: dict[str, Callable] = {}
        for attr, value in vars(module).items():
            meta = getattr(value, TOOL_ATTR, None)
            public = (not attr.startswith("_") and attr != FAILURE_HOOK and inspect.isfunction(value)
                      and value.__module__ == module.__name__)
            if meta is not None or public:
                functions[(meta.name if meta and meta.name else attr)] = value
        if not functions:
            raise RegistryError(f"{source}: no tools found; define public functions or TOOLS = {{name: function}}")
        return cls(functions, source=source, is_failure=hook)

    def _invoker(self, func: Callable) -> Invoke:
        if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(getattr(func, "__call__", None)):
            async def invoke_async(params: dict[str, Any]) -> Any:
                return await func(**params)
            return invoke_async

        async def invoke_sync(params: dict[str, Any]) -> Any:
            loop = asyncio.get_running_loop()
            value = await loop.run_in_executor(self._threads(), functools.partial(func, **params))
            if inspect.isawaitable(value):  # a plain function that returned a coroutine
                value = await value
            return value
        return invoke_sync

    def _threads(self) -> "DaemonThreadPool":
        if self._pool is None:
            self._pool = DaemonThreadPool(self._max_threads)
        return self._pool

    def close(self) -> None:
        """Stop the worker threads (a hung sync tool's thread is abandoned, not waited for)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


class DaemonThreadPool(concurrent.futures.Executor):
    """Worker threads that never keep the process alive.

    The standard pool joins its threads at interpreter exit, so one hung sync
    tool would hang the CLI after its step already timed out; these daemon
    threads are simply abandoned.

    Examples
    --------
    >>> pool = DaemonThreadPool(2)
    >>> pool.submit(sum, [1, 2]).result()
    3
    >>> pool.shutdown()
    """

    def __init__(self, max_workers: int = 32):
        self._max = max(1, max_workers)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        """Run ``fn(*args, **kwargs)`` on a worker thread."""
        if self._closed:
            raise RuntimeError("the tool thread pool is shut down")
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((fut, fn, args, kwargs))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if len(self._threads) < self._max:
                    t = threading.Thread(target=self._work, daemon=True,
                                         name=f"chainmine-tool-{len(self._threads)}")
                    self._threads.append(t)
                    t.start()
        return fut

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            fut, fn, args, kwargs = job
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to the awaiting step
                    fut.set_exception(exc)
            del job, fut
            self._idle.release()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop idle workers; busy ones finish (or are abandoned at exit)."""
        self._closed = True
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        if wait:
            for t in threads:
                t.join()


class CombinedRegistry(ToolRegistry):
    """Several registries as one; on a name clash the first registry wins (with a warning).

    Examples
    --------
    >>> a = PythonRegistry.from_mapping({"x": lambda: 1}, source="a")
    >>> b = PythonRegistry.from_mapping({"x": lambda: 2, "y": lambda: 3}, source="b")
    >>> both = CombinedRegistry([a, b]); both.names(), both.get("x").source
    (['x', 'y'], 'a')
    """

    def __init__(self, registries: Iterable[ToolRegistry]):
        super().__init__()
        self.registries = list(registries)
        self.source = " + ".join(r.source for r in self.registries)
        for reg in self.registries:
            for name in reg.names():
                if name in self._tools:
                    log.warning("tool %r from %s is hidden by the one from %s",
                                name, reg.source, self._tools[name].source)
                    continue
                self._tools[name] = reg.get(name)

    def close(self) -> None:
        """Close every member registry."""
        for reg in self.registries:
            reg.close()
