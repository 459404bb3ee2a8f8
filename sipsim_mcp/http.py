"""Streamable HTTP transport at `/mcp`, for agent frameworks and remote hosts.

Off loopback the server refuses to start without `SIPSIM_MCP_AUTH_TOKEN` (a bearer token every request
must carry) and checks Host/Origin headers against an allow-list (DNS-rebinding protection).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime

import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr
from starlette.applications import Starlette

from .client import SipsimClient
from .config import ConfigError, Settings, is_loopback
from .redact import REDACTOR
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
    auth_options = {}
    if token and token.get_secret_value():
        url = base_url(host, port)
        auth_options = {
            "token_verifier": StaticBearer(token),
            "auth": AuthSettings(issuer_url=url, resource_server_url=f"{url}{MCP_PATH}", validate_token_resource=False),
        }
    server = build_server(settings, api=api, now=now, **auth_options)
    return server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=stateless,
        transport_security=security(settings, host, port),
        host=host,
    )


def run_http(settings: Settings, *, host: str, port: int, stateless: bool) -> None:
    app = http_app(settings, host=host, port=port, stateless=stateless)
    logger.info(
        "Serving MCP at %s%s (%s%s)",
        base_url(host, port),
        MCP_PATH,
        "stateless" if stateless else "sessions",
        ", bearer token required" if settings.mcp_auth_token else "",
    )
    uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower(), access_log=False)
