"""Streamable HTTP transport at `/mcp`, for agent frameworks and remote hosts.

Off loopback the server refuses to start without a way to sign in, and checks Host/Origin headers against an
allow-list (DNS-rebinding protection). Clients sign in one of two ways (`sign_in`): one shared bearer token
(`SIPSIM_MCP_AUTH_TOKEN`), or team sign-in (`SIPSIM_MCP_OAUTH_ISSUER`), where the server is an OAuth 2.1
resource server of the company's identity provider: it publishes its RFC 9728 metadata, answers 401 with
`WWW-Authenticate: Bearer resource_metadata=...` without a valid token (403 `insufficient_scope` naming the
scopes of `SIPSIM_MCP_OAUTH_SCOPES`), and each person gets the tools of their roles (`SIPSIM_POLICY`). Limits keep
one client from starving the others: at most `SIPSIM_MCP_MAX_SESSIONS` sessions, shared fairly between
clients (`FairSessions`), sessions idle for `SIPSIM_MCP_IDLE_TIMEOUT` are closed, and a request's headers
and body must arrive within `SIPSIM_MCP_READ_TIMEOUT`.

With `SIPSIM_WEBHOOK_SECRET` set, SIPSIM's webhook receiver is mounted at `SIPSIM_WEBHOOK_PATH` beside
`/mcp`: its authentication is the signature (no MCP token), it has its own size and rate limits, and it
writes the event log the server's live feed reads (one log object: waiting readers wake at once).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

import anyio
import uvicorn
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.routes import create_protected_resource_routes
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from ..api.client import SipsimClient
from ..api.config import ConfigError, Settings, is_loopback
from ..api.redact import REDACTOR
from .live import open_feed
from .policy import Policy, load_policy
from .receiver import receiver_from_settings
from .server import build_server
from .signin import UNENFORCED, OidcVerifier

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
    """Host/Origin allow-list: loopback names on loopback, else SIPSIM_MCP_ALLOWED_HOSTS / _ORIGINS; and
    unless SIPSIM_MCP_ALLOWED_HOSTS is set, the host of SIPSIM_MCP_PUBLIC_URL (how clients name this server)."""
    public = urlsplit(settings.mcp_public_url or "")
    named = [public.netloc, public.hostname or ""] if public.netloc and not settings.mcp_allowed_hosts else []
    if is_loopback(host) and not settings.mcp_allowed_hosts:
        names = ["127.0.0.1", "localhost", "[::1]"]
        hosts = [f"{name}:{port}" for name in names] + names + named
        origins = [f"http://{name}:{port}" for name in names]
    else:
        hosts = sorted(settings.mcp_allowed_hosts or {f"{host}:{port}", host, *named})
        origins = sorted(settings.mcp_allowed_origins or set())
    return TransportSecuritySettings(allowed_hosts=list(dict.fromkeys(hosts)), allowed_origins=origins)


#: Where RFC 9728 metadata is looked for when a client knows only the server's origin.
ROOT_METADATA = "/.well-known/oauth-protected-resource"


@dataclass
class SignIn:
    """How HTTP clients sign in: the SDK's token verifier and auth settings, the team's policy, and what to
    close when the server stops."""

    verifier: TokenVerifier
    auth: AuthSettings
    policy: Policy | None = None
    closing: Callable[[], Awaitable[None]] | None = None

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"token_verifier": self.verifier, "auth": self.auth}


def sign_in(settings: Settings, *, host: str, port: int) -> SignIn | None:
    """How clients of an HTTP server on `host`:`port` sign in: team sign-in (SIPSIM_MCP_OAUTH_ISSUER), one
    shared token (SIPSIM_MCP_AUTH_TOKEN), or nothing on loopback; a ConfigError when that cannot work (no
    sign-in off loopback, team sign-in off loopback without SIPSIM_MCP_PUBLIC_URL, a policy file that cannot
    be used)."""
    resource = settings.mcp_public_url or f"{base_url(host, port)}{MCP_PATH}"
    if settings.mcp_oauth_issuer:
        if settings.mcp_public_url is None and not is_loopback(host):
            raise ConfigError(
                f"Team sign-in on {host}, which is not a loopback address, needs SIPSIM_MCP_PUBLIC_URL: the URL "
                "clients connect to (e.g. https://mcp.example.com/mcp), which this server names in its metadata and "
                "access tokens must be issued for."
            )
        verifier = OidcVerifier.from_settings(settings, audience=resource)
        policy = load_policy(settings.policy) if settings.policy is not None else None
        if policy is not None and policy.unenforced:
            logger.warning("Policy %s: %s", policy.source, UNENFORCED.format(roles=", ".join(policy.unenforced)))
        auth = AuthSettings(
            issuer_url=settings.mcp_oauth_issuer,
            resource_server_url=resource,
            required_scopes=sorted(settings.mcp_oauth_scopes or ()) or None,
            validate_token_resource=False,  # the verifier checks the audience (SIPSIM_MCP_OAUTH_AUDIENCE)
        )
        return SignIn(verifier, auth, policy, verifier.aclose)
    token = settings.mcp_auth_token
    if token and token.get_secret_value():
        # the SDK's bearer check, and its RFC 9728 metadata naming this resource
        issuer = urlsplit(resource)._replace(path="", query="", fragment="").geturl()
        auth = AuthSettings(issuer_url=issuer, resource_server_url=resource, validate_token_resource=False)
        return SignIn(StaticBearer(token), auth)
    if not is_loopback(host):
        raise ConfigError(
            f"Refusing to serve MCP over HTTP on {host}, which is not a loopback address, without "
            "authentication: set SIPSIM_MCP_AUTH_TOKEN to a long random string that clients send as "
            "'Authorization: Bearer <token>' (and SIPSIM_MCP_ALLOWED_HOSTS to the names clients use), or "
            "SIPSIM_MCP_OAUTH_ISSUER to sign each person in with your identity provider (README: Sign-in for a team)."
        )
    return None


def http_app(
    settings: Settings,
    *,
    host: str,
    port: int,
    stateless: bool = False,
    api: SipsimClient | None = None,
    now: Callable[[], datetime] | None = None,
) -> Starlette:
    """The ASGI app serving MCP at /mcp (and SIPSIM's webhooks at SIPSIM_WEBHOOK_PATH when a signing secret is
    set); a ConfigError when the bind address needs a way to sign in and has none (see `sign_in`), or the event
    store cannot be used."""
    signing = sign_in(settings, host=host, port=port)
    auth = signing.kwargs if signing is not None else {}
    routes = metadata_at_root(signing.auth) if signing is not None else []
    clock = now or settings.clock()
    live = open_feed(settings, clock)
    if live is not None:  # the receiver writes the log the live feed reads: the same object
        receiver = receiver_from_settings(settings, live.log, clock=clock)
        routes.append(Route(settings.webhook_path, receiver, methods=["POST"]))
    policy = signing.policy if signing is not None else None
    server = build_server(settings, api=api, now=clock, policy=policy, live=live)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=stateless,
        transport_security=security(settings, host, port),
        host=host,
        session_idle_timeout=settings.mcp_idle_timeout,
        max_sessions=settings.mcp_max_sessions,
        max_request_body_size=MAX_BODY,
        custom_starlette_routes=routes,
        **auth,
    )
    app.add_middleware(BodyDeadline, seconds=settings.mcp_read_timeout)
    if not stateless:
        share = settings.mcp_max_sessions_per_client or max(1, settings.mcp_max_sessions // 10)
        app.add_middleware(FairSessions, most=settings.mcp_max_sessions, share=share, idle=settings.mcp_idle_timeout)
    if signing is not None and signing.auth.required_scopes:
        app.add_middleware(ScopeChallenge, scopes=" ".join(signing.auth.required_scopes))
    if signing is not None and signing.closing is not None:
        closing_after(app, signing.closing)
    return app


def metadata_at_root(auth: AuthSettings) -> list[Route]:
    """The RFC 9728 metadata the SDK publishes at /.well-known/oauth-protected-resource/<path of /mcp>, also
    at the origin's /.well-known/oauth-protected-resource, where clients that know only the origin look."""
    assert auth.resource_server_url is not None
    if urlsplit(str(auth.resource_server_url)).path in ("", "/"):
        return []  # the SDK's own route is there
    [route] = create_protected_resource_routes(auth.resource_server_url, [auth.issuer_url], auth.required_scopes)
    return [Route(ROOT_METADATA, route.endpoint, methods=["GET", "OPTIONS"])]


