"""Mutable state of one sandbox: scripted faults, the request log, issued tokens (minting and
expiry) and the live data, behind one lock."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .config import ALL_SCOPES, SandboxConfig, ordered_scopes
from .dataset import SandboxData, build_dataset
from .live import LiveCalls
from .variants import Variant, parse_variants


@dataclass
class Fault:
    """A scripted failure: the next ``times`` matching requests get it. A ``drip`` answer comes after the
    request took effect; an ``echo`` (a misconfigured gateway) answers ``status`` (default 401) echoing the
    Authorization header, the bearer token and the client's secret."""

    method: str | None = None
    path: str = ""
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    malformed: bool = False
    errors: list[str] | None = None
    times: int = 1
    drip: float = 0.0  # handled as usual, then answered one byte every `drip` seconds
    echo: bool = False  # answered with the credentials it saw, in the body, headers and (3xx) the redirect

    def matches(self, method: str, path: str) -> bool:
        """Unspent, same method (or any) and path prefix."""
        return self.times > 0 and (self.method is None or self.method.upper() == method) and path.startswith(self.path)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the sandbox saw and answered it."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any
    token_scopes: tuple[str, ...] | None
    status: int


@dataclass
class IssuedToken:
    """An access token handed out by the token endpoint (or ``issue_token``)."""

    client_id: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float


class SandboxState:
    """Config, live data, tokens, faults and the request log of one sandbox."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.variants: tuple[Variant, ...] = parse_variants(self.config.variant)
        self.data: SandboxData = build_dataset(self.config)
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.tokens: dict[str, IssuedToken] = {}
        self.lock = threading.RLock()
        self._clock_start = (self.config.now, time.monotonic())
        self.live: LiveCalls | None = LiveCalls(self, self.config.live) if self.config.live else None

    def clock(self) -> datetime:
        """The simulator's time: the system clock, or `config.now` running on from when it was made."""
        start, started = self._clock_start
        if start is None:
            return datetime.now(timezone.utc)
        return start + timedelta(seconds=time.monotonic() - started)

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault; faults are tried in the order they were added."""
        with self.lock:
            self.faults.append(fault)

    def clear_log(self) -> None:
        """Forget the logged requests."""
        with self.lock:
            self.requests.clear()

    def issue_token(self, scopes: Iterable[str] | None = None, client_id: str | None = None) -> str:
        """Mint a token directly (no HTTP); default: the first client with all its scopes."""
        client = next((c for c in self.config.clients if c.client_id == client_id), None)
        if client is None and self.config.clients and client_id is None:
            client = self.config.clients[0]
        granted = tuple(scopes) if scopes is not None else ordered_scopes(client.scopes if client else ALL_SCOPES)
        unknown = [s for s in granted if s not in ALL_SCOPES]
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return self._mint(client.client_id if client else (client_id or "sandbox"), granted)[0]

    def issued_tokens(self) -> list[str]:
        """Every access token issued so far (expired ones included), oldest first."""
        with self.lock:
            return list(self.tokens)

    def expire_tokens(self) -> None:
        """Make every token issued so far expired."""
        with self.lock:
            past = time.time() - 1
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, past)

    def _mint(self, client_id: str, scopes: tuple[str, ...]) -> tuple[str, IssuedToken]:
        now = time.time()
        value = secrets.token_urlsafe(32)
        issued = IssuedToken(client_id, scopes, now, now + self.config.token_ttl)
        with self.lock:
            self.tokens[value] = issued
        return value, issued

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def _log(self, entry: LoggedRequest) -> None:
        with self.lock:
            self.requests.append(entry)
