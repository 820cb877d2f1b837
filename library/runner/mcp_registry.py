"""Tools served by a Model Context Protocol server over stdio (``--tools "mcp:COMMAND ARGS"``).

The server runs as a subprocess driven by the official ``mcp`` SDK client
(``stdio_client`` + ``ClientSession``). The session lives on its own thread
with its own event loop, so one registry can serve any number of runs and
event loops; calls cross over thread-safely and a cancelled call is cancelled
on the server side too. The server's stderr goes to a temporary file whose
tail is quoted when the server fails to start or dies.

Results: ``is_error`` (``isError`` in SDK 1.x) → :class:`ToolReturnedError`; otherwise the
structured content (unwrapped from the SDK's ``{"result": ...}`` wrapper for plain
return types), else the text content, parsed as JSON when it is JSON. The runner
then judges that value by the shared failure rule of :mod:`chainmine.library.failures`
(``"Error: ..."`` text, an ``{"error": ...}`` object), as ingest judges logged
results, unless the server is given its own hook:
``--tools "mcp[is_failure=hooks.py]:COMMAND ARGS"`` (``MODULE``, ``FILE.py``, either
with ``:FUNCTION``; default function ``is_failure(tool_name, result)``, the hook a
Python tools module defines for itself).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shlex
import sys
import tempfile
import threading
from typing import Any, Sequence

from chainmine.library.runner.errors import RegistryError, ServerGoneError, ToolReturnedError
from chainmine.library.failures import FailureHook
from chainmine.library.runner.registry import IDEMPOTENCY_PARAM, ToolRegistry, ToolSpec

log = logging.getLogger(__name__)
_OPTIONS = re.compile(r"^mcp\[(?P<opts>[^\]]*)\]:")
_CONNECTION_CLOSED = -32000  # JSON-RPC code the SDK uses when the server's pipe closes


def parse_mcp_result(result: Any, wrapped: bool = False) -> Any:
    """The value of an MCP ``CallToolResult``; raises :class:`ToolReturnedError` on ``is_error``.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> text = lambda t: NS(type="text", text=t)
    >>> parse_mcp_result(NS(is_error=False, structured_content=None, content=[text('{"id": 1}')]))
    {'id': 1}
    >>> parse_mcp_result(NS(is_error=False, structured_content={"result": 3}, content=[]), wrapped=True)
    3
    """
    texts = [getattr(c, "text", None) for c in (result.content or []) if getattr(c, "type", None) == "text"]
    if getattr(result, "is_error", None) or getattr(result, "isError", None):
        raise ToolReturnedError("; ".join(t for t in texts if t) or "the MCP tool reported an error")
    structured = result.structured_content
    if structured is not None:
        if wrapped and isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"]
        return structured
    values = [_maybe_json(t) for t in texts if t is not None]
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def split_mcp_spec(spec: str) -> tuple[str, dict[str, str]]:
    """The command text of an ``mcp:`` spec and its bracketed options.

    Examples
    --------
    >>> split_mcp_spec("mcp[is_failure=hooks.py:judge]:python server.py --db x")
    ('python server.py --db x', {'is_failure': 'hooks.py:judge'})
    >>> split_mcp_spec("mcp:python server.py")
    ('python server.py', {})
    """
    match = _OPTIONS.match(spec)
    if match is None:
        return (spec[4:] if spec.startswith("mcp:") else spec), {}
    options: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in match["opts"].split(","))):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not value:
            raise RegistryError(f"{spec!r}: option {item!r} needs a value, e.g. mcp[is_failure=hooks.py]:COMMAND")
        if key != "is_failure":
            raise RegistryError(f"{spec!r}: unknown option {key!r}; the one option is is_failure=MODULE[:FUNCTION]")
        options[key] = value
    return spec[match.end():], options


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class MCPRegistry(ToolRegistry):
    """The tools of one MCP server started over stdio.

    The server is started (and its tools listed) by :meth:`start`, which
    :meth:`from_spec` calls; :meth:`close` stops it.

    Examples
    --------
    >>> reg = MCPRegistry(["python", "server.py"])   # not started yet
    >>> reg.source
    'mcp:python server.py'
    """

    def __init__(self, command: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
                 startup_timeout: float = 30.0, is_failure: FailureHook | None = None):
        super().__init__()
        if is_failure is not None and not callable(is_failure):
            raise RegistryError("is_failure must be a function (tool_name, result) -> reason or None")
        self.is_failure = is_failure
        if not command:
            raise RegistryError("mcp: needs a command, e.g. --tools 'mcp:python my_server.py'")
        self.command = list(command)
        self.source = "mcp:" + " ".join(shlex.quote(c) for c in self.command)
        self.env = env
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._session: Any = None
        self._error: BaseException | None = None
        self._gone: str | None = None
        self._pending: set[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = set()
        self._lock = threading.Lock()
        self._wrapped: dict[str, bool] = {}
        self._errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")

    @classmethod
    def from_spec(cls, spec: str, **kwargs: Any) -> "MCPRegistry":
        """Start the server named by ``mcp:COMMAND ARGS`` and list its tools (``is_failure=`` its hook)."""
        text, options = split_mcp_spec(spec)
        if options:
            raise RegistryError(f"{spec!r}: options are read by chainmine.library.runner.loading.load_registry; "
                                "pass the hook as is_failure=")
        try:
            argv = shlex.split(text)
        except ValueError as exc:
            raise RegistryError(f"cannot parse MCP command {text!r}: {exc}") from None
        if argv and argv[0] in ("python", "python3"):
            # The interpreter running chainmine: PATH's python may lack the server's packages.
            argv[0] = sys.executable
        reg = cls(argv, **kwargs)
        reg.start()
        return reg

    def start(self) -> "MCPRegistry":
        """Start the server, initialise the session and list its tools (blocks until ready)."""
        self._thread = threading.Thread(target=self._thread_main, name="chainmine-mcp", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.startup_timeout):
            self.close()
            raise RegistryError(f"MCP server {self.source} did not start within {self.startup_timeout:g}s"
                                f"{self._stderr_tail()}")
        if self._error is not None:
            error = self._error
            self.close()
            raise RegistryError(f"MCP server {self.source} failed to start: {_describe(error)}"
                                f"{self._stderr_tail()}")
        return self

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start() or to pending calls
            if not self._ready.is_set():
                self._error = exc
        finally:
            self._gone = self._gone or f"MCP server {self.source} exited"
            self._ready.set()
            self._fail_pending()

    async def _serve(self) -> None:
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        params = StdioServerParameters(command=self.command[0], args=self.command[1:], env=self.env, cwd=self.cwd)
        async with stdio_client(params, errlog=self._errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                listing = await session.list_tools()
                for t in listing.tools:
                    props = (t.output_schema or {}).get("properties") or {}
                    self._wrapped[t.name] = set(props) == {"result"}
                    annotations = t.annotations.model_dump(by_alias=True, exclude_none=True) if t.annotations else None
                    keyed = IDEMPOTENCY_PARAM in ((t.input_schema or {}).get("properties") or {})
                    self._tools[t.name] = ToolSpec(name=t.name, invoke=self._invoker(t.name),
                                                   source=self.source, description=t.description or "",
                                                   annotations=annotations or None, takes_idempotency_key=keyed,
                                                   is_failure=self.is_failure)
                self._session = session
                self._ready.set()
                await self._stop.wait()

    def _invoker(self, name: str):
        async def invoke(params: dict[str, Any]) -> Any:
            return await self._call(name, params)
        return invoke

    async def _call(self, name: str, params: dict[str, Any]) -> Any:
        if self._gone or self._loop is None:
            raise ServerGoneError(f"{self._gone or 'MCP server not running'}{self._stderr_tail()}")
        caller_loop = asyncio.get_running_loop()
        fut: asyncio.Future = caller_loop.create_future()
        entry = (caller_loop, fut)
        with self._lock:
            self._pending.add(entry)
        try:
            handle = asyncio.run_coroutine_threadsafe(self._remote(name, params, entry), self._loop)
        except RuntimeError:  # the server's loop is already closed
            with self._lock:
                self._pending.discard(entry)
            raise ServerGoneError(f"{self._gone or 'MCP server stopped'}{self._stderr_tail()}") from None
        try:
            return await fut
        except asyncio.CancelledError:
            handle.cancel()  # cancels the request on the server's loop too
            raise
        finally:
            with self._lock:
                self._pending.discard(entry)

    async def _remote(self, name: str, params: dict[str, Any], entry) -> None:
        caller_loop, fut = entry
        try:
            result = await self._session.call_tool(name, params)
            outcome: tuple[str, Any] = ("ok", parse_mcp_result(result, self._wrapped.get(name, False)))
        except asyncio.CancelledError:
            raise
        except ToolReturnedError as exc:
            outcome = ("err", exc)
        except Exception as exc:
            if getattr(exc, "code", None) == _CONNECTION_CLOSED or self._gone:
                # The server died or hung up: every later call would fail the same way.
                self._gone = self._gone or f"MCP server {self.source} closed the connection"
                exc = ServerGoneError(f"{self._gone} during {name!r}{self._stderr_tail()}")
                if self._stop is not None:
                    self._stop.set()
            outcome = ("err", exc)
        _settle(caller_loop, fut, *outcome)

    def _fail_pending(self) -> None:
        with self._lock:
            pending = list(self._pending)
        for caller_loop, fut in pending:
            _settle(caller_loop, fut, "err",
                    ServerGoneError(f"{self._gone or 'MCP server exited'}{self._stderr_tail()}"))

    def _stderr_tail(self, lines: int = 3) -> str:
        try:
            self._errlog.flush()
            self._errlog.seek(0)
            text = [line.strip() for line in self._errlog.read().splitlines() if line.strip()]
        except (OSError, ValueError):
            return ""
        return f" (server stderr: {' | '.join(text[-lines:])})" if text else ""

    def close(self) -> None:
        """Stop the server and its thread (waits a few seconds at most)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        self._gone = self._gone or f"MCP server {self.source} was closed"
        self._fail_pending()


def _settle(loop: asyncio.AbstractEventLoop, fut: asyncio.Future, kind: str, value: Any) -> None:
    def apply() -> None:
        if fut.done():
            return
        if kind == "ok":
            fut.set_result(value)
        else:
            fut.set_exception(value)
    try:
        loop.call_soon_threadsafe(apply)
    except RuntimeError:  # the caller's loop is gone; nobody is waiting any more
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in exc.exceptions)
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
