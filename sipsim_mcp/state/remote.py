"""The Redis store (`SIPSIM_STATE_URL=redis://...`): shared by every process that uses the same Redis, on
any machine. A claim is `SET NX` with an expiry. The generation is a key created with `SET NX` when missing:
a Redis restarted empty (no persistence, a flush) has a new one."""

from __future__ import annotations

import secrets
from typing import Any, cast

from .store import PREFIX, Kind, StoreUnavailable, new_generation

GENERATION = PREFIX + "generation"


class RedisStore:
    """State in Redis, shared by every process that uses the same `SIPSIM_STATE_URL`."""

    kind: Kind = "redis"
    reach = "every process using this Redis, on any machine"

    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        try:
            import redis
            import redis.asyncio
            from redis.asyncio.retry import Retry as AsyncRetry
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise StoreUnavailable(
                "SIPSIM_STATE_URL names a Redis but the redis package is not installed: "
                "pip install 'sipsim-mcp[redis]'."
            ) from exc
        self._errors = (redis.RedisError, OSError)
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "decode_responses": True,
            "retry_on_error": [redis.ConnectionError],  # once, on a new connection: a Redis that restarted
        }
        self._redis = redis.asyncio.Redis.from_url(url, retry=AsyncRetry(NoBackoff(), 1), **options)
        self._sync = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 1), **options)
        self._generation: str | None = None
        self._secrets: dict[str, bytes] = {}
        self._where = safe_url(url)
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

    async def generation(self) -> str:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.set(GENERATION, new_generation(), nx=True)
                pipe.get(GENERATION)
                _, current = await pipe.execute()
        except self._errors as exc:
            raise self._down(exc) from None
        if current != self._generation:  # first read, or Redis lost its data: so did the secrets
            self._generation, self._secrets = cast(str, current), {}
        return cast(str, current)

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


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"
