"""Live calls from webhook events: what is ringing now, who answered, what just ended.

`read` turns a stored event into a `Reading` (every field read leniently: an unreadable one is None and
named in `unreadable`). `step` is the pure reducer of one call: the call so far and one event give the call
after it, whatever order events arrive in (an end before its start, a lost answer, a repeated ring); phases
only move forward. `step_after` does the same for what comes after a call (`speech`, `summary`, `rating`,
keyed by the REST `call_id`: the docs give no link between it and `pbx_id`). `reduce` folds events into a
`LiveState`; `liveness` says, at an instant, whether a call is ringing, in progress, ended, or stale (ringing
or talking for longer than a limit with no end seen: the end was lost, it is not live forever).

`LiveFeed` keeps one process's state in step with the shared event log. Text from callers (numbers, SMS,
transcripts, summaries) is kept as received: it is data, fenced where it is shown.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from ..api.events import Event, EventLog
from ..api.webhooks import SPEECH, SUMMARY, TEST

Phase = Literal["ringing", "in_progress", "ended"]
Liveness = Literal["ringing", "in_progress", "ended", "stale"]
PHASES: tuple[Phase, ...] = ("ringing", "in_progress", "ended")

#: Call-lifecycle events: the direction they tell and the phase they take a call to (at least).
LIFECYCLE: dict[str, tuple[Literal["inbound", "outgoing"], Phase]] = {
    "incoming_call_start": ("inbound", "ringing"),
    "incoming_call_start_chain_member_call": ("inbound", "ringing"),
    "incoming_call_end_chain_member_call": ("inbound", "ringing"),
    "incoming_call_answer": ("inbound", "in_progress"),
    "incoming_call_end": ("inbound", "ended"),
    "outgoing_call_start": ("outgoing", "ringing"),
    "outgoing_call_answer": ("outgoing", "in_progress"),
    "outgoing_call_end": ("outgoing", "ended"),
}
_START = {"inbound": "incoming_call_start", "outgoing": "outgoing_call_start"}
#: Events about a call (by `pbx_id`) that do not move its phase.
ABOUT_A_CALL = frozenset({"voicemail", "tags"})
#: Events that come after a call, keyed by the REST `call_id`.
AFTER_A_CALL = frozenset({SPEECH, SUMMARY, "rating"})


# --------------------------------------------------------------------------- reading an event


@dataclass(frozen=True)
class Reading:
    """One stored event, read. `at` is the event's own `time` (the test event's `timestamp`), or its arrival
    when that cannot be read; `payload` is the body as received."""

    cursor: str
    kind: str
    received_at: datetime
    at: datetime
    payload: dict[str, Any]
    pbx_id: str | None = None
    call_id: str | None = None
    caller: str | None = None
    receiver: str | None = None
    status: str | None = None
    duration: int | None = None
    audio_path: str | None = None
    tags: tuple[str, ...] | None = None
    unreadable: tuple[str, ...] = ()


def parse_instant(value: Any) -> datetime | None:
    """An aware datetime from ISO 8601 (`Z`, an offset, or none: UTC) or Unix seconds; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) != 6:  # Python 3.10 reads 3 or 6 digits only
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6].ljust(6, "0"), 1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _text(payload: dict[str, Any], name: str, unreadable: list[str]) -> str | None:
    value = payload.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    unreadable.append(name)
    return None


