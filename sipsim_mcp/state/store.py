"""What a state store offers, and which one a configuration names.

Three stores keep the same things (short string values under keys, each with an expiry; an atomic claim of
a key; the secrets that sign confirmation codes; a generation):

- **embedded** (the default): a SQLite file in the state directory (`SIPSIM_STATE_DIR`). Every server process
  on this machine shares it, and it survives restarts. Nothing to install or run.
- **redis** (`SIPSIM_STATE_URL=redis://...`): for processes on several machines.
- **memory** (`SIPSIM_STATE_URL=memory://`): this process only, forgotten when it stops.

The generation is an id a store creates with its data: a store that lost its data (a Redis restarted empty,
a deleted state file) has a new one, so whatever was bound to the old one (confirmation codes, sealed
forms) can be refused instead of being honoured twice.

Growing it without a rewrite: an atomic counter with an expiry (`incr(key, by, ttl) -> int`) and an
append-only event log read with cursors (`append(stream, value) -> cursor`, `read(stream, after, limit)`)
are further methods of `StateStore`, each store implementing them beside `claim`: the embedded store adds
their tables in a new entry of its `SCHEMA` list (applied once, in order, by every process that opens the
file), Redis uses INCR with PEXPIRE and a stream (XADD, XRANGE), memory a dict and a list under its lock.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from ..api.config import Settings

Kind = Literal["embedded", "redis", "memory"]

#: Every key a store holds starts with this (one Redis may serve other applications too).
PREFIX = "sipsim-mcp:"
MEMORY_URL = "memory://"


class StoreUnavailable(Exception):
    """The state store cannot be used; the message says which one and what to check."""


class StateStore(Protocol):
    """What the write guards (and later the tools) keep between requests. Values are short strings (JSON)."""

    kind: Kind
    description: str  # which store, and where: for messages and `doctor`
    reach: str  # which processes share it, in words

    async def claim(self, key: str, value: str, ttl: float) -> str | None:
        """Set `key` to `value` for `ttl` seconds unless it holds a live value: None when claimed, else that value.
        Atomic: of several processes claiming one key at once, exactly one gets None."""
        ...

    async def put(self, key: str, value: str, ttl: float) -> None:
        """Set `key` to `value` for `ttl` seconds, whatever it held."""
        ...

    async def get(self, key: str) -> str | None: ...

    async def delete(self, key: str) -> None: ...

    async def generation(self) -> str:
        """The id of the data this store holds now: a new one after the store lost its data."""
        ...

    def secret(self, name: str) -> bytes:
        """A 32-byte secret shared by every process on this store, created on first use; a new one after the
        store lost its data (of the generation `generation()` last read)."""
        ...

    async def check(self) -> None:
        """Raise StoreUnavailable unless the store can be read and written."""
        ...

    async def aclose(self) -> None: ...


def new_generation() -> str:
    """A generation id: 8 characters of base32 (40 random bits)."""
    return base64.b32encode(secrets.token_bytes(5)).decode()


def state_directory(configured: Path | None = None) -> Path:
    """Where the embedded store and the default audit log live: `SIPSIM_STATE_DIR`, else the user's state
    directory (`$XDG_STATE_HOME/sipsim-mcp`, else `~/.local/state/sipsim-mcp`)."""
    if configured is not None:
        return configured.expanduser()
    base = os.environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "sipsim-mcp"


def open_store(settings: Settings) -> StateStore:
    """The store `SIPSIM_STATE_URL` names: Redis, memory, or (unset) the embedded one. Nothing is opened or
    connected before first use, so a server whose store is broken still answers reads."""
    url = settings.state_url
    if url == MEMORY_URL:
        from .memory import MemoryStore

        return MemoryStore()
    if url:
        from .remote import RedisStore

        return RedisStore(url)
    from .embedded import EmbeddedStore

    return EmbeddedStore(state_directory(settings.state_dir) / "state.db")
