"""Where the MCP bridge listens: stdio, or streamable HTTP on a loopback address.

An HTTP server that runs workflows is a remote-control for the tools behind
them, so it binds to 127.0.0.1 unless the user explicitly allows another
address with ``allow_remote``.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

import anyio

from chainmine.library.serve.errors import ServeError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
HTTP_PATH = "/mcp"
_ADDRESS_HELP = "use HOST:PORT or PORT, e.g. --http 127.0.0.1:8765"


@dataclass(frozen=True)
class HttpAddress:
    """A host and port for the streamable HTTP transport.

    Examples
    --------
    >>> HttpAddress("127.0.0.1", 8765).url
    'http://127.0.0.1:8765/mcp'
    """

    host: str
    port: int

    @property
    def url(self) -> str:
        """The endpoint URL a client connects to."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{HTTP_PATH}"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1).

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_http_address(text: str, *, allow_remote: bool = False) -> HttpAddress:
    """Parse ``HOST:PORT``, ``:PORT`` or ``PORT`` (host defaults to 127.0.0.1).

    A host that is not loopback is refused unless ``allow_remote``.

    Examples
    --------
    >>> parse_http_address("8765")
    HttpAddress(host='127.0.0.1', port=8765)
    >>> parse_http_address("[::1]:9000")
    HttpAddress(host='::1', port=9000)
    >>> parse_http_address("0.0.0.0:8765")
    Traceback (most recent call last):
    ...
    chainmine.library.serve.errors.ServeError: refusing to serve on 0.0.0.0: it is not a loopback address and anyone who can reach it could run your workflows; use 127.0.0.1, or pass --allow-remote if you mean it
    """
    raw = text.strip()
    host, sep, port_text = raw.rpartition(":")
    if not sep:
        host, port_text = "", raw
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise ServeError(f"bad --http address {text!r}: {_ADDRESS_HELP}") from None
    if not 1 <= port <= 65535:
        raise ServeError(f"bad --http port {port}: it must be 1-65535 ({_ADDRESS_HELP})")
    if not allow_remote and not is_loopback(host):
        raise ServeError(f"refusing to serve on {host}: it is not a loopback address and anyone who can "
                         "reach it could run your workflows; use 127.0.0.1, or pass --allow-remote if you mean it")
    return HttpAddress(host, port)


def run_server(server, http: HttpAddress | None = None) -> None:
    """Serve ``server`` (an ``MCPServer``) over stdio, or streamable HTTP at ``http``; blocks.

    Examples
    --------
    >>> run_server(server, HttpAddress("127.0.0.1", 8765))  # doctest: +SKIP
    """
    if http is None:
        anyio.run(server.run_stdio_async)
        return
    if not is_loopback(http.host):
        log.warning("serving on %s, which is not a loopback address: anyone who can reach it can run "
                    "the accepted workflows", http.host)

    async def main() -> None:
        await server.run_streamable_http_async(host=http.host, port=http.port, streamable_http_path=HTTP_PATH)

    anyio.run(main)
