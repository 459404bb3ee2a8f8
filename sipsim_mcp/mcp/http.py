"""Streamable HTTP transport at `/mcp`, for agent frameworks and remote hosts.

Off loopback the server refuses to start without `SIPSIM_MCP_AUTH_TOKEN` (a bearer token every request
must carry) and checks Host/Origin headers against an allow-list (DNS-rebinding protection). Limits keep
one client from starving the others: at most `SIPSIM_MCP_MAX_SESSIONS` sessions (the longest-idle one is
closed to admit a new client), sessions idle for `SIPSIM_MCP_IDLE_TIMEOUT` are closed, and a request's
headers and body must arrive within `SIPSIM_MCP_READ_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import anyio
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from ..api.client import SipsimClient
from ..api.config import ConfigError, Settings, is_loopback
from ..api.redact import REDACTOR
from .server import build_server

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"


class StaticBearer:
    """The SDK's token verifier for one shared bearer token (`SIPSIM_MCP_AUTH_TOKEN`)."""

    def __init__(self, token: SecretStr) -> None:
        self._token = token.get_secret_value()
        REDACTOR.add(self._token)

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._token.encode()):
            return AccessToken(token=token, client_id="sipsim-mcp-http", scopes=[])
        return None


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def security(settings: Settings, host: str, port: int) -> TransportSecuritySettings:
    """Host/Origin allow-list: loopback names on loopback, else SIPSIM_MCP_ALLOWED_HOSTS / _ORIGINS."""
    if is_loopback(host) and not settings.mcp_allowed_hosts:
        names = ["127.0.0.1", "localhost", "[::1]"]
        hosts = [f"{name}:{port}" for name in names] + names
        origins = [f"http://{name}:{port}" for name in names]
    else:
        hosts = sorted(settings.mcp_allowed_hosts or {f"{host}:{port}", host})
        origins = sorted(settings.mcp_allowed_origins or set())
    return TransportSecuritySettings(allowed_hosts=hosts, allowed_origins=origins)


def http_app(
    settings: Settings,
    *,
    host: str,
    port: int,
    stateless: bool = False,
    api: SipsimClient | None = None,
    now: Callable[[], datetime] | None = None,
) -> Starlette:
    """The ASGI app serving MCP at /mcp; a ConfigError when the bind address needs a token and has none."""
    token = settings.mcp_auth_token
    if not is_loopback(host) and not (token and token.get_secret_value()):
        raise ConfigError(
            f"Refusing to serve MCP over HTTP on {host}, which is not a loopback address, without "
            "authentication: set SIPSIM_MCP_AUTH_TOKEN to a long random string that clients send as "
            "'Authorization: Bearer <token>' (and SIPSIM_MCP_ALLOWED_HOSTS to the names clients use)."
        )
    auth: dict[str, Any] = {}
    if token and token.get_secret_value():
        url = base_url(host, port)
        auth = {  # the SDK's bearer check, and its RFC 9728 metadata naming this resource
            "token_verifier": StaticBearer(token),
            "auth": AuthSettings(issuer_url=url, resource_server_url=f"{url}{MCP_PATH}", validate_token_resource=False),
        }
    server = build_server(settings, api=api, now=now)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=stateless,
        transport_security=security(settings, host, port),
        host=host,
        session_idle_timeout=settings.mcp_idle_timeout,
        max_sessions=settings.mcp_max_sessions,
        max_request_body_size=MAX_BODY,
        **auth,
    )
    app.add_middleware(BodyDeadline, seconds=settings.mcp_read_timeout)
    return app


MAX_BODY = 4 * 1024 * 1024


class BodyDeadline:
    """ASGI middleware: a request body must arrive within `seconds` (else 408) and within MAX_BODY (else 413)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self.seconds) as waited:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > MAX_BODY:
                    await _plain(send, 413, b"Request body too large")
                    return
                if not message.get("more_body"):
                    break
        if waited.cancelled_caught:
            await _plain(send, 408, b"Request body not received in time")
            return
        body: bytes | None = b"".join(chunks)

        async def replay() -> Message:
            nonlocal body
            if body is not None:
                message, body = {"type": "http.request", "body": body, "more_body": False}, None
                return message
            return await receive()

        await self.app(scope, replay, send)


async def _plain(send: Send, status: int, text: bytes) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus the header deadline. Picklable (no app object when `app` is a factory),
    so uvicorn's supervisor can hand it to worker processes."""

    def __init__(self, app: Any, *, header_timeout: float, **options: Any) -> None:
        self.header_timeout = header_timeout
        super().__init__(app, http=HeaderDeadline, **options)


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers do not arrive within the config's
    `header_timeout` (from when it opens, or from the end of the previous response)."""

    _deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(cast(ServerConfig, self.config).header_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # the headers are in: the body deadline and the app take over

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def server_config(app: Any, settings: Settings, *, host: str, port: int, workers: int = 1) -> ServerConfig:
    """How uvicorn serves the app (an ASGI app, or with `workers` > 1 a picklable factory of one): the
    header deadline, no access log."""
    return ServerConfig(
        app,
        host=host,
        port=port,
        header_timeout=settings.mcp_read_timeout,
        log_level=settings.log_level.lower(),
        access_log=False,
        workers=workers,
        factory=workers > 1,
    )


def run_http(app: ASGIApp, settings: Settings, *, host: str, port: int, stateless: bool) -> None:
    """Serve `app`, made by `http_app` with the same arguments, in this process."""
    logger.info(
        "Serving MCP at %s%s (%s%s)",
        base_url(host, port),
        MCP_PATH,
        "stateless" if stateless else "sessions",
        ", bearer token required" if settings.mcp_auth_token else "",
    )
    uvicorn.Server(server_config(app, settings, host=host, port=port)).run()


def run_workers(factory: Callable[[], ASGIApp], settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve in `workers` processes sharing one listening socket, each building its app with `factory`
    (picklable: processes are spawned). uvicorn's supervisor restarts a worker that dies, and on SIGTERM
    or Ctrl-C stops every worker (each finishing its requests) before it returns."""
    config = server_config(factory, settings, host=host, port=port, workers=workers)
    logger.info("Serving MCP at %s%s (stateless, %d worker processes)", base_url(host, port), MCP_PATH, workers)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
