"""Team sign-in: the HTTP transport as an OAuth 2.1 resource server of a real identity provider.

`OidcVerifier` is the SDK's `TokenVerifier`: it finds the provider by discovery (OpenID Connect, else
RFC 8414), checks JWT access tokens against the provider's JWKS (signature, `iss`, audience per
RFC 8707, `exp`/`nbf`/`iat` with a small skew, an asymmetric `alg` from an allow-list) and opaque ones
by RFC 7662 introspection when the server has client credentials. An unknown `kid` refetches the JWKS
(at most once per REFETCH_SECONDS), so the provider can rotate its keys. A refused token is logged
with its reason, never with the token; the SDK answers 401.

The verified claims travel in the SDK's `AccessToken.claims` (see language/identity.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import anyio
import httpx
import jwt
from mcp.server.auth.provider import AccessToken

from .. import __version__
from ..api.config import ConfigError, Settings, is_loopback
from ..api.redact import REDACTOR
from .policy import load_policy

logger = logging.getLogger(__name__)

#: Asymmetric signatures only: a JWKS publishes public keys, so HS* (and never `none`) is refused.
ALGORITHMS = frozenset(
    ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]
)
#: Clocks of the provider and this server may differ by this much (exp, nbf, iat).
SKEW_SECONDS = 60
#: The JWKS is read again after this long (a key the provider stopped publishing is then refused).
JWKS_MAX_AGE = 600.0
#: An unknown `kid` refetches the JWKS at most once in this many seconds (a flood of made-up kids costs one).
REFETCH_SECONDS = 30.0
#: Discovery is read again after this long; a failed one is retried after RETRY_SECONDS.
DISCOVERY_MAX_AGE = 3600.0
RETRY_SECONDS = 10.0
#: Introspection answers are kept this long (and never past the token's expiry), for this many tokens.
INTROSPECTION_SECONDS = 60.0
INTROSPECTION_CACHE = 4096

TIMEOUT = httpx.Timeout(10.0)


class SignInUnavailable(Exception):
    """The identity provider cannot be used (discovery, JWKS, introspection); the message says what to fix."""


class TokenRefused(Exception):
    """The token is not accepted; the message says why (no secret in it)."""


@dataclass(frozen=True)
class ProviderMetadata:
    """What discovery found: the provider's own issuer string, where its keys are, and introspection."""

    issuer: str
    jwks_uri: str | None
    introspection_endpoint: str | None
    found_at: str