class ScopeChallenge:
    """ASGI middleware: a 403 `insufficient_scope` challenge names the scopes needed in its `scope` attribute
    (RFC 6750 3, as the MCP authorization spec asks), where clients read what to ask the provider for."""

    def __init__(self, app: ASGIApp, scopes: str) -> None:
        self.app = app
        self.scope = f', scope="{scopes}"'.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 403:
                message = {
                    **message,
                    "headers": [
                        (
                            key,
                            value + self.scope
                            if key == b"www-authenticate" and b"insufficient_scope" in value
                            else value,
                        )
                        for key, value in message.get("headers", [])
                    ],
                }
            await send(message)

        await self.app(scope, receive, named)


def closing_after(app: Starlette, close: Callable[[], Awaitable[None]]) -> None:
    """Run `close` when `app` stops, after its own lifespan (the sessions) has ended."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: Any) -> AsyncIterator[None]:
        try:
            async with inner(running):
                yield
        finally:
            await close()

    app.router.lifespan_context = lifespan


MAX_BODY = 4 * 1024 * 1024


SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
#: Headers a session's own requests carry that closing it needs too (the server checks them as for any request).
KEPT_HEADERS = frozenset({b"host", b"origin", b"authorization", b"user-agent"})


def client_key(scope: Scope) -> str:
    """Who a request comes from: its bearer token (as a digest) and its remote address."""
    headers = dict(scope["headers"])
    token = headers.get(b"authorization", b"")
    client = scope.get("client")
    address = client[0] if client else "?"
    return f"{hashlib.sha256(token).hexdigest()[:16] if token else '-'}@{address}"


def _header(scope: Scope, name: bytes) -> str | None:
    return next((value.decode("latin-1") for key, value in scope["headers"] if key == name), None)


@dataclass
class Session:
    """What the layer knows of one open session: whose it is, when it was last used, what is in flight."""

    client: str
    scope: Scope  # of its first request, to close it as it was opened
    last: float
    version: str | None = None
    busy: int = 0  # requests in flight, except streams
    streams: int = 0  # open GET streams


@dataclass
class FairSessions:
    """ASGI layer in front of the SDK's session manager: it sees each session by its `Mcp-Session-Id` and
    keeps the table of at most `most` sessions fair. To admit a new session at the cap, it closes one the
    way a client would (a DELETE the spec defines): a session of a client holding more than its `share`
    (even busy), else the session idle the longest. An open GET stream does not make a session busy. Only
    when every session is busy and every client within its share is the new one refused (503)."""

    app: ASGIApp
    most: int
    share: int
    idle: float  # the session manager's idle timeout: a session quiet for longer is already closed
    key: Callable[[Scope], str] = client_key
    sessions: dict[str, Session] = field(default_factory=dict)
    opening: int = 0
    _lock: anyio.Lock = field(default_factory=anyio.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != MCP_PATH:
            await self.app(scope, receive, send)
            return
        session_id = _header(scope, SESSION_HEADER)
        if session_id is None:
            version = _header(scope, VERSION_HEADER)
            if scope["method"] == "POST" and (version is None or version in HANDSHAKE_PROTOCOL_VERSIONS):
                await self._open(scope, receive, send)
            else:  # 2026-07-28 requests stand alone: no session
                await self.app(scope, receive, send)
            return
        session = self.sessions.get(session_id)
        if session is None:
            await self.app(scope, receive, send)
            return
        await self._use(session_id, session, scope, receive, send)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.key(scope)
        async with self._lock:
            if not await self._make_room(client):
                logger.warning("Session cap reached and every session is busy: refusing a new session")
                await _plain(send, 503, b"Too many open sessions: try again shortly")
                return
            self.opening += 1
        opened: list[str] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                opened.extend(value.decode() for key, value in message.get("headers", []) if key == SESSION_HEADER)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            self.opening -= 1
            for session_id in opened:
                self.sessions[session_id] = Session(
                    client, dict(scope), time.monotonic(), _header(scope, VERSION_HEADER)
                )

    async def _use(self, session_id: str, session: Session, scope: Scope, receive: Receive, send: Send) -> None:
        stream = scope["method"] == "GET"
        session.last = time.monotonic()
        session.version = _header(scope, VERSION_HEADER) or session.version
        if stream:
            session.streams += 1
        else:
            session.busy += 1
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if stream:
                session.streams -= 1
            else:
                session.busy -= 1
            session.last = time.monotonic()
            if status[:1] == [404] or (scope["method"] == "DELETE" and status[:1] == [200]):
                self.sessions.pop(session_id, None)  # ended by its client, or by the server

    async def _make_room(self, client: str) -> bool:
        """Whether a session for `client` fits, after closing one if the table is full."""
        now = time.monotonic()
        for session_id, session in list(self.sessions.items()):  # the server closed these on its own
            if not session.busy and not session.streams and now - session.last > self.idle:
                del self.sessions[session_id]
        if len(self.sessions) + self.opening < self.most:
            return True
        held: dict[str, int] = {}
        for session in self.sessions.values():
            held[session.client] = held.get(session.client, 0) + 1
        held[client] = held.get(client, 0) + 1  # with the session it asks for

        def over(session: Session) -> bool:
            return held[session.client] > self.share

        closable = [(not over(s), s.busy > 0, s.last, i) for i, s in self.sessions.items() if over(s) or not s.busy]
        if not closable:
            return False
        *_, session_id = min(closable)
        await self._close(session_id, self.sessions.pop(session_id))
        logger.info("Session cap reached: closed session %s to admit a new client", session_id[:8])
        return True

    async def _close(self, session_id: str, session: Session) -> None:
        """End a session as its client may: DELETE with its id, through the whole app (auth and checks)."""
        headers = [(key, value) for key, value in session.scope["headers"] if key in KEPT_HEADERS]
        headers.append((SESSION_HEADER, session_id.encode()))
        if session.version:
            headers.append((VERSION_HEADER, session.version.encode()))
        scope = {**session.scope, "method": "DELETE", "headers": headers, "query_string": b""}
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if sent:
                await anyio.sleep_forever()
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def discard(message: Message) -> None:
            return None

        await self.app(scope, receive, discard)


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


@contextmanager
def listening(settings: Settings, *, host: str, port: int) -> Iterator[socket.socket]:
    """A socket bound and listening on `host`:`port` before the server starts: connections made meanwhile
    wait in its backlog (the live demo's simulator posts from the start). Closed on leaving."""
    config = server_config(None, settings, host=host, port=port)
    sock = config.bind_socket()
    sock.listen(config.backlog)
    try:
        yield sock
    finally:
        sock.close()


def run_http(
    app: ASGIApp, settings: Settings, *, host: str, port: int, stateless: bool, sock: socket.socket | None = None
) -> None:
    """Serve `app`, made by `http_app` with the same arguments, in this process (on `sock` when given)."""
    logger.info(
        "Serving MCP at %s%s (%s%s)",
        base_url(host, port),
        MCP_PATH,
        "stateless" if stateless else "sessions",
        ", each person signs in with " + settings.mcp_oauth_issuer
        if settings.mcp_oauth_issuer
        else ", bearer token required"
        if settings.mcp_auth_token
        else "",
    )
    uvicorn.Server(server_config(app, settings, host=host, port=port)).run(sockets=[sock] if sock else None)


def run_workers(
    factory: Callable[[], ASGIApp],
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    sock: socket.socket | None = None,
) -> None:
    """Serve in `workers` processes sharing one listening socket (`sock`, else one bound here), each building
    its app with `factory` (picklable: processes are spawned). uvicorn's supervisor restarts a worker that
    dies, and on SIGTERM or Ctrl-C stops every worker (each finishing its requests) before it returns."""
    config = server_config(factory, settings, host=host, port=port, workers=workers)
    logger.info("Serving MCP at %s%s (stateless, %d worker processes)", base_url(host, port), MCP_PATH, workers)
    Multiprocess(config, sockets=[sock or config.bind_socket()]).run()
