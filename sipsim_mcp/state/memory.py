"""The memory store (`SIPSIM_STATE_URL=memory://`): this process only, forgotten when it stops."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from .store import Kind, new_generation


class MemoryStore:
    """State of one process. Its generation is new with each process: codes and forms issued by another
    process, or before a restart, are refused."""

    kind: Kind = "memory"
    description = "in memory (SIPSIM_STATE_URL=memory://)"
    reach = "this process only: forgotten on restart"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._values: dict[str, tuple[str, float]] = {}
        self._secrets: dict[str, bytes] = {}
        self._generation = new_generation()
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

    async def generation(self) -> str:
        return self._generation

    def secret(self, name: str) -> bytes:
        with self._lock:
            return self._secrets.setdefault(name, secrets.token_bytes(32))

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
