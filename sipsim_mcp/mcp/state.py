"""The state every write guard shares: single use of confirmation codes, the duplicate guard (writes in
flight, done, or of unknown outcome) and the secret that seals confirmation codes and stateless round
trips. In memory for one process (the default), or in Redis (`SIPSIM_STATE_URL`) for several processes,
replicas and restarts.

Every claim is atomic (`SET NX` with an expiry in Redis, one lock in memory): no read-then-write races.
When the store cannot be reached, `StoreUnavailable` is raised and writes are refused; reads never use it.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Protocol, cast

PREFIX = "sipsim-mcp:"


class StoreUnavailable(Exception):
    """The shared state store cannot be reached; the message says what to check."""


class StateStore(Protocol):
    """What the write guards need from shared state. Values are short strings (JSON)."""

    description: str

    async def claim(self, key: str, value: str, ttl: float) -> str | None:
        """Set `key` to `value` for `ttl` seconds unless it is set: None when claimed, else the current value."""
        ...

    async def put(self, key: str, value: str, ttl: float) -> None:
        """Set `key` to `value` for `ttl` seconds, whatever it held."""
        ...

    async def get(self, key: str) -> str | None: ...

    async def delete(self, key: str) -> None: ...

    def secret(self, name: str) -> bytes:
        """A 32-byte secret shared by every process on this store, created on first use."""
        ...

    async def check(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """State of one process: enough for stdio and a single HTTP server."""

    description = "in memory (this process only)"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[str, float]] = {}
        self._secrets: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> str | None:
        entry = self._values.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._values[key]
            return None
        return entry[0]

    async def claim(self, key: str, value: str, ttl: float) -> str | None:
        with self._lock:
            current = self._live(key)
            if current is None:
                self._values[key] = (value, self._clock() + ttl)
            return current

    async def put(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            now = self._clock()
            self._values = {k: v for k, v in self._values.items() if v[1] > now}
            self._values[key] = (value, now + ttl)

    async def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key)

    async def delete(self, key: str) -> None:
        with self._lock:
            self._values.pop(key, None)

    def secret(self, name: str) -> bytes:
        with self._lock:
            return self._secrets.setdefault(name, secrets.token_bytes(32))

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class RedisStore:
    """State in Redis, shared by every process that uses the same `SIPSIM_STATE_URL`."""

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        try:
            import redis
            import redis.asyncio
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise StoreUnavailable(
                "SIPSIM_STATE_URL is set but the redis package is not installed: pip install 'sipsim-mcp[redis]'."
            ) from exc
        self._errors = (redis.RedisError, OSError)
        self._redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
        )
        self._sync = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
        )
        self._secrets: dict[str, bytes] = {}
        self._where = _safe_url(url)
        self.description = f"Redis at {self._where}"

    def _down(self, exc: Exception) -> StoreUnavailable:
        problem = type(exc).__name__
        return StoreUnavailable(f"the shared state store (Redis at {self._where}) cannot be reached ({problem})")

    async def claim(self, key: str, value: str, ttl: float) -> str | None:
        try:
            for _ in range(3):  # the key may expire between SET and GET: try again
                if await self._redis.set(PREFIX + key, value, nx=True, px=max(1, int(ttl * 1000))):
                    return None
                current = await self._redis.get(PREFIX + key)
                if current is not None:
                    return cast(str, current)  # decode_responses: Redis answers str
        except self._errors as exc:
            raise self._down(exc) from None
        raise StoreUnavailable("the shared state store keeps changing under this key; try again")

    async def put(self, key: str, value: str, ttl: float) -> None:
        try:
            await self._redis.set(PREFIX + key, value, px=max(1, int(ttl * 1000)))
        except self._errors as exc:
            raise self._down(exc) from None

    async def get(self, key: str) -> str | None:
        try:
            return cast("str | None", await self._redis.get(PREFIX + key))
        except self._errors as exc:
            raise self._down(exc) from None

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(PREFIX + key)
        except self._errors as exc:
            raise self._down(exc) from None

    def secret(self, name: str) -> bytes:
        if name not in self._secrets:
            key = f"{PREFIX}secret:{name}"
            try:
                self._sync.set(key, secrets.token_hex(32), nx=True)
                value = self._sync.get(key)
            except self._errors as exc:
                raise self._down(exc) from None
            self._secrets[name] = bytes.fromhex(str(value))
        return self._secrets[name]

    async def check(self) -> None:
        try:
            await self._redis.ping()
        except self._errors as exc:
            raise self._down(exc) from None

    async def aclose(self) -> None:
        await self._redis.aclose()
        self._sync.close()


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def open_store(url: str | None) -> StateStore:
    """The store `SIPSIM_STATE_URL` names, or one in memory."""
    return RedisStore(url) if url else MemoryStore()
