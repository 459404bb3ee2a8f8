"""The embedded store (the default): one SQLite file, shared by every server process on this machine.

The file is opened on first use (created with its directory, readable by its owner only), in WAL mode
with every commit synced to disk. A claim is one `BEGIN IMMEDIATE` transaction (the write lock, taken
before reading the key): of several processes claiming a key at once, one inserts and the others read its
value. Expired rows are skipped when read and purged now and then. Calls run in a worker thread, so a
process waiting on another's lock never stalls its event loop.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from .store import Kind, StoreUnavailable, new_generation

T = TypeVar("T")

#: The schema, one entry per version (`PRAGMA user_version`): a new table is a new entry, never an edit.
SCHEMA: list[tuple[str, ...]] = [
    (
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL) WITHOUT ROWID",
        "CREATE INDEX kv_expires ON kv (expires)",
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
]
#: How long a process waits for another's write lock before the store counts as unavailable.
BUSY_SECONDS = 10.0
PURGE_EVERY = 60.0


class EmbeddedStore:
    """State in a SQLite file (`state.db` in the state directory)."""

    kind: Kind = "embedded"
    reach = "every server process on this machine, across restarts"

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.description = f"embedded SQLite at {path}"
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._generation = ""
        self._secrets: dict[str, bytes] = {}
        self._purged = 0.0
        self._lock = threading.Lock()

    # -- the file ----------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        """The connection, opened (and the file created and migrated) on first use. Under the lock."""
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))  # its owner's alone, before SQLite writes
        db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            with _transaction(db):
                version = db.execute("PRAGMA user_version").fetchone()[0]
                for number, statements in enumerate(SCHEMA[version:], start=version + 1):
                    for statement in statements:
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {number}")
                db.execute("INSERT OR IGNORE INTO meta VALUES ('generation', ?)", (new_generation(),))
                self._generation = db.execute("SELECT value FROM meta WHERE name = 'generation'").fetchone()[0]
        except BaseException:
            db.close()
            raise
        self._db = db
        return db

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return work(self._open())
            except (sqlite3.Error, OSError) as exc:
                raise StoreUnavailable(
                    f"the state store ({self.description}) cannot be used ({type(exc).__name__}: {exc}); set "
                    "SIPSIM_STATE_DIR to a writable directory"
                ) from None

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await anyio.to_thread.run_sync(partial(self._run, work))

    # -- the protocol ------------------------------------------------------------------------------

    async def claim(self, key: str, value: str, ttl: float) -> str | None:
        def claim(db: sqlite3.Connection) -> str | None:
            now = self._clock()
            with _transaction(db):
                self._purge(db, now)
                row = db.execute("SELECT value FROM kv WHERE key = ? AND expires > ?", (key, now)).fetchone()
                if row is not None:
                    return str(row[0])
                db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, value, now + ttl))
                return None

        return await self._call(claim)

    async def put(self, key: str, value: str, ttl: float) -> None:
        def put(db: sqlite3.Connection) -> None:
            now = self._clock()
            with _transaction(db):
                self._purge(db, now)
                db.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, value, now + ttl))

        await self._call(put)

    async def get(self, key: str) -> str | None:
        def get(db: sqlite3.Connection) -> str | None:
            row = db.execute("SELECT value FROM kv WHERE key = ? AND expires > ?", (key, self._clock())).fetchone()
            return None if row is None else str(row[0])

        return await self._call(get)

    async def delete(self, key: str) -> None:
        await self._call(lambda db: db.execute("DELETE FROM kv WHERE key = ?", (key,)))

    async def generation(self) -> str:
        return await self._call(lambda db: self._generation)

    def secret(self, name: str) -> bytes:
        if name in self._secrets:  # without the lock: a seal in the event loop never waits on a claim
            return self._secrets[name]

        def read(db: sqlite3.Connection) -> bytes:
            if name not in self._secrets:
                db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (f"secret:{name}", secrets.token_hex(32)))
                row = db.execute("SELECT value FROM meta WHERE name = ?", (f"secret:{name}",)).fetchone()
                self._secrets[name] = bytes.fromhex(row[0])
            return self._secrets[name]

        return self._run(read)

    async def check(self) -> None:
        def check(db: sqlite3.Connection) -> None:
            with _transaction(db):  # takes the write lock: a read-only file or a full disk fails here
                db.execute("DELETE FROM kv WHERE key = ''")

        await self._call(check)

    async def aclose(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _purge(self, db: sqlite3.Connection, now: float) -> None:
        if now - self._purged >= PURGE_EVERY:
            db.execute("DELETE FROM kv WHERE expires <= ?", (now,))
            self._purged = now


class _transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT` (or `ROLLBACK` on an error): the write lock for the whole block."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
