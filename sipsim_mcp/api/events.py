"""The event log: every webhook SIPSIM delivered, in arrival order, each kept once (a repeated delivery of the
same event within `DEDUP_SECONDS` is refused atomically with the append), bounded to the newest `keep`.

Three stores behind one interface (`EventLog`): in memory (one process), SQLite (a file: every process on one
machine, such as `sipsim-mcp receive` beside a stdio server), Redis Streams (every replica). Positions are
opaque cursors: read on from one, or wait for what comes after it; a named consumer can keep its cursor in
the store to resume after a restart. Bodies are kept as received (caller text is data, shown fenced)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import anyio

#: How long a delivered event's key is remembered (the SIPSIM docs' example caches it for an hour).
DEDUP_SECONDS = 3600.0
#: Events kept by default; older ones are dropped as new ones arrive.
KEEP = 10_000


class EventLogUnavailable(Exception):
    """The event store cannot be reached; the message says which and what to check."""


@dataclass(frozen=True)
class Event:
    """One stored delivery: where it sits, what it is, when it arrived (Unix seconds), its raw JSON body."""

    cursor: str
    kind: str
    key: str
    received_at: float
    body: str


class EventLog(Protocol):
    """Where webhook events are kept; every method may raise EventLogUnavailable."""

    description: str

    async def append(self, kind: str, key: str, received_at: float, body: str) -> Event | None:
        """Keep an event, or None when an event with this key was kept within DEDUP_SECONDS (a duplicate)."""
        ...

    async def read(self, after: str | None = None, limit: int = 1000) -> list[Event]:
        """Up to `limit` events after the cursor `after` (None: from the oldest kept), oldest first."""
        ...

    async def wait(self, after: str | None, seconds: float, limit: int = 1000) -> list[Event]:
        """As `read`, but when there is nothing yet, wait up to `seconds` for something to arrive."""
        ...

    async def recent(self, since: float, limit: int = 1000) -> list[Event]:
        """The newest `limit` events received at `since` (Unix seconds) or later, oldest first."""
        ...

    async def load_cursor(self, consumer: str) -> str | None:
        """The cursor `consumer` saved last, or None."""
        ...

    async def save_cursor(self, consumer: str, cursor: str) -> None: ...

    async def check(self) -> None:
        """Raise EventLogUnavailable unless the store answers."""
        ...

    async def aclose(self) -> None: ...


class _Wakeups:
    """Wakes the tasks waiting for new events, whichever thread and event loop each waits in."""

    def __init__(self) -> None:
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()

    def notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    async def sleep(self, seconds: float) -> None:
        """Sleep up to `seconds`, less if `notify` is called meanwhile."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        try:
            with anyio.move_on_after(seconds):
                await waiter[1].wait()
        finally:
            with self._lock:
                self._waiters.discard(waiter)


async def _wait_by_polling(
    log: EventLog, wakeups: _Wakeups, after: str | None, seconds: float, limit: int, poll: float
) -> list[Event]:
    deadline = time.monotonic() + seconds
    while True:
        events = await log.read(after, limit)
        left = deadline - time.monotonic()
        if events or left <= 0:
            return events
        await wakeups.sleep(min(poll, left))


