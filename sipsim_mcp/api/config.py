"""Configuration from the environment: every `SIPSIM_*` variable the server reads, in one place."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .redact import REDACTOR

DEFAULT_API_URL = "https://app.sipsim.com/api/v2"
DEFAULT_TOKEN_URL = "https://app.sipsim.com/oauth/token"

#: The seven scopes the SIPSIM authentication page lists; the default for `SIPSIM_SCOPES`.
DEFAULT_SCOPES = frozenset(
    ["account.read", "calls.read", "calls.write", "phones.read", "phones.write", "tags.read", "tags.write"]
)

#: Every scope named anywhere in the SIPSIM docs (the auth page's list is not exhaustive).
KNOWN_SCOPES = DEFAULT_SCOPES | frozenset(
    [
        "calls.create",
        "calls.tags.write",
        "calls.transcription.read",
        "calls.transcription.write",
        "calls.summary.read",
        "calls.summary.write",
        "settings.read",
        "settings.write",
        "webhooks.read",
        "webhooks.write",
    ]
)


class ConfigError(ValueError):
    """The configuration cannot work; the message says which variable to fix and how."""


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, variable: str, what: str = "SIPSIM") -> str:
    """Accept https:// anywhere and http:// only on a loopback host (the SIPSIM docs say: always HTTPS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{variable} must be an https:// URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"{variable} uses plain http:// to {parts.hostname!r}; {what} must be reached over HTTPS "
            "(plain http:// is allowed only for loopback hosts such as the bundled simulator)"
        )
    return url.rstrip("/")


def _split_words(value: Any) -> Any:
    if isinstance(value, str):
        return frozenset(word for word in value.replace(",", " ").split() if word)
    return value


