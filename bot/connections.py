"""How many connections `kakehashi run` keeps open, and for how long (PRODUCT §11).

Without limits, a client that opens connections and sends nothing keeps each one open for an hour
(aiohttp's default): 1,100 of them used up the process's file descriptors, and the health check
and signed commands timed out. Now a connection that sends no request, or stalls in the middle of
one, is closed after `idle_seconds`, and one beyond `max_connections` is answered 503 at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
)


@dataclass(frozen=True)
class ConnectionLimits:
    idle_seconds: float = 15.0
    """An open connection without a request, or a request whose headers or body stop coming
    (Slack sends a whole request at once and waits 3 s for the answer)."""
    max_connections: int = 500
    """Well under the usual limit of 1,024 open files, which the database and Slack share."""


DEFAULT_LIMITS = ConnectionLimits()


def app_runner(app: web.Application, limits: ConnectionLimits) -> web.AppRunner:
    return web.AppRunner(
        app, access_log=None, keepalive_timeout=limits.idle_seconds, shutdown_timeout=5.0
    )


class _Busy(asyncio.Protocol):
    """A connection over the cap: told so, and closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(BUSY)
        transport.close()


class CappedSite(web.TCPSite):
    """aiohttp's TCP site, with connections beyond the cap answered 503 and closed."""

    def __init__(
        self, runner: web.AppRunner, host: str, port: int, *, limits: ConnectionLimits
    ) -> None:
        super().__init__(runner, host, port)
        self.limits = limits

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None

        def connection() -> asyncio.BaseProtocol:
            if len(server.connections) >= self.limits.max_connections:
                return _Busy()
            return server()

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            connection, self._host, self._port, reuse_address=True
        )
