"""OAuth 2.0 client credentials for SIPSIM: a least-privilege, cached, single-flight token provider
and the `httpx.Auth` flow that puts its tokens on requests (and replays once after a 401)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

import anyio
import httpx
from pydantic import SecretStr, ValidationError

from .errors import MissingScopeError, TokenError
from .models import ErrorEnvelope, OAuthErrorBody, TokenResponse
from .redact import REDACTOR
from .retry import RETRYABLE_STATUS, Failed, RetryPolicy, parse_retry_after, retrying

logger = logging.getLogger(__name__)

#: A cached token is used until this many seconds before it expires.
EXPIRY_MARGIN = 60.0
#: How long after it expires a token is still scrubbed from output (SIPSIM may echo it late; then it is gone).
TOKEN_SCRUBBED_AFTER = 86_400.0

_OAUTH_HINTS = {
    "invalid_client": "Check SIPSIM_CLIENT_ID and SIPSIM_CLIENT_SECRET against your API integration in the "
    "SIPSIM dashboard.",
    "invalid_scope": "Enable the scope for your integration in the SIPSIM dashboard, or remove it from "
    "SIPSIM_SCOPES so the tools that need it are hidden.",
    "unauthorized_client": "The integration may not use the client-credentials grant: check its configuration "
    "in the SIPSIM dashboard.",
    "unsupported_grant_type": "SIPSIM does not accept the client-credentials grant at this token URL: check "
    "SIPSIM_TOKEN_URL.",
    "invalid_request": "Check SIPSIM_TOKEN_URL and the credentials.",
    "server_error": "SIPSIM had an internal error; try again shortly.",
    "temporarily_unavailable": "SIPSIM is temporarily unavailable; try again shortly.",
}


@dataclass(frozen=True)
class AccessToken:
    """A bearer token and what it may do. The value never appears in `repr`."""

    value: str = field(repr=False)
    scopes: frozenset[str]
    expires_at: float  # on the provider's monotonic clock


class TokenProvider:
    """Gets client-credentials tokens that carry only the scopes asked for, and caches them per scope set.

    Concurrent requests for the same scopes share one token request (single flight). A token is reused
    until `EXPIRY_MARGIN` seconds before it expires. The granted `scope` of the response is checked: a
    needed scope that was not granted fails with `MissingScopeError` before any API request.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        client_secret: SecretStr,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._cache: dict[frozenset[str], AccessToken] = {}
        self._locks: dict[frozenset[str], anyio.Lock] = {}
        self.token_requests = 0
        REDACTOR.add(client_secret.get_secret_value())

    async def token(self, scopes: frozenset[str]) -> AccessToken:
        """A valid token carrying `scopes` (from the cache when possible)."""
        if (cached := self._fresh(scopes)) is not None:
            return cached
        lock = self._locks.setdefault(scopes, anyio.Lock())
        async with lock:
            if (cached := self._fresh(scopes)) is not None:
                return cached
            token = await self._request(scopes)
            missing = scopes - token.scopes
            if missing:
                names = ", ".join(sorted(missing))
                raise MissingScopeError(
                    f"SIPSIM did not grant the scope {names} needed for this operation (granted: "
                    f"{' '.join(sorted(token.scopes)) or 'none'}). Enable {names} for your API integration in "
                    f"the SIPSIM dashboard, or remove it from SIPSIM_SCOPES so the tools that need it are hidden.",
                    missing=frozenset(missing),
                )
            self._cache[scopes] = token
            return token

    async def granted(self, scopes: frozenset[str]) -> frozenset[str]:
        """The scopes SIPSIM grants when asked for `scopes` (one uncached token request; for `doctor`)."""
        return (await self._request(scopes)).scopes

    def invalidate(self, token: AccessToken) -> None:
        """Forget `token` (SIPSIM rejected it) so the next call gets a fresh one."""
        for scopes, cached in list(self._cache.items()):
            if cached.value == token.value:
                del self._cache[scopes]

    def _fresh(self, scopes: frozenset[str]) -> AccessToken | None:
        token = self._cache.get(scopes)
        return token if token is not None and self._usable(token) else None

    def _usable(self, token: AccessToken) -> bool:
        return self._clock() < token.expires_at - EXPIRY_MARGIN

    async def _request(self, scopes: frozenset[str]) -> AccessToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret.get_secret_value(),
            "scope": " ".join(sorted(scopes)),
        }
        tries = retrying(self._retry)
        wait = next(tries)
        while True:
            if wait is not None:
                await self._retry.sleep(wait)
            self.token_requests += 1
            sent_at = self._clock()
            try:
                response = await self._http.post(self._token_url, data=form)
            except httpx.TransportError as exc:
                unreachable = TokenError(
                    f"Could not reach the SIPSIM token endpoint {self._token_url} ({type(exc).__name__}). "
                    "Check SIPSIM_TOKEN_URL and the network; then try again."
                )
                wait = tries.send(Failed(unreachable))
                continue
            if response.status_code == 200:
                return self._accept(response, scopes, sent_at)
            problem = self._refusal(response, scopes)
            if response.status_code not in RETRYABLE_STATUS and response.status_code < 500:
                raise problem
            wait = tries.send(Failed(problem, parse_retry_after(response.headers.get("Retry-After"))))

    def _accept(self, response: httpx.Response, scopes: frozenset[str], sent_at: float) -> AccessToken:
        try:
            body = TokenResponse.model_validate_json(response.content)
        except ValidationError:
            raise TokenError(
                "The SIPSIM token endpoint answered 200 without a usable access token. Check SIPSIM_TOKEN_URL.",
                status=200,
            ) from None
        value = body.access_token.get_secret_value()
        REDACTOR.add(value, lifetime=body.expires_in + TOKEN_SCRUBBED_AFTER)
        granted = frozenset(body.scope.split()) if body.scope is not None else scopes
        logger.debug("Got a token for %s (expires in %s s)", " ".join(sorted(granted)), body.expires_in)
        return AccessToken(value=value, scopes=granted, expires_at=sent_at + body.expires_in)

    def _refusal(self, response: httpx.Response, scopes: frozenset[str]) -> TokenError:
        """The token endpoint's refusal as a readable error: the OAuth form (`error`, `error_description`) or
        SIPSIM's API error form (`errors`); a refused scope is named, so the user knows what to enable."""
        try:
            raw = response.json()
        except (ValueError, UnicodeDecodeError):
            raw = None
        oauth = OAuthErrorBody.model_validate(raw) if isinstance(raw, dict) and "error" in raw else None
        texts = ErrorEnvelope.model_validate(raw).messages() if isinstance(raw, dict) and oauth is None else []
        asked = " ".join(sorted(scopes)) or "(none)"
        if oauth is None and not texts:
            return TokenError(
                f"The SIPSIM token endpoint answered HTTP {response.status_code} without an OAuth error body. "
                + (
                    "SIPSIM may be down; try again shortly."
                    if response.status_code >= 500
                    else "Check SIPSIM_TOKEN_URL."
                ),
                status=response.status_code,
            )
        error = oauth.error if oauth is not None else None
        if oauth is not None:
            detail = f"{oauth.error}: {oauth.error_description}" if oauth.error_description else oauth.error
        else:
            detail = "; ".join(texts)
        hint = _OAUTH_HINTS.get(error or "", "Check the integration's configuration in the SIPSIM dashboard.")
        if error in ("invalid_scope", "unauthorized_client") or (error is None and "scope" in detail.lower()):
            hint = f"The scope asked for was {asked}. {hint}"
        return TokenError(
            REDACTOR.redact(f"SIPSIM refused the token request ({detail}). {hint}"),
            error=error,
            status=response.status_code,
        )


class ScopedAuth(httpx.Auth):
    """The `httpx.Auth` flow: a bearer token carrying `scopes`; after a 401, one fresh token and one replay."""

    def __init__(self, provider: TokenProvider, scopes: frozenset[str]) -> None:
        self._provider = provider
        self._scopes = scopes

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._provider.token(self._scopes)
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code == 401:
            logger.info(
                "SIPSIM answered 401 to %s %s; replaying once with a fresh token",
                request.method,
                request.url.path,
            )
            self._provider.invalidate(token)
            token = await self._provider.token(self._scopes)
            request.headers["Authorization"] = f"Bearer {token.value}"
            yield request

    def sync_auth_flow(self, request: httpx.Request):
        raise RuntimeError("ScopedAuth works only with httpx.AsyncClient")
