"""The ASGI (Starlette) app of the sandbox: OAuth token endpoint, bearer auth and scope check,
dispatch through the ``/api/v2`` route table, scripted faults and the request log."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .config import ALL_SCOPES, ordered_scopes
from .handlers import ROUTES, Ctx
from .state import Fault, LoggedRequest, SandboxState
from .variants import respond, token_body
from .wire import ApiError, error_response, json_response, oauth_error

logger = logging.getLogger("sipsim_mcp.sandbox")

API_PREFIX = "/api/v2"
TOKEN_PATH = "/oauth/token"
CLIENT_CLOSED_REQUEST = 499
MALFORMED_BODY = b'{"status": 200, "data": [{"id": 1, "caller_number": "+3361'


# --------------------------------------------------------------------------- request log


def _redact(body: Any) -> Any:
    if isinstance(body, dict) and "client_secret" in body:
        return {**body, "client_secret": "[redacted]"}
    return body


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _log_body(raw: bytes, content_type: str | None) -> Any:
    if not raw:
        return None
    if _media_type(content_type) == "application/x-www-form-urlencoded":
        return _redact(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
    try:
        return _redact(json.loads(raw))
    except ValueError:
        return None


# --------------------------------------------------------------------------- /api/v2: auth and dispatch

_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _token_scopes(state: SandboxState, request: Request) -> tuple[str, ...] | None:
    """Scopes of a valid, unexpired bearer token, else None."""
    value = _bearer(request)
    token = state.tokens.get(value) if value else None
    if token is None or time.time() >= token.expires_at:
        return None
    return token.scopes


def _authorize(state: SandboxState, request: Request, needed: tuple[str, ...]) -> None:
    value = _bearer(request)
    if value is None:
        raise ApiError(401, "Missing access token", headers=_INVALID_TOKEN)
    token = state.tokens.get(value)
    if token is None:
        raise ApiError(401, "Invalid access token", headers=_INVALID_TOKEN)
    if time.time() >= token.expires_at:
        raise ApiError(401, "Access token expired", headers=_INVALID_TOKEN)
    if needed and not any(s in token.scopes for s in needed):
        names = " or ".join(needed)
        header = f'Bearer error="insufficient_scope", scope="{" ".join(needed)}"'
        raise ApiError(403, f"Insufficient scope: {names} required", headers={"WWW-Authenticate": header})


def _api(state: SandboxState, request: Request, raw: bytes, path: str) -> Response:
    sub = path[len(API_PREFIX) :]
    sub = sub.rstrip("/") if sub != "/" else sub
    method = request.method
    candidates = [(r, m) for r in ROUTES if (m := r.regex.fullmatch(sub))]
    if not candidates:
        raise ApiError(404, "Not found")
    chosen = next(((r, m) for r, m in candidates if r.method == method), None)
    if chosen is None:
        allow = ", ".join(sorted({r.method for r, _ in candidates}))
        raise ApiError(405, "Method not allowed", headers={"Allow": allow})
    route, match = chosen
    _authorize(state, request, route.scopes)
    body = None
    if method in ("POST", "PATCH", "PUT") and raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Request body must be JSON") from None
    ctx = Ctx(state, match.groupdict(), request.query_params, body)
    with state.lock:  # serialised under the lock too: handlers answer with the live dicts
        return respond(state.variants, route.handler.__name__, method, route.handler(ctx))


# --------------------------------------------------------------------------- token endpoint


def _token(state: SandboxState, request: Request, raw: bytes) -> Response:
    if request.method != "POST":
        return oauth_error(405, "invalid_request", "The token endpoint only accepts POST", {"Allow": "POST"})
    if _media_type(request.headers.get("content-type")) != "application/x-www-form-urlencoded":
        return oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(basic[6:].strip()).decode().partition(":")
            form.setdefault("client_id", user)
            form.setdefault("client_secret", password)
        except (binascii.Error, UnicodeDecodeError):
            return oauth_error(400, "invalid_request", "Malformed Basic authorization header")
    missing = [f for f in ("grant_type", "client_id", "client_secret") if not form.get(f)]
    if missing:
        return oauth_error(400, "invalid_request", f"Missing required parameter: {', '.join(missing)}")
    if form["grant_type"] != "client_credentials":
        return oauth_error(
            400, "unsupported_grant_type", f"The authorization grant type is not supported: {form['grant_type']}"
        )
    client = next((c for c in state.config.clients if c.client_id == form["client_id"]), None)
    if client is None or not secrets.compare_digest(client.client_secret, form["client_secret"]):
        return oauth_error(401, "invalid_client", "Client authentication failed")
    if "client_credentials" not in client.grant_types:
        return oauth_error(400, "unauthorized_client", "The client is not authorized to use this grant type")
    requested = list(dict.fromkeys(form.get("scope", "").split()))
    if not requested:
        granted = ordered_scopes(client.scopes)
    else:
        bad = [s for s in requested if s not in ALL_SCOPES or s not in client.scopes]
        granted = tuple(s for s in requested if s not in bad)
        if bad and not client.narrow_scopes:  # narrowing grants the intersection, even when it is empty
            return oauth_error(
                400, "invalid_scope", f"The requested scope is invalid, unknown, or not allowed: {' '.join(bad)}"
            )
    value, issued = state._mint(client.client_id, granted)
    payload = {
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": state.config.token_ttl,
        "scope": " ".join(granted),
        "created_at": int(issued.created_at),
    }
    return json_response(token_body(state.variants, payload), 200, {"Cache-Control": "no-store", "Pragma": "no-cache"})


# --------------------------------------------------------------------------- app


def _fault_response(fault: Fault, path: str) -> Response:
    status = fault.status or 200
    if fault.malformed:
        return Response(MALFORMED_BODY, status_code=status, media_type="application/json", headers=fault.headers)
    if path.startswith(TOKEN_PATH):
        description = "; ".join(fault.errors or ["Simulated failure"])
        if status in (429, 503):
            error = "temporarily_unavailable"
        elif status >= 500:
            error = "server_error"
        else:
            error = "invalid_client" if status == 401 else "invalid_request"
        return oauth_error(status, error, description, fault.headers)
    return error_response(status, list(fault.errors or ["Simulated failure"]), path, fault.headers)


def _echo(state: SandboxState, request: Request, raw: bytes, status: int) -> Response:
    """What a gateway that echoes credentials answers: the Authorization header, the bearer token and the
    client secret (the one sent to the token endpoint, else the configured client's) in the error body, in
    headers, and in the Location of a redirect (a 3xx status)."""
    authorization = request.headers.get("authorization", "")
    token = _bearer(request) or ""
    form = dict(parse_qsl(raw.decode("utf-8", "replace"))) if raw else {}
    secret = form.get("client_secret") or (state.config.clients[0].client_secret if state.config.clients else "")
    errors = [
        f"Rejected: Authorization: {authorization}",
        f"token {token} is not valid here",
        f"client_secret={secret} (client {form.get('client_id', 'demo')})",
    ]
    headers = {
        "X-Debug-Authorization": authorization,
        "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{token} was refused"',
        "X-Debug-Secret": quote(secret, safe=""),
    }
    if 300 <= status < 400:
        query = urlencode({"client_secret": secret, "access_token": token, "auth": authorization})
        headers["Location"] = f"https://login.sipsim.invalid/sso?{query}"
    body = {"status": status, "errors": errors, "access_token": token, "client_secret": secret}
    return json_response(body, status, headers)


def _dripping(response: Response, seconds: float) -> Response:
    """`response` sent one byte every `seconds` (its status and headers at once)."""

    async def drip() -> AsyncIterator[bytes]:
        for byte in response.body:
            await asyncio.sleep(seconds)
            yield bytes([byte])

    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return StreamingResponse(drip(), status_code=response.status_code, headers=headers)


async def _client_left_during(request: Request, delay: float) -> bool:
    """Sleep ``delay`` seconds; True (at once) if the client disconnects meanwhile."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=delay)
    finally:
        watcher.cancel()
        await asyncio.wait({watcher})
    return bool(done)


async def _handle(state: SandboxState, request: Request) -> Response:
    arrived = time.monotonic()
    raw = await request.body()
    path, method = request.url.path, request.method
    extra_headers: dict[str, str] = {}
    response: Response | None = None
    fault = state._take_fault(method, path)
    if fault is not None:
        if fault.delay > 0 and await _client_left_during(request, fault.delay):
            # Gave up waiting (client timeout): log it as nginx does, 499 Client Closed Request.
            response = Response(b"", status_code=CLIENT_CLOSED_REQUEST)
        elif fault.echo:
            response = _echo(state, request, raw, fault.status or 401)
        elif fault.status is not None or fault.malformed:
            response = _fault_response(fault, path)
        else:
            extra_headers = dict(fault.headers)
    if response is None:
        try:
            if path == TOKEN_PATH:
                response = _token(state, request, raw)
            elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                response = _api(state, request, raw, path)
            else:
                raise ApiError(404, "Not found")
        except ApiError as exc:
            response = error_response(exc.status, exc.errors, path, exc.headers)
        except Exception:
            logger.exception("sandbox handler failed on %s %s", method, path)
            response = error_response(500, ["Internal server error"], path)
        response.headers.update(extra_headers)
    if fault is not None and fault.drip > 0:
        response = _dripping(response, fault.drip)
    content_type = request.headers.get("content-type")
    state._log(
        LoggedRequest(
            time=arrived,
            method=method,
            path=path,
            query=dict(request.query_params),
            content_type=content_type,
            body=_log_body(raw, content_type),
            token_scopes=_token_scopes(state, request),
            status=response.status_code,
        )
    )
    return response


def create_app(state: SandboxState) -> Starlette:
    """The Starlette app serving ``state`` (token endpoint + ``/api/v2``).

    All requests go through one catch-all route so that routing errors (404/405), fault injection
    and the request log use the same code path as the real endpoints.
    """

    async def endpoint(request: Request) -> Response:
        return await _handle(state, request)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