class Settings(BaseSettings):
    """Server settings; each field is read from the variable `SIPSIM_<FIELD>` (see README: Configuration)."""

    model_config = SettingsConfigDict(env_prefix="SIPSIM_", env_ignore_empty=True, extra="ignore")

    client_id: str | None = Field(None, description="OAuth client id of the SIPSIM integration")
    client_secret: SecretStr | None = Field(None, description="OAuth client secret of the SIPSIM integration")
    api_url: str = Field(DEFAULT_API_URL, description="Base URL of the SIPSIM v2 API")
    token_url: str = Field(DEFAULT_TOKEN_URL, description="OAuth 2.0 token endpoint")
    scopes: Annotated[frozenset[str], NoDecode] = Field(
        DEFAULT_SCOPES,
        description="Scopes the integration has (space-separated); tools needing others are hidden",
    )
    timeout: float = Field(30.0, gt=0, le=600, description="Seconds before an HTTP request to SIPSIM times out")
    read_only: bool = Field(False, description="Hide every write tool")
    tools: Annotated[frozenset[str] | None, NoDecode] = Field(
        None, description="Comma-separated tool names: only these tools are offered"
    )
    confirm_writes: Literal["preview", "host"] = Field(
        "preview",
        description="How writes are confirmed when the client cannot ask the user (elicitation): "
        "'preview' returns a preview and a one-time confirmation code; 'host' trusts the host's approval prompt",
    )
    confirm_key: SecretStr | None = Field(
        None,
        description="Secret that signs confirmation codes, so codes stay valid across restarts and replicas "
        "(default: a random key per process)",
    )
    state_url: str | None = Field(
        None,
        description="Where single use of confirmation codes, the duplicate guard and the shared secret are kept: "
        "unset, the embedded store in SIPSIM_STATE_DIR (every process on this machine, across restarts); "
        "redis://host:port/db for processes on several machines; memory:// for this process only",
    )
    state_dir: Path | None = Field(
        None,
        description="Directory of the embedded state store and the default audit log "
        "(default: $XDG_STATE_HOME/sipsim-mcp, else ~/.local/state/sipsim-mcp)",
    )
    audit_log: Path | Literal["off"] | None = Field(
        None,
        description="File to append one JSON line to before and after each write (default: audit.jsonl in "
        "SIPSIM_STATE_DIR); off: no audit log",
    )
    timezone: str = Field("UTC", description="IANA time zone for relative time windows (e.g. Europe/Paris)")
    default_region: str | None = Field(
        None, description="ISO 3166 country code for phone numbers written without a country code (e.g. FR)"
    )
    scan_limit: int = Field(50_000, ge=1000, le=1_000_000, description="Most calls summarize_calls scans")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("WARNING", description="stderr log level")
    demo: bool = Field(False, description="Same as --demo: serve the bundled simulator instead of SIPSIM")
    now: datetime | None = Field(
        None,
        description="Against a simulator only (a loopback SIPSIM_API_URL, or --demo): the instant the server's "
        "clock starts at, for tests and reproducible demos (ISO 8601; without a zone, UTC)",
    )
    mcp_auth_token: SecretStr | None = Field(
        None, description="Bearer token HTTP clients must send to this server (required off loopback)"
    )
    mcp_allowed_hosts: Annotated[frozenset[str] | None, NoDecode] = Field(
        None, description="Comma-separated Host header values the HTTP transport accepts (off loopback)"
    )
    mcp_allowed_origins: Annotated[frozenset[str] | None, NoDecode] = Field(
        None, description="Comma-separated Origin header values the HTTP transport accepts (browser clients)"
    )

    mcp_max_sessions: int = Field(
        1000, ge=1, le=100_000, description="HTTP transport: most open sessions (the longest-idle one is closed first)"
    )
    mcp_max_sessions_per_client: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description="HTTP transport: a client's fair share of the sessions (default: a tenth of the most, at least 1)",
    )
    mcp_idle_timeout: float = Field(
        600.0, gt=0, le=86_400, description="HTTP transport: seconds after which an idle session is closed"
    )
    mcp_read_timeout: float = Field(
        30.0, gt=0, le=600, description="HTTP transport: seconds a client has to send a request's headers, and its body"
    )
    mcp_public_url: str | None = Field(
        None,
        description="HTTP transport: the URL clients connect to, as they write it (e.g. https://mcp.example.com/mcp); "
        "the resource this server names to clients, and the default audience of sign-in tokens",
    )
    mcp_oauth_issuer: str | None = Field(
        None,
        description="Team sign-in: the issuer URL of the identity provider (OpenID Connect or RFC 8414 discovery) "
        "whose access tokens HTTP clients send",
    )
    mcp_oauth_audience: str | None = Field(
        None,
        description="Team sign-in: the audience (RFC 8707 resource) access tokens must be issued for "
        "(default: SIPSIM_MCP_PUBLIC_URL)",
    )
    mcp_oauth_scopes: Annotated[frozenset[str] | None, NoDecode] = Field(
        None,
        description="Team sign-in: scopes every access token must carry (space-separated), published for clients "
        "to ask for; a token without one is answered 403 insufficient_scope",
    )
    mcp_oauth_client_id: str | None = Field(
        None,
        description="Team sign-in: this server's client id at the identity provider, to introspect opaque "
        "(non-JWT) access tokens (RFC 7662)",
    )
    mcp_oauth_client_secret: SecretStr | None = Field(
        None, description="Team sign-in: the client secret that goes with SIPSIM_MCP_OAUTH_CLIENT_ID"
    )
    policy: Path | None = Field(
        None,
        description="Team sign-in: the policy file (TOML) giving each signed-in user roles and tools "
        "(without it every signed-in user gets the read tools)",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="Signing secret of the SIPSIM webhooks (dashboard, Integrations, Webhooks); during a rotation "
        "the old and new ones, comma-separated",
    )
    webhook_path: str = Field("/webhooks/sipsim", description="Path of the webhook receiver on the HTTP transport")
    webhook_max_age: float = Field(
        300.0, ge=10, le=86_400, description="Seconds a webhook's X-Webhook-Timestamp may be off this server's clock"
    )
    webhook_rate_limit: float = Field(
        100.0, gt=0, le=100_000, description="Webhook deliveries a second the receiver accepts (bursts of 10 s' worth)"
    )
    events_url: str | None = Field(
        None,
        description="Where webhook events are kept: sqlite:///path, redis://host:6379/0 or memory: (default: the "
        "Redis of SIPSIM_STATE_URL, else a SQLite file in the user's state directory)",
    )
    live_ring_limit: float = Field(
        600.0, ge=10, le=86_400, description="Seconds after which a call ringing with no end seen is stale"
    )
    live_call_limit: float = Field(
        14_400.0, ge=60, le=604_800, description="Seconds after which a call in progress with no end seen is stale"
    )
    demo_live_rate: float = Field(
        2.0, ge=0, le=600, description="Demo: calls a minute the simulator places as they happen (0: none)"
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_placeholders(cls, data: Any) -> Any:
        # An MCP bundle host may pass an unset optional user_config value through as "${user_config.x}".
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and v.startswith("${"))}
        return data

    @field_validator("scopes", "tools", "mcp_allowed_hosts", "mcp_allowed_origins", "mcp_oauth_scopes", mode="before")
    @classmethod
    def _words(cls, value: Any) -> Any:
        return _split_words(value)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return check_url(value, "SIPSIM_API_URL")

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        return check_url(value, "SIPSIM_TOKEN_URL")

    @field_validator("mcp_public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, "SIPSIM_MCP_PUBLIC_URL", "this server")

    @field_validator("mcp_oauth_issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value, "SIPSIM_MCP_OAUTH_ISSUER", "the identity provider")
        return value  # kept as written: tokens carry the issuer, compared as a string

    @model_validator(mode="after")
    def _one_way_to_sign_in(self) -> Settings:
        token = self.mcp_auth_token is not None and bool(self.mcp_auth_token.get_secret_value())
        if token and self.mcp_oauth_issuer:
            raise ValueError(
                "SIPSIM_MCP_AUTH_TOKEN and SIPSIM_MCP_OAUTH_ISSUER are both set, and HTTP clients sign in one way "
                "only: unset SIPSIM_MCP_AUTH_TOKEN to sign each person in with the identity provider, or unset "
                "SIPSIM_MCP_OAUTH_ISSUER to keep one shared token"
            )
        introspection = (self.mcp_oauth_client_id, self.mcp_oauth_client_secret)
        if any(part is not None for part in introspection) and not all(part is not None for part in introspection):
            raise ValueError(
                "SIPSIM_MCP_OAUTH_CLIENT_ID and SIPSIM_MCP_OAUTH_CLIENT_SECRET go together (they let the server "
                "introspect opaque access tokens): set both, or neither"
            )
        orphans = [
            name
            for name, value in (
                ("SIPSIM_MCP_OAUTH_AUDIENCE", self.mcp_oauth_audience),
                ("SIPSIM_MCP_OAUTH_SCOPES", self.mcp_oauth_scopes),
                ("SIPSIM_MCP_OAUTH_CLIENT_ID", self.mcp_oauth_client_id),
                ("SIPSIM_POLICY", self.policy),
            )
            if value is not None
        ]
        if orphans and not self.mcp_oauth_issuer:
            raise ValueError(
                f"{' and '.join(orphans)} {'is' if len(orphans) == 1 else 'are'} about team sign-in, which is off: "
                "set SIPSIM_MCP_OAUTH_ISSUER to your identity provider's issuer URL, or unset them"
            )
        return self

    @property
    def oauth_audience(self) -> str | None:
        """The audience sign-in tokens must name: SIPSIM_MCP_OAUTH_AUDIENCE, else SIPSIM_MCP_PUBLIC_URL."""
        return self.mcp_oauth_audience or self.mcp_public_url

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, value: str | None) -> str | None:
        if value and value != "memory://" and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "SIPSIM_STATE_URL must be a Redis URL (redis://host:6379/0, rediss://, unix://) or memory://; "
                "leave it unset for the embedded store"
            )
        return value

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path(cls, value: str) -> str:
        if not value.startswith("/") or any(c in value for c in "?# ") or value.rstrip("/") in ("", "/mcp"):
            raise ValueError(f"SIPSIM_WEBHOOK_PATH must be a path of its own such as /webhooks/sipsim, got {value!r}")
        return value

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, value: str | None) -> str | None:
        parts = urlsplit(value) if value else None
        if parts and (
            parts.scheme not in ("sqlite", "redis", "rediss", "unix", "memory")
            or (parts.scheme == "sqlite" and not parts.path)
        ):
            raise ValueError(
                "SIPSIM_EVENTS_URL must be sqlite:///absolute/path/events.sqlite3, redis://host:6379/0 or memory:"
            )
        return value

    @field_validator("audit_log", mode="before")
    @classmethod
    def _audit_off(cls, value: Any) -> Any:
        return "off" if isinstance(value, str) and value.strip().lower() in ("off", "false", "none", "no") else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"SIPSIM_TIMEZONE {value!r} is not an IANA time zone (e.g. Europe/Paris, America/New_York, UTC)"
            ) from None
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import phonenumbers  # here: only a set region pays for loading it

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"SIPSIM_DEFAULT_REGION {value!r} is not an ISO 3166 country code (e.g. FR, US, DE)")
        return region

    @field_validator("now")
    @classmethod
    def _now(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value

    def clock(self, *, simulator: bool = False) -> Callable[[], datetime]:
        """The server's clock: the system's, or with SIPSIM_NOW one that starts at that instant and runs on.
        SIPSIM_NOW is refused against the real API (`simulator`: the demo's own simulator), where a shifted
        clock would answer "yesterday" with the wrong day."""
        if self.now is None:
            return lambda: datetime.now(timezone.utc)
        if not (simulator or is_loopback(urlsplit(self.api_url).hostname or "")):
            raise ConfigError(
                f"SIPSIM_NOW is set, but SIPSIM_API_URL ({self.api_url}) is not a simulator on loopback: against "
                "the real SIPSIM the server reads the system clock. Unset SIPSIM_NOW."
            )
        start, started = self.now, time.monotonic()
        return lambda: start + timedelta(seconds=time.monotonic() - started)

    @property
    def has_credentials(self) -> bool:
        return bool(self.client_id and self.client_secret and self.client_secret.get_secret_value())

    def require_credentials(self) -> tuple[str, SecretStr]:
        """The client id and secret, or a ConfigError that names the variables to set."""
        if not self.has_credentials:
            raise ConfigError(
                "SIPSIM credentials are missing: set SIPSIM_CLIENT_ID and SIPSIM_CLIENT_SECRET to the client id "
                "and secret of your SIPSIM API integration (SIPSIM dashboard, Integrations, API), or run "
                "`sipsim-mcp --demo` (or set SIPSIM_DEMO=true) to try the server against the bundled simulator."
            )
        assert self.client_id is not None and self.client_secret is not None
        return self.client_id, self.client_secret

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        """The accepted signing secrets (SIPSIM_WEBHOOK_SECRET, comma-separated), none when unset."""
        if self.webhook_secret is None:
            return ()
        return tuple(s.strip() for s in self.webhook_secret.get_secret_value().split(",") if s.strip())

    def require_webhook_secrets(self) -> tuple[str, ...]:
        """The webhook signing secrets, or a ConfigError that says where to find one."""
        if not self.webhook_secrets:
            raise ConfigError(
                "SIPSIM_WEBHOOK_SECRET is not set: copy the signing secret from the SIPSIM dashboard (Integrations, "
                "Webhooks) into SIPSIM_WEBHOOK_SECRET (during a rotation, the old and new ones, comma-separated)."
            )
        return self.webhook_secrets

    @property
    def events_store(self) -> str | None:
        """Where webhook events are kept: SIPSIM_EVENTS_URL, else a Redis SIPSIM_STATE_URL, else None (the
        default SQLite file)."""
        shared = self.state_url and urlsplit(self.state_url).scheme in ("redis", "rediss", "unix")
        return self.events_url or (self.state_url if shared else None)

    @property
    def unknown_scopes(self) -> frozenset[str]:
        return self.scopes - KNOWN_SCOPES


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (plus explicit overrides); invalid values become one readable ConfigError."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if not message.startswith("SIPSIM_"):
                message = f"SIPSIM_{field.upper()}: {message}"
            problems.append(message)
        raise ConfigError("Invalid configuration: " + "; ".join(problems)) from None
    REDACTOR.add_settings(settings)
    return settings