def read(event: Event) -> Reading:
    """`event` read leniently: a body that is not a JSON object is a Reading with `payload` empty."""
    received = datetime.fromtimestamp(event.received_at, timezone.utc)
    unreadable: list[str] = []
    try:
        payload = json.loads(event.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return Reading(event.cursor, event.kind, received, received, {}, unreadable=("body",))
    raw_time = payload.get("timestamp" if event.kind == TEST else "time")
    at = parse_instant(raw_time)
    if at is None:
        if raw_time is not None:
            unreadable.append("time")
        at = received
    duration = payload.get("duration")
    if duration is not None and not (isinstance(duration, int | float) and not isinstance(duration, bool)):
        try:
            duration = float(duration)
        except (TypeError, ValueError):
            unreadable.append("duration")
            duration = None
    tags = payload.get("tags")
    if tags is not None:
        if isinstance(tags, list) and all(isinstance(t, str) for t in tags):
            tags = tuple(tags)
        else:
            unreadable.append("tags")
            tags = None
    return Reading(
        cursor=event.cursor,
        kind=event.kind,
        received_at=received,
        at=at,
        payload=payload,
        pbx_id=_text(payload, "pbx_id", unreadable),
        call_id=_text(payload, "call_id", unreadable),
        caller=_text(payload, "caller", unreadable),
        receiver=_text(payload, "receiver", unreadable),
        status=_text(payload, "status", unreadable),
        duration=None if duration is None else round(duration),
        audio_path=_text(payload, "audio_path", unreadable),
        tags=tags,
        unreadable=tuple(unreadable),
    )


# --------------------------------------------------------------------------- one call


@dataclass(frozen=True)
class LiveCall:
    """A call as its events tell it. `phase` is None for a call known only from `tags` or `voicemail` (not
    seen live). `line` is the SIPSIM number; `party` the other side's."""

    pbx_id: str
    direction: Literal["inbound", "outgoing"] | None = None
    phase: Phase | None = None
    caller: str | None = None
    receiver: str | None = None
    started_at: datetime | None = None
    answered_at: datetime | None = None
    answered_by: str | None = None
    ended_at: datetime | None = None
    status: str | None = None
    duration: int | None = None
    recording: str | None = None
    voicemail: str | None = None
    voicemail_seconds: int | None = None
    tags: tuple[str, ...] | None = None
    tags_at: datetime | None = None
    ringing: tuple[str, ...] = ()
    rang_off: frozenset[str] = frozenset()
    seen: tuple[str, ...] = ()
    updated_at: datetime | None = None
    unreadable: tuple[str, ...] = ()

    @property
    def line(self) -> str | None:
        return self.caller if self.direction == "outgoing" else self.receiver

    @property
    def party(self) -> str | None:
        return self.receiver if self.direction == "outgoing" else self.caller

    @property
    def missing(self) -> tuple[str, ...]:
        """Lifecycle events a call in this phase should have had but did not (lost or still to come)."""
        if self.direction is None or self.phase is None:
            return ()
        prefix = "incoming" if self.direction == "inbound" else "outgoing"
        wanted = [f"{prefix}_call_start"]
        if self.phase == "ended":
            wanted.append(f"{prefix}_call_end")
        if self.phase == "in_progress" or (self.phase == "ended" and self.status == "ANSWER"):
            wanted.append(f"{prefix}_call_answer")
        return tuple(kind for kind in wanted if kind not in self.seen)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None or (b is not None and b > a) else a


def step(call: LiveCall | None, event: Reading) -> LiveCall:
    """The call after `event` (pure): phases only move forward, so an event arriving late fills in what it
    tells (who answered, when it started) without taking the call back; a start fixes the call's numbers."""
    call = call or LiveCall(pbx_id=event.pbx_id or "")
    kind = event.kind
    changes: dict[str, Any] = {
        "seen": (*call.seen, kind),
        "updated_at": _later(call.updated_at, event.at),
        "unreadable": tuple(dict.fromkeys((*call.unreadable, *event.unreadable))),
    }
    lifecycle = LIFECYCLE.get(kind)
    if lifecycle is not None:
        direction, phase = lifecycle
        current = -1 if call.phase is None else PHASES.index(call.phase)
        changes["direction"] = call.direction or direction
        changes["phase"] = PHASES[max(current, PHASES.index(phase))]
        changes["caller"] = call.caller or event.caller
        if kind.endswith("_call_start"):
            changes.update(caller=event.caller or call.caller, receiver=event.receiver or call.receiver)
            changes["started_at"] = event.at
        elif call.started_at is None or (_START[direction] not in call.seen and event.at < call.started_at):
            changes["started_at"] = event.at  # no start seen: the earliest event stands in for it
        if kind == "incoming_call_start_chain_member_call" and event.receiver:
            late = changes["phase"] != "ringing"  # answered or ended already: nobody rings any more
            if not late and event.receiver not in call.rang_off and event.receiver not in call.ringing:
                changes["ringing"] = (*call.ringing, event.receiver)
        elif kind == "incoming_call_end_chain_member_call" and event.receiver:
            changes["ringing"] = tuple(m for m in call.ringing if m != event.receiver)
            changes["rang_off"] = call.rang_off | {event.receiver}
        elif kind.endswith("_call_answer"):
            changes["answered_at"] = event.at
            if direction == "inbound":
                changes["answered_by"] = event.receiver or call.answered_by
            else:
                changes["receiver"] = call.receiver or event.receiver
            changes["ringing"] = ()
        elif kind.endswith("_call_end"):
            changes.update(ended_at=event.at, status=event.status, duration=event.duration, ringing=())
            changes["recording"] = event.audio_path
            changes["receiver"] = call.receiver or event.receiver
            if event.status == "ANSWER" and call.answered_at is None and event.duration is not None:
                changes["answered_at"] = event.at - timedelta(seconds=event.duration)
    elif kind == "voicemail":
        changes.update(voicemail=event.audio_path, voicemail_seconds=event.duration)
        changes["caller"] = call.caller or event.caller
        changes["receiver"] = call.receiver or event.receiver
    elif kind == "tags" and event.tags is not None and (call.tags_at is None or event.at >= call.tags_at):
        changes.update(tags=event.tags, tags_at=event.at)
    return replace(call, **changes)


def liveness(call: LiveCall, now: datetime, limits: LiveLimits) -> Liveness | None:
    """Where `call` stands at `now`: its phase, or `stale` when it rang or talked longer than `limits` allow
    with no end seen; None for a call not seen live."""
    if call.phase is None or call.phase == "ended":
        return call.phase
    since = call.answered_at if call.phase == "in_progress" else call.started_at
    limit = limits.call if call.phase == "in_progress" else limits.ring
    if since is not None and (now - since).total_seconds() > limit:
        return "stale"
    return call.phase


@dataclass(frozen=True)
class LiveLimits:
    """Seconds after which a call with no end is stale: ringing (`ring`), in progress (`call`)."""

    ring: float = 600.0
    call: float = 14_400.0


# --------------------------------------------------------------------------- after a call


@dataclass(frozen=True)
class AfterCall:
    """What arrived after a call (REST `call_id`): its transcript (`speech`), summary and quality rating, raw."""

    call_id: str
    speech_state: str | None = None
    transcript: tuple[dict[str, Any], ...] = ()
    summary: str | None = None
    summary_id: str | None = None
    rating: dict[str, Any] | None = None
    updated_at: datetime | None = None


def step_after(after: AfterCall | None, event: Reading) -> AfterCall:
    """`after` with `event` (speech, summary or rating) taken in (pure)."""
    after = after or AfterCall(call_id=event.call_id or "")
    payload = event.payload
    changes: dict[str, Any] = {"updated_at": _later(after.updated_at, event.received_at)}
    if event.kind == SPEECH:
        segments = payload.get("payload")
        changes["speech_state"] = payload.get("speech_state") if isinstance(payload.get("speech_state"), str) else None
        changes["transcript"] = tuple(s for s in segments if isinstance(s, dict)) if isinstance(segments, list) else ()
    elif event.kind == SUMMARY:
        text = payload.get("summary")
        changes.update(summary=text if isinstance(text, str) else None)
        changes["summary_id"] = None if payload.get("id") is None else str(payload.get("id"))
    else:
        names = ("overall_score", "criteria_scores", "highlights", "improvements")
        changes["rating"] = {name: payload[name] for name in names if name in payload}
    return replace(after, **changes)


# --------------------------------------------------------------------------- many calls


@dataclass
class LiveState:
    """Calls by `pbx_id`, after-call data by `call_id`, the last `test` event, and the cursor of the last
    event folded in."""

    calls: dict[str, LiveCall] = field(default_factory=dict)
    after: dict[str, AfterCall] = field(default_factory=dict)
    last_test: Reading | None = None
    cursor: str | None = None

    def fold(self, event: Reading) -> None:
        """Take one event in (the one place a state changes)."""
        self.cursor = event.cursor
        if event.kind in AFTER_A_CALL and event.call_id is not None:
            self.after[event.call_id] = step_after(self.after.pop(event.call_id, None), event)
        elif (event.kind in LIFECYCLE or event.kind in ABOUT_A_CALL) and event.pbx_id:
            self.calls[event.pbx_id] = step(self.calls.get(event.pbx_id), event)
        elif event.kind == TEST:
            self.last_test = event


def reduce(events: Iterable[Event | Reading], state: LiveState | None = None) -> LiveState:
    """A new state: `state` (untouched; None: empty) with `events` folded in, in order."""
    folded = LiveState(dict(state.calls), dict(state.after), state.last_test, state.cursor) if state else LiveState()
    for event in events:
        folded.fold(event if isinstance(event, Reading) else read(event))
    return folded


# --------------------------------------------------------------------------- one process's view


@dataclass(frozen=True)
class LiveView:
    """A call and where it stands now."""

    call: LiveCall
    liveness: Liveness


class LiveFeed:
    """This process's live state, kept in step with the event log (every process reading one log agrees).

    `refresh()` folds in what arrived since; `calls()` is ringing / in progress / stale now; `wait()` and
    `follow()` are for long polls and subscriptions. Ended calls are forgotten `keep` seconds after they end
    (their events stay in the log); after-call data beyond the newest `keep_after` calls too."""

    def __init__(
        self,
        log: EventLog,
        *,
        limits: LiveLimits | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        keep: float = 3600.0,
        keep_after: int = 2000,
    ) -> None:
        self.log = log
        self.limits = limits or LiveLimits()
        self.clock = clock
        self.state = LiveState()
        self._keep = keep
        self._keep_after = keep_after
        self._lock = asyncio.Lock()

    async def refresh(self) -> list[Reading]:
        """Fold in every event the log has past this feed's cursor; the new ones, oldest first."""
        async with self._lock:
            fresh: list[Reading] = []
            while True:
                batch = await self.log.read(self.state.cursor, 1000)
                for event in batch:
                    reading = read(event)
                    self.state.fold(reading)
                    fresh.append(reading)
                if len(batch) < 1000:
                    break
            if fresh:
                self._prune()
            return fresh

    def _prune(self) -> None:
        horizon = self.clock() - timedelta(seconds=self._keep)
        limits = self.limits
        old = [
            pbx
            for pbx, call in self.state.calls.items()
            if (call.updated_at or horizon) < horizon
            and (call.phase in (None, "ended") or liveness(call, self.clock(), limits) == "stale")
        ]
        for pbx in old:
            del self.state.calls[pbx]
        extra = len(self.state.after) - self._keep_after
        for call_id in list(self.state.after)[: max(0, extra)]:
            del self.state.after[call_id]

    def calls(self, now: datetime | None = None) -> list[LiveView]:
        """Calls ringing, in progress, or stale at `now` (default: the clock), the latest to start first."""
        now = now or self.clock()
        views = [
            LiveView(call, state) for call in self.state.calls.values() if (state := liveness(call, now, self.limits))
        ]
        live = [view for view in views if view.liveness != "ended"]
        return sorted(live, key=lambda view: view.call.started_at or now, reverse=True)

    def ended(self, since: datetime) -> list[LiveCall]:
        """Calls that ended at `since` or later, the latest to end first."""
        done = [c for c in self.state.calls.values() if c.phase == "ended" and c.ended_at and c.ended_at >= since]
        return sorted(done, key=lambda call: call.ended_at or since, reverse=True)

    def after_call(self, call_id: int | str) -> AfterCall | None:
        """The transcript, summary and rating that arrived for this REST call id, if any."""
        return self.state.after.get(str(call_id))

    async def recent(self, since: datetime, limit: int = 1000) -> list[Reading]:
        """Events received at `since` or later (the newest `limit`), read, oldest first."""
        return [read(event) for event in await self.log.recent(since.timestamp(), limit)]

    async def wait(self, after: str | None, seconds: float) -> list[Reading]:
        """Events after the cursor `after`, waiting up to `seconds` for one; the state is refreshed."""
        events = await self.log.wait(after, seconds)
        if events:
            await self.refresh()
        return [read(event) for event in events]

    async def follow(self, consumer: str | None = None, poll: float = 25.0) -> AsyncIterator[list[Reading]]:
        """Batches of new events, forever, each yielded once the state has taken it in. A named `consumer`
        resumes from the cursor it saved in the log (what arrived while it was away comes first)."""
        await self.refresh()
        cursor = (await self.log.load_cursor(consumer) if consumer else None) or self.state.cursor
        while True:
            events = await self.log.wait(cursor, poll)
            if not events:
                continue
            await self.refresh()
            yield [read(event) for event in events]
            cursor = events[-1].cursor
            if consumer:
                await self.log.save_cursor(consumer, cursor)