class MemoryEventLog:
    """Events of this process only (lost on restart): tests, and one process that receives and serves."""

    description = "memory (this process only)"

    def __init__(self, keep: int = KEEP, clock: Callable[[], float] = time.time) -> None:
        self._events: deque[Event] = deque(maxlen=keep)
        self._seen: dict[str, float] = {}
        self._cursors: dict[str, str] = {}
        self._next = 1
        self._clock = clock
        self._lock = threading.Lock()
        self._wakeups = _Wakeups()

    async def append(self, kind: str, key: str, received_at: float, body: str) -> Event | None:
        now = self._clock()
        with self._lock:
            if self._seen.get(key, 0.0) > now:
                return None
            if len(self._seen) > 4 * KEEP:
                self._seen = {k: until for k, until in self._seen.items() if until > now}
            self._seen[key] = now + DEDUP_SECONDS
            event = Event(str(self._next), kind, key, received_at, body)
            self._next += 1
            self._events.append(event)
        self._wakeups.notify()
        return event

    async def read(self, after: str | None = None, limit: int = 1000) -> list[Event]:
        position = int(after) if after else 0
        with self._lock:
            if not self._events:
                return []
            start = max(0, position + 1 - int(self._events[0].cursor))  # cursors are consecutive numbers
            return list(islice(self._events, start, start + limit))

    async def wait(self, after: str | None, seconds: float, limit: int = 1000) -> list[Event]:
        return await _wait_by_polling(self, self._wakeups, after, seconds, limit, poll=seconds)

    async def recent(self, since: float, limit: int = 1000) -> list[Event]:
        with self._lock:
            found = [e for e in self._events if e.received_at >= since]
        return found[-limit:]

    async def load_cursor(self, consumer: str) -> str | None:
        return self._cursors.get(consumer)

    async def save_cursor(self, consumer: str, cursor: str) -> None:
        self._cursors[consumer] = cursor

    async def check(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, key TEXT NOT NULL,
    received REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_received ON events (received);
CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (consumer TEXT PRIMARY KEY, cursor TEXT NOT NULL);
"""


def _settle(settled: list[tuple[asyncio.Future[Event | None], Event | Exception | None]]) -> None:
    for done, outcome in settled:
        if done.done():  # its caller gave up waiting: the event is stored all the same
            continue
        if isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)


class SqliteEventLog:
    """Events in a SQLite file (WAL): shared by every process on this machine, kept across restarts. Appends
    go to one writer thread, which commits those that arrive together in one transaction."""

    #: Seconds between looks for events another process appended (this process's own wake waiters at once).
    POLL = 0.25

    def __init__(self, path: str | Path, keep: int = KEEP, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.description = f"the SQLite file {self.path}"
        self._keep = keep
        self._clock = clock
        self._lock = threading.Lock()
        self._wakeups = _Wakeups()
        self._appended = 0
        self._pending: list[Any] = []
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: a commit survives the process, kill -9 included
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise self._down(exc) from None

    def _down(self, exc: Exception) -> EventLogUnavailable:
        return EventLogUnavailable(f"the event store ({self.description}) cannot be used: {exc}")

    async def _run(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        def locked() -> Any:
            with self._lock:
                return work(self._db)

        try:
            return await anyio.to_thread.run_sync(locked)
        except sqlite3.Error as exc:
            raise self._down(exc) from None

    async def append(self, kind: str, key: str, received_at: float, body: str) -> Event | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Event | None] = loop.create_future()
        with self._lock:
            if self._writer is None:
                self._writer = threading.Thread(target=self._write, name="sipsim-events-writer", daemon=True)
                self._writer.start()
            self._pending.append((kind, key, received_at, body, loop, done))
            first = len(self._pending) == 1
        if first:  # what the loop appends before it gets to this goes to the writer in one hand-over
            loop.call_soon(self._hand_over)
        event = await done
        if event is not None:
            self._wakeups.notify()
        return event

    def _hand_over(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            self._queue.put(batch)

    def _write(self) -> None:
        """The writer thread: appends that wait are committed together, in one transaction (group commit)."""
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            while len(batch) < 500:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.extend(more)
            try:
                with self._lock:
                    outcomes: list[Event | Exception | None] = list(self._insert(batch))
            except sqlite3.Error as exc:
                outcomes = [self._down(exc)] * len(batch)
            by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
            for (*_, loop, done), outcome in zip(batch, outcomes, strict=True):
                by_loop.setdefault(loop, []).append((done, outcome))
            for loop, settled in by_loop.items():
                with contextlib.suppress(RuntimeError):  # its event loop has closed
                    loop.call_soon_threadsafe(_settle, settled)

    def _insert(self, batch: list[Any]) -> list[Event | None]:
        db, now, found = self._db, self._clock(), []
        db.execute("BEGIN IMMEDIATE")
        try:
            for kind, key, received_at, body, _, _ in batch:
                claimed = db.execute(
                    "INSERT INTO seen (key, until) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET until = excluded.until WHERE seen.until <= ?",
                    (key, now + DEDUP_SECONDS, now),
                ).rowcount
                event = None
                if claimed:
                    cursor = db.execute(
                        "INSERT INTO events (kind, key, received, body) VALUES (?, ?, ?, ?)",
                        (kind, key, received_at, body),
                    ).lastrowid
                    event = Event(str(cursor), kind, key, received_at, body)
                    self._appended += 1
                    if self._appended % 128 == 0:
                        db.execute("DELETE FROM events WHERE seq <= ?", (int(event.cursor) - self._keep,))
                        db.execute("DELETE FROM seen WHERE until <= ?", (now,))
                found.append(event)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return found

    async def read(self, after: str | None = None, limit: int = 1000) -> list[Event]:
        position = int(after) if after else 0
        rows = await self._run(
            lambda db: db.execute(
                "SELECT seq, kind, key, received, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (position, limit),
            ).fetchall()
        )
        return [Event(str(seq), kind, key, received, body) for seq, kind, key, received, body in rows]

    async def wait(self, after: str | None, seconds: float, limit: int = 1000) -> list[Event]:
        return await _wait_by_polling(self, self._wakeups, after, seconds, limit, poll=self.POLL)

    async def recent(self, since: float, limit: int = 1000) -> list[Event]:
        rows = await self._run(
            lambda db: db.execute(
                "SELECT seq, kind, key, received, body FROM events WHERE received >= ? ORDER BY seq DESC LIMIT ?",
                (since, limit),
            ).fetchall()
        )
        return [Event(str(seq), kind, key, received, body) for seq, kind, key, received, body in reversed(rows)]

    async def load_cursor(self, consumer: str) -> str | None:
        row = await self._run(
            lambda db: db.execute("SELECT cursor FROM cursors WHERE consumer = ?", (consumer,)).fetchone()
        )
        return None if row is None else str(row[0])

    async def save_cursor(self, consumer: str, cursor: str) -> None:
        await self._run(
            lambda db: db.execute(
                "INSERT INTO cursors (consumer, cursor) VALUES (?, ?) "
                "ON CONFLICT (consumer) DO UPDATE SET cursor = excluded.cursor",
                (consumer, cursor),
            )
        )

    async def check(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    async def aclose(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            await anyio.to_thread.run_sync(self._writer.join)
        with self._lock:
            self._db.close()


_APPEND = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
                    'k', ARGV[3], 'd', ARGV[4], 'r', ARGV[5], 'b', ARGV[6])
end
return false
"""


class RedisEventLog:
    """Events in a Redis Stream, bounded to about `keep` entries (MAXLEN ~): every replica reads the same
    events in the same order; the duplicate check and the append are one atomic script, and appends that
    arrive together share one round trip (a pipeline)."""

    #: Longest single blocking read; a longer wait is made of several (each within the socket timeout).
    BLOCK = 1.0

    def __init__(
        self, url: str, keep: int = KEEP, *, prefix: str = "sipsim-mcp:{events}", timeout: float = 2.0
    ) -> None:
        try:
            import redis
            import redis.asyncio
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise EventLogUnavailable(
                "the event store is Redis but the redis package is not installed: pip install 'sipsim-mcp[redis]'."
            ) from exc
        self._errors = (redis.RedisError, OSError)
        self._redis = redis.asyncio.Redis.from_url(
            url, socket_timeout=timeout + self.BLOCK, socket_connect_timeout=timeout, decode_responses=True
        )
        self._append = self._redis.register_script(_APPEND)
        self._stream, self._seen, self._cursors = f"{prefix}:stream", f"{prefix}:seen:", f"{prefix}:cursors"
        self._keep = keep
        self._pending: list[Any] = []
        self._flushing: set[asyncio.Future[None]] = set()
        self.description = f"the Redis Stream at {_safe_url(url)}"

    def _down(self, exc: Exception) -> EventLogUnavailable:
        return EventLogUnavailable(f"the event store ({self.description}) cannot be reached ({type(exc).__name__})")

    @staticmethod
    def _events(entries: Any) -> list[Event]:
        """Events from the [(id, {field: value})] an XRANGE (or one stream of an XREAD) answers."""
        return [Event(str(i), str(f["k"]), str(f["d"]), float(f["r"]), str(f["b"])) for i, f in entries or ()]

    async def append(self, kind: str, key: str, received_at: float, body: str) -> Event | None:
        done: asyncio.Future[Event | Exception | None] = asyncio.get_running_loop().create_future()
        self._pending.append((kind, key, received_at, body, done))
        if len(self._pending) == 1:  # what else arrives before this runs goes in the same round trip
            flushing = asyncio.ensure_future(self._flush())
            self._flushing.add(flushing)
            flushing.add_done_callback(self._flushing.discard)
        outcome = await done
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        outcomes: list[Event | Exception | None]
        try:
            pipe = self._redis.pipeline(transaction=False)
            for kind, key, received_at, body, _ in batch:
                args = [int(DEDUP_SECONDS * 1000), self._keep, kind, key, repr(received_at), body]
                await self._append(keys=[self._seen + key, self._stream], args=args, client=pipe)
            ids = await pipe.execute()
            outcomes = [
                None if entry_id is None else Event(str(entry_id), kind, key, received_at, body)
                for entry_id, (kind, key, received_at, body, _) in zip(ids, batch, strict=True)
            ]
        except self._errors as exc:
            outcomes = [self._down(exc)] * len(batch)
        for (*_, done), outcome in zip(batch, outcomes, strict=True):
            if not done.done():  # its caller gave up waiting: the event is stored all the same
                done.set_result(outcome)

    async def read(self, after: str | None = None, limit: int = 1000) -> list[Event]:
        try:
            entries = await self._redis.xrange(self._stream, min=f"({after}" if after else "-", count=limit)
        except self._errors as exc:
            raise self._down(exc) from None
        return self._events(entries)

    async def wait(self, after: str | None, seconds: float, limit: int = 1000) -> list[Event]:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            block = max(1, int(min(self.BLOCK, left) * 1000)) if left > 0 else None
            try:
                answer: Any = await self._redis.xread({self._stream: after or "0-0"}, count=limit, block=block)
            except self._errors as exc:
                raise self._down(exc) from None
            if answer:
                return self._events(answer[0][1])
            if block is None or time.monotonic() >= deadline:
                return []

    async def recent(self, since: float, limit: int = 1000) -> list[Event]:
        found: list[Event] = []
        top = "+"
        try:
            while len(found) < limit:
                entries = self._events(
                    await self._redis.xrevrange(self._stream, max=top, count=min(500, limit - len(found)))
                )
                if not entries:
                    break
                for event in entries:
                    if event.received_at < since:
                        return found[::-1]
                    found.append(event)
                top = f"({entries[-1].cursor}"
        except self._errors as exc:
            raise self._down(exc) from None
        return found[::-1]

    async def load_cursor(self, consumer: str) -> str | None:
        try:
            value: Any = await self._redis.hget(self._cursors, consumer)
        except self._errors as exc:
            raise self._down(exc) from None
        return None if value is None else str(value)

    async def save_cursor(self, consumer: str, cursor: str) -> None:
        try:
            await self._redis.hset(self._cursors, consumer, cursor)
        except self._errors as exc:
            raise self._down(exc) from None

    async def check(self) -> None:
        try:
            await self._redis.ping()
        except self._errors as exc:
            raise self._down(exc) from None

    async def aclose(self) -> None:
        await self._redis.aclose()


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def default_events_path() -> Path:
    """Where the event log lives by default: the user's state directory (XDG_STATE_HOME, or LOCALAPPDATA)."""
    base = os.environ.get("XDG_STATE_HOME") or os.environ.get("LOCALAPPDATA")
    root = Path(base) if base else Path.home() / ".local" / "state"
    return root / "sipsim-mcp" / "events.sqlite3"


def open_event_log(url: str | None, keep: int = KEEP) -> EventLog:
    """The log `url` names: `memory:`, `sqlite:///absolute/path`, `redis://...` (also rediss://, unix://);
    None: the SQLite file at `default_events_path()`."""
    if not url:
        return SqliteEventLog(default_events_path(), keep)
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryEventLog(keep)
    if scheme == "sqlite":
        path = unquote(urlsplit(url).path)
        path = "/" + path.lstrip("/") if path else path  # sqlite:///abs/path and sqlite:////abs/path alike
        if not path:
            raise EventLogUnavailable(f"a sqlite event store needs a file: sqlite:///absolute/path, got {url!r}")
        return SqliteEventLog(path, keep)
    if scheme in ("redis", "rediss", "unix"):
        return RedisEventLog(url, keep)
    raise EventLogUnavailable(f"unknown event store {url!r}: use memory:, sqlite:///path or redis://host:6379/0")