def discovery_urls(issuer: str) -> list[str]:
    """Where the metadata of `issuer` may be, in the order tried: OpenID Connect Discovery (appended to the
    issuer), then RFC 8414 (inserted before the issuer's path), then OpenID Connect inserted."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    urls = [issuer.rstrip("/") + "/.well-known/openid-configuration"]
    for name in ("oauth-authorization-server", "openid-configuration"):
        urls.append(urlunsplit((parts.scheme, parts.netloc, f"/.well-known/{name}{path}", "", "")))
    return list(dict.fromkeys(urls))


def same_url(a: str, b: str) -> bool:
    """Equal as resource identifiers, a trailing slash aside."""
    return a.rstrip("/") == b.rstrip("/")


def _secure(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        return url
    raise SignInUnavailable(f"the provider's {what} {url!r} is not an https:// URL")


class OidcVerifier:
    """Verifies access tokens issued by `issuer` for `audience` (the SDK's TokenVerifier protocol).

    `client_id`/`client_secret`: this server's credentials at the provider, for introspection of opaque
    tokens. `http`: the client used to reach the provider (one is made when not given). `clock`: seconds,
    for the caches' ages (exp and nbf are checked against the system clock)."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        http: httpx.AsyncClient | None = None,
        skew: float = SKEW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._client = (client_id, client_secret) if client_id and client_secret else None
        REDACTOR.add(client_secret)
        self._http = http
        self._own_http = http is None
        self._skew = skew
        self._clock = clock
        self._lock = anyio.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = -DISCOVERY_MAX_AGE
        self._failure: tuple[float, SignInUnavailable] | None = None
        self._jwks: dict[str, dict[str, Any]] = {}
        self._jwks_at: float | None = None
        self._refetched_at: float | None = None
        self._prepared: dict[tuple[str | None, str], jwt.PyJWK] = {}  # keys of _jwks, loaded
        self._introspected: OrderedDict[str, tuple[float, AccessToken | TokenRefused]] = OrderedDict()

    @classmethod
    def from_settings(cls, settings: Settings, *, audience: str | None = None, **options: Any) -> OidcVerifier:
        """The verifier SIPSIM_MCP_OAUTH_* configure; `audience` when neither SIPSIM_MCP_OAUTH_AUDIENCE nor
        SIPSIM_MCP_PUBLIC_URL is set (the HTTP transport's own URL on loopback)."""
        if not settings.mcp_oauth_issuer:
            raise ConfigError("Team sign-in is off: SIPSIM_MCP_OAUTH_ISSUER is not set.")
        wanted = settings.oauth_audience or audience
        if not wanted:
            raise ConfigError(
                "Team sign-in needs to know this server's public URL, which access tokens must be issued for: "
                "set SIPSIM_MCP_PUBLIC_URL to the URL clients connect to (e.g. https://mcp.example.com/mcp)."
            )
        secret = settings.mcp_oauth_client_secret
        return cls(
            settings.mcp_oauth_issuer,
            wanted,
            client_id=settings.mcp_oauth_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            **options,
        )

    @property
    def introspects(self) -> bool:
        return self._client is not None

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def _client_http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=TIMEOUT, headers={"User-Agent": f"sipsim-mcp/{__version__}", "Accept": "application/json"}
            )
        return self._http

    # --- the SDK's TokenVerifier -----------------------------------------------------------------------

    async def verify_token(self, token: str) -> AccessToken | None:
        """The SDK's hook: the verified token, or None (the SDK answers 401) with the reason logged."""
        try:
            return await self.verify(token)
        except TokenRefused as exc:
            logger.info("Refused an access token: %s", exc)
        except SignInUnavailable as exc:
            logger.warning("Cannot check an access token: %s", exc)
        return None

    async def verify(self, token: str) -> AccessToken:
        """The verified token (its claims in `.claims`), or TokenRefused / SignInUnavailable saying why."""
        token = token.strip()
        if token.count(".") == 2 and (header := _header(token)) is not None:
            return await self._verify_jwt(token, header)
        if token.count(".") == 4:
            raise TokenRefused("the token is an encrypted JWT (JWE), which this server cannot read")
        if self._client is None:
            raise TokenRefused(
                "the token is not a JWT, and opaque tokens need introspection: set SIPSIM_MCP_OAUTH_CLIENT_ID "
                "and SIPSIM_MCP_OAUTH_CLIENT_SECRET, or have the provider issue JWT access tokens"
            )
        return await self._introspect(token)

    # --- discovery and keys ----------------------------------------------------------------------------

    async def metadata(self) -> ProviderMetadata:
        """The provider's metadata, found by discovery and kept for DISCOVERY_MAX_AGE; SignInUnavailable
        when it cannot be read (retried after RETRY_SECONDS; a stale copy is used meanwhile)."""
        now = self._clock()
        if self._metadata is not None and now - self._metadata_at < DISCOVERY_MAX_AGE:
            return self._metadata
        async with self._lock:
            if self._metadata is not None and self._clock() - self._metadata_at < DISCOVERY_MAX_AGE:
                return self._metadata
            if self._failure is not None and self._clock() - self._failure[0] < RETRY_SECONDS:
                if self._metadata is not None:
                    return self._metadata
                raise self._failure[1]
            try:
                self._metadata = await self._discover()
            except SignInUnavailable as exc:
                self._failure = (self._clock(), exc)
                if self._metadata is not None:
                    logger.warning("Identity provider discovery failed, using the last metadata: %s", exc)
                    return self._metadata
                raise
            self._metadata_at, self._failure = self._clock(), None
            return self._metadata

    async def _discover(self) -> ProviderMetadata:
        problems = []
        for url in discovery_urls(self.issuer):
            try:
                response = await self._client_http().get(url)
            except httpx.HTTPError as exc:
                problems.append(f"{url}: {_http_problem(exc)}")
                continue
            if response.status_code != 200:
                problems.append(f"{url}: HTTP {response.status_code}")
                continue
            document = _json_object(response)
            if document is None:
                problems.append(f"{url}: not a JSON object")
                continue
            return self._read_metadata(document, url)
        raise SignInUnavailable(
            f"no discovery document for the issuer {self.issuer!r} ({'; '.join(problems)}). Check "
            "SIPSIM_MCP_OAUTH_ISSUER: it is the issuer URL your identity provider shows (e.g. "
            "https://login.example.com/realms/acme), and the provider must be reachable from this server."
        )

    def _read_metadata(self, document: Mapping[str, Any], url: str) -> ProviderMetadata:
        issuer = document.get("issuer")
        if not isinstance(issuer, str) or not same_url(issuer, self.issuer):
            raise SignInUnavailable(
                f"the discovery document at {url} names the issuer {issuer!r}, not {self.issuer!r}: set "
                f"SIPSIM_MCP_OAUTH_ISSUER to the provider's issuer exactly as its document writes it"
            )
        jwks_uri = document.get("jwks_uri")
        introspection = document.get("introspection_endpoint")
        return ProviderMetadata(
            issuer=issuer,
            jwks_uri=_secure(jwks_uri, "jwks_uri") if isinstance(jwks_uri, str) else None,
            introspection_endpoint=(
                _secure(introspection, "introspection_endpoint") if isinstance(introspection, str) else None
            ),
            found_at=url,
        )

    async def signing_keys(self, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        """The provider's signature keys by `kid` (a key without one under ""), read from its JWKS and kept
        for JWKS_MAX_AGE. `refresh` (a token signed with an unknown key) reads it again, at most once in
        REFETCH_SECONDS. When the JWKS cannot be read again, the keys read last are kept."""
        if not self._keys_due(refresh):
            return self._jwks
        metadata = await self.metadata()
        async with self._lock:
            if not self._keys_due(refresh):
                return self._jwks  # read meanwhile by another request
            if refresh:
                self._refetched_at = self._clock()
            try:
                self._jwks = await self._fetch_jwks(metadata)
                self._prepared = {}
            except SignInUnavailable:
                if self._jwks_at is None:
                    raise
                logger.warning("Could not read the identity provider's JWKS again; using the keys read last")
            self._jwks_at = self._clock()
            return self._jwks

    def _keys_due(self, refresh: bool) -> bool:
        now = self._clock()
        if self._jwks_at is None or now - self._jwks_at >= JWKS_MAX_AGE:
            return True
        return refresh and (self._refetched_at is None or now - self._refetched_at >= REFETCH_SECONDS)

    async def _fetch_jwks(self, metadata: ProviderMetadata) -> dict[str, dict[str, Any]]:
        if metadata.jwks_uri is None:
            raise SignInUnavailable(
                f"the provider's metadata ({metadata.found_at}) has no jwks_uri, so JWT access tokens cannot be "
                "checked; configure introspection (SIPSIM_MCP_OAUTH_CLIENT_ID/_SECRET) for its opaque tokens"
            )
        try:
            response = await self._client_http().get(metadata.jwks_uri)
        except httpx.HTTPError as exc:
            raise SignInUnavailable(f"cannot read the JWKS at {metadata.jwks_uri}: {_http_problem(exc)}") from None
        document = _json_object(response) if response.status_code == 200 else None
        keys = document.get("keys") if document is not None else None
        if not isinstance(keys, list):
            raise SignInUnavailable(
                f"the JWKS at {metadata.jwks_uri} answered HTTP {response.status_code} without a list of keys"
            )
        found: dict[str, dict[str, Any]] = {}
        for key in keys:
            if isinstance(key, dict) and key.get("use", "sig") == "sig" and key.get("kty") in ("RSA", "EC", "OKP"):
                found.setdefault(str(key.get("kid", "")), key)
        if not found:
            raise SignInUnavailable(f"the JWKS at {metadata.jwks_uri} holds no signature key")
        return found

    async def _key(self, kid: str | None, alg: str) -> jwt.PyJWK:
        keys = await self.signing_keys()
        jwk = _pick(keys, kid)
        if jwk is None:
            keys = await self.signing_keys(refresh=True)  # a new key after a rotation
            jwk = _pick(keys, kid)
        if jwk is None:
            raise TokenRefused(
                f"the token is signed with the key {kid!r}, which the provider does not publish (a key it "
                "retired, or another provider's)"
                if kid
                else "the token names no signing key (kid), and the provider publishes several"
            )
        if "alg" in jwk and jwk["alg"] != alg:
            raise TokenRefused(f"the token says {alg}, but its key {kid!r} is for {jwk['alg']}")
        prepared = self._prepared.get((kid, alg))
        if prepared is None:
            try:
                prepared = jwt.PyJWK(jwk, algorithm=alg)  # loading a public key is most of a verification's time
            except jwt.PyJWTError:
                raise TokenRefused(f"the token says {alg}, which its key {kid!r} cannot verify") from None
            self._prepared[kid, alg] = prepared
        return prepared

    # --- tokens ----------------------------------------------------------------------------------------

    async def _verify_jwt(self, token: str, header: Mapping[str, Any]) -> AccessToken:
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenRefused(
                f"the token is signed with {alg!r}, which is not accepted (only {', '.join(sorted(ALGORITHMS))})"
            )
        kid = header.get("kid")
        key = await self._key(kid if isinstance(kid, str) else None, str(alg))
        metadata = await self.metadata()
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[str(alg)],
                issuer=metadata.issuer,
                leeway=self._skew,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("the token is not valid yet (issued in the future, beyond the allowed skew)") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused(f"the token was issued by another issuer, not {metadata.issuer!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRefused(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("the token's signature does not verify (altered, or not signed by this key)") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"the token cannot be read: {exc}") from None
        return self._access_token(token, claims)

    async def _introspect(self, token: str) -> AccessToken:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        cached = self._introspected.get(digest)
        if cached is not None and cached[0] > now:
            if isinstance(cached[1], TokenRefused):
                raise cached[1]
            return cached[1]
        metadata = await self.metadata()
        if metadata.introspection_endpoint is None:
            raise SignInUnavailable(
                f"the provider's metadata ({metadata.found_at}) names no introspection_endpoint, so opaque access "
                "tokens cannot be checked; have the provider issue JWT access tokens for this server"
            )
        assert self._client is not None
        client_id, secret = self._client
        auth = httpx.BasicAuth(quote(client_id, safe=""), quote(secret, safe=""))  # RFC 6749 2.3.1
        try:
            response = await self._client_http().post(
                metadata.introspection_endpoint,
                data={"token": token, "token_type_hint": "access_token"},
                auth=auth,
            )
        except httpx.HTTPError as exc:
            raise SignInUnavailable(
                f"introspection at {metadata.introspection_endpoint}: {_http_problem(exc)}"
            ) from None
        if response.status_code in (400, 401, 403):
            raise SignInUnavailable(
                f"the provider refused this server's introspection request (HTTP {response.status_code}): check "
                "SIPSIM_MCP_OAUTH_CLIENT_ID and SIPSIM_MCP_OAUTH_CLIENT_SECRET"
            )
        answer = _json_object(response) if response.status_code == 200 else None
        if answer is None:
            raise SignInUnavailable(
                f"introspection at {metadata.introspection_endpoint} answered HTTP {response.status_code} "
                "without a JSON object"
            )
        result: AccessToken | TokenRefused
        try:
            result = self._introspected_token(token, answer, metadata.issuer)
        except TokenRefused as exc:
            result = exc
        until = now + INTROSPECTION_SECONDS
        if isinstance(result, AccessToken) and result.expires_at is not None:
            until = min(until, now + max(0.0, result.expires_at + self._skew - time.time()))
        self._introspected[digest] = (until, result)
        while len(self._introspected) > INTROSPECTION_CACHE:
            self._introspected.popitem(last=False)
        if isinstance(result, TokenRefused):
            raise result
        return result

    def _introspected_token(self, token: str, answer: Mapping[str, Any], issuer: str) -> AccessToken:
        if answer.get("active") is not True:
            raise TokenRefused("the provider says the token is not active (expired, revoked or unknown)")
        if str(answer.get("token_type", "bearer")).lower() not in ("bearer", "access_token"):
            raise TokenRefused(f"the token is a {answer.get('token_type')!r}, not an access token")
        claims = {**answer, "iss": answer.get("iss", issuer)}
        if not isinstance(claims["iss"], str) or not same_url(claims["iss"], issuer):
            raise TokenRefused(f"the token was issued by another issuer, not {issuer!r}")
        if not isinstance(claims.get("sub"), str):
            raise TokenRefused("the provider's introspection answer names no subject (sub)")
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and exp <= time.time() - self._skew:
            raise TokenRefused("the token has expired")
        claims.pop("active", None)
        return self._access_token(token, claims)

    def _access_token(self, token: str, claims: dict[str, Any]) -> AccessToken:
        audiences = claims.get("aud")
        listed = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
        resource = next((aud for aud in listed if isinstance(aud, str) and same_url(aud, self.audience)), None)
        if resource is None:
            shown = ", ".join(repr(aud) for aud in listed) or "no audience"
            raise TokenRefused(f"the token is for {shown}, not for this server ({self.audience!r})")
        if "cnf" in claims:
            raise TokenRefused("the token is bound to a key (DPoP or mTLS), which this server does not check")
        exp = claims.get("exp")
        return AccessToken(
            token=token,
            client_id=_client_id(claims),
            scopes=_scopes(claims),
            expires_at=int(exp) if isinstance(exp, (int, float)) else None,
            resource=resource,
            subject=str(claims["sub"]),
            claims=claims,
        )


def _header(token: str) -> dict[str, Any] | None:
    """The header of a JWT, or None when the token is not one (an opaque token with dots)."""
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None


def _pick(keys: Mapping[str, dict[str, Any]], kid: str | None) -> dict[str, Any] | None:
    if kid is not None:
        return keys.get(kid)
    return next(iter(keys.values())) if len(keys) == 1 else None


def _client_id(claims: Mapping[str, Any]) -> str:
    for name in ("client_id", "azp", "appid", "cid"):  # RFC 9068, OIDC, Entra v1, Okta
        if isinstance(claims.get(name), str):
            return str(claims[name])
    return str(claims["sub"])


def _scopes(claims: Mapping[str, Any]) -> list[str]:
    for name in ("scope", "scp"):  # RFC 9068 / RFC 7662; Entra and Okta
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [str(item) for item in value]
    return []


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        document = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


def _http_problem(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect"
    return type(exc).__name__


CheckStatus = Literal["ok", "warn", "fail"]

UNENFORCED = (
    "the roles {roles} set calls_per_hour or lines, which this version does not enforce yet (they take effect "
    "with the click-to-call caps): until then those roles may start calls without them"
)
NO_SIGN_IN = (
    "none: HTTP clients are served on loopback only (SIPSIM_MCP_AUTH_TOKEN for one shared token, or "
    "SIPSIM_MCP_OAUTH_ISSUER to sign each person in, serves other machines)"
)


@dataclass(frozen=True)
class SignInCheck:
    """One line of `doctor`: a name, a status and what was found (or what to fix)."""

    name: str
    status: CheckStatus
    detail: str


async def check_sign_in(settings: Settings, *, http: httpx.AsyncClient | None = None) -> list[SignInCheck]:
    """How HTTP clients sign in (nothing when no sign-in is configured), and for team sign-in whether it
    works end to end: the policy file readable, discovery reachable and naming the configured issuer, the
    JWKS readable, introspection credentials accepted."""
    if not settings.mcp_oauth_issuer:
        if settings.mcp_auth_token is None or not settings.mcp_auth_token.get_secret_value():
            return [SignInCheck("sign-in", "ok", NO_SIGN_IN)]
        return [SignInCheck("sign-in", "ok", "HTTP clients send one shared bearer token (SIPSIM_MCP_AUTH_TOKEN)")]
    try:
        verifier = OidcVerifier.from_settings(settings, http=http)
    except ConfigError as exc:
        return [SignInCheck("sign-in", "fail", str(exc))]
    checks = [
        SignInCheck(
            "sign-in",
            "ok",
            f"each person signs in with {verifier.issuer}; tokens must be issued for {verifier.audience}"
            + (f" with the scope {' '.join(sorted(settings.mcp_oauth_scopes))}" if settings.mcp_oauth_scopes else "")
            + ("; opaque tokens are introspected" if verifier.introspects else ""),
        ),
        _check_policy(settings),
    ]
    try:
        metadata = await verifier.metadata()
        checks.append(SignInCheck("discovery", "ok", f"{metadata.found_at} names the issuer {metadata.issuer}"))
        if metadata.jwks_uri is None and not verifier.introspects:
            checks.append(SignInCheck("jwks", "fail", "the provider publishes no jwks_uri, and introspection is off"))
        elif metadata.jwks_uri is not None:
            keys = await verifier.signing_keys()
            algs = sorted({str(key.get("alg", key.get("kty"))) for key in keys.values()})
            checks.append(
                SignInCheck("jwks", "ok", f"{len(keys)} signature key(s) at {metadata.jwks_uri} ({', '.join(algs)})")
            )
        if verifier.introspects:
            checks.append(await _check_introspection(verifier))
    except SignInUnavailable as exc:
        checks.append(SignInCheck("discovery" if len(checks) == 2 else "jwks", "fail", str(exc)))
    finally:
        await verifier.aclose()
    return checks


def _check_policy(settings: Settings) -> SignInCheck:
    if settings.policy is None:
        return SignInCheck("policy", "ok", "no SIPSIM_POLICY: every signed-in person gets the read tools")
    try:
        policy = load_policy(settings.policy)
    except ConfigError as exc:
        return SignInCheck("policy", "fail", str(exc))
    found = f"{policy.source}: roles {', '.join(policy.roles)}; {len(policy.grants)} grant(s)"
    if policy.unenforced:
        return SignInCheck("policy", "warn", f"{found}; {UNENFORCED.format(roles=', '.join(policy.unenforced))}")
    return SignInCheck("policy", "ok", found)


async def _check_introspection(verifier: OidcVerifier) -> SignInCheck:
    """Introspect a token that cannot exist: the provider answers `active: false` when it accepts our
    credentials."""
    try:
        await verifier.verify("sipsim-mcp-doctor-" + hashlib.sha256(str(time.time()).encode()).hexdigest())
    except TokenRefused:
        return SignInCheck("introspection", "ok", "the provider accepts this server's client credentials")
    except SignInUnavailable as exc:
        return SignInCheck("introspection", "fail", str(exc))
    return SignInCheck("introspection", "fail", "the provider called a made-up token active")
