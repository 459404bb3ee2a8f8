"""Calls as they happen: after the data set's anchor, the simulator places calls (incoming ones ring the
members of a line, are answered or missed, end; outgoing ones too), adds each to `GET /calls` when it ends,
and POSTs every enabled event to a receiver as SIPSIM does: signed (`X-Webhook-Signature`, hex HMAC-SHA256
of "{X-Webhook-Timestamp}.{body}") with the secret it shares with the receiver, a 2 s timeout.

A fault switch makes deliveries misbehave as networks do: `duplicate` (one event delivered twice),
`out_of_order` (held back until the call's next event has gone), `bad_signature` (a forged copy signed with
another secret). Tests also deliver payloads of their own (`send`, `burst`) with real HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from .config import JSON, LiveConfig
from .dataset import iso
from .transcripts import make_summary, make_transcript

if TYPE_CHECKING:
    from .state import SandboxState

T = TypeVar("T")

#: SIPSIM's delivery timeout: a slower answer is a failed delivery.
DELIVERY_TIMEOUT = 2.0
_INBOUND_LINES = (103, 101, 104, 105)
_OUTGOING_LINES = (101, 103, 102, 105, 104)


@dataclass(frozen=True)
class Delivery:
    """One POST to the receiver: what it carried, its answer (None: none within 2 s), how long it took, and
    when it was told to come back (Retry-After)."""

    kind: str
    payload: JSON
    status: int | None
    seconds: float
    fault: str | None = None
    retry_after: str | None = None


@dataclass
class _Call:
    pbx_id: str
    held: list[tuple[str, JSON]] = field(default_factory=list)


def extension(employee_id: int) -> str:
    """The device extension of an employee, as chain-member events name it."""
    return str(200 + employee_id)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class LiveCalls:
    """The live side of one simulator: a thread with its own event loop places calls and delivers events."""

    def __init__(self, state: SandboxState, config: LiveConfig) -> None:
        self.state = state
        self.config = config
        self.url = config.url
        self.deliveries: list[Delivery] = []
        self.placed: list[str] = []
        self._rng = random.Random(config.seed)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._client: httpx.AsyncClient | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self._posting: set[asyncio.Future[Delivery]] = set()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._started = time.monotonic()
        data = state.data
        if config.events is not None:
            with state.lock:
                data.webhooks_enabled[:] = list(config.events)
                if config.url:
                    data.webhook_url = config.url
        self._callers = [c["caller_number"] for c in data.calls if c["direction"] == "inbound"] or ["+33612345678"]
        self._dialled = [c["receiver_number"] for c in data.calls if c["direction"] == "outgoing"] or ["+33612345678"]
        self._names = {c["caller_number"]: c["caller_name"] for c in data.calls if c["caller_name"]}
        self._pbx_ids = {c["pbx_id"] for c in data.calls}

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> LiveCalls:
        """Start placing calls (at `config.rate`) and accepting deliveries; returns once ready."""
        if self._thread is None:
            self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="sipsim-live", daemon=True)
            self._thread.start()
            self._ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop placing calls; calls in progress are dropped (idempotent)."""
        thread, loop, stop = self._thread, self._loop, self._stop
        self._thread = None
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)

    def point_at(self, url: str | None) -> None:
        """Deliver to `url` from now on (None: deliver nothing)."""
        self.url = url
        with self.state.lock:
            self.state.data.webhook_url = url

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=DELIVERY_TIMEOUT, limits=limits) as client:
            self._client = client
            self._ready.set()
            arrivals = asyncio.ensure_future(self._arrivals())
            await self._stop.wait()
            arrivals.cancel()
            for task in self._calls:
                task.cancel()
            await asyncio.gather(arrivals, *self._calls, return_exceptions=True)
            await asyncio.gather(*self._posting, return_exceptions=True)  # a delivery under way is finished

    def _run(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        if self._loop is None or self._thread is None:
            coroutine.close()
            raise RuntimeError("live calls are not started: call start() first")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # -- what tests and demos call ---------------------------------------------------

    def now(self) -> datetime:
        """The simulator's clock, never before the data set's anchor (live calls come after it)."""
        return max(self.state.clock(), self.state.data.anchor + timedelta(seconds=1))

    def send(
        self, payload: JSON, *, timestamp: int | None = None, secret: str | None = None, body: bytes | None = None
    ) -> Delivery:
        """POST one payload now, signed with the shared secret (or `secret`) at `timestamp` (default: now)."""
        return self._run(self._post(payload, timestamp=timestamp, secret=secret, body=body), 30)

    def burst(self, payloads: Iterable[JSON], concurrency: int = 50) -> list[Delivery]:
        """POST every payload, `concurrency` at a time; each delivery's answer and time, in payload order."""
        return self._run(self._burst(list(payloads), concurrency), 600)

    def place_call(self, *, inbound: bool = True, answered: bool = True) -> str:
        """Start one call now (it rings, is answered or not, ends in the background); its pbx_id."""
        rng = random.Random(self._rng.getrandbits(64))
        pbx = self._pbx(rng)
        script = self._inbound(rng, pbx, answered) if inbound else self._outgoing(rng, pbx, answered)
        self._run(self._spawn(script), 10)
        return pbx

    # -- calls -----------------------------------------------------------------------

    async def _spawn(self, script: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(script)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)

    async def _arrivals(self) -> None:
        rate = self.config.rate
        if rate <= 0:
            return
        while True:
            rng = random.Random(self._rng.getrandbits(64))
            pbx = self._pbx(rng)
            inbound = rng.random() < 0.65
            answered = rng.random() < (0.75 if inbound else 0.7)
            await self._spawn(self._inbound(rng, pbx, answered) if inbound else self._outgoing(rng, pbx, answered))
            await self._sleep(rng.expovariate(rate / 60.0))

    def _pbx(self, rng: random.Random) -> str:
        with self._lock:
            while (pbx := f"call_{rng.getrandbits(32):08x}") in self._pbx_ids:
                pass
            self._pbx_ids.add(pbx)
            self.placed.append(pbx)
        return pbx

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.config.pace)

    def _line(self, rng: random.Random, choices: tuple[int, ...]) -> tuple[JSON, list[int]]:
        data = self.state.data
        with self.state.lock:
            active = [data.phone(i) for i in choices]
            lines = [p for p in active if p is not None and p["status"] == "active"] or data.phones[:1]
            phone = dict(rng.choice(lines))
            members = sorted(e for e, on in data.employee_phones.items() if phone["id"] in on) or [1]
        return phone, members

    async def _inbound(self, rng: random.Random, pbx: str, answered: bool) -> None:
        phone, members = self._line(rng, _INBOUND_LINES)
        caller = rng.choice(self._callers) if rng.random() < 0.85 else "+336" + f"{rng.randrange(10**8):08d}"
        call = _Call(pbx)
        base = {"caller": caller, "receiver": phone["number"], "pbx_id": pbx}
        started = self.now()
        await self._emit(call, "incoming_call_start", base)
        await self._sleep(0.5)
        for member in members:
            await self._emit(call, "incoming_call_start_chain_member_call", {**base, "receiver": extension(member)})
        who = rng.choice(members)
        if answered:
            await self._sleep(rng.uniform(4, 18))
            for member in members:
                if member != who:
                    leg = {**base, "receiver": extension(member), "status": "NOANSWER"}
                    await self._emit(call, "incoming_call_end_chain_member_call", leg)
            await self._emit(call, "incoming_call_answer", {**base, "receiver": extension(who)})
            answered_at = self.now()
            duration = round(rng.uniform(20, 150))
            await self._sleep(duration)
            status = "ANSWER"
        else:
            await self._sleep(rng.uniform(12, 40))
            for member in members:
                await self._emit(call, "incoming_call_end_chain_member_call", {**base, "receiver": extension(member)})
            answered_at, duration = None, 0
            status = rng.choice(("MISSED", "MISSED", "MISSED", "NOANSWER", "BUSY"))
        recorded = answered and phone["record_setting"]["record_inbound_call"]
        audio = f"https://app.sipsim.com/recordings/{pbx}.mp3" if recorded else None
        end = {**base, "duration": duration, "audio_path": audio, "status": status}
        await self._emit(call, "incoming_call_end", end)
        voicemail = not answered and phone["voicemail_setting"]["allow_voicemail"] and rng.random() < 0.3
        record = self._history(
            pbx, phone, "inbound", caller, phone["number"], started, answered_at, duration, status,
            who if answered else None, audio, voicemail,
        )  # fmt: skip
        await self._flush(call)
        if voicemail:
            await self._sleep(rng.uniform(5, 15))
            url = f"https://app.sipsim.com/voicemails/{pbx}.mp3"
            await self._emit(call, "voicemail", {**base, "duration": round(rng.uniform(8, 40)), "audio_path": url})
            await self._flush(call)
        if recorded and rng.random() < 0.35:
            await self._after_call(rng, call, record)

    async def _outgoing(self, rng: random.Random, pbx: str, answered: bool) -> None:
        phone, members = self._line(rng, _OUTGOING_LINES)
        who = rng.choice(members)
        destination = rng.choice(self._dialled)
        call = _Call(pbx)
        base = {"caller": phone["outbound_setting"]["outbound_number"], "receiver": destination, "pbx_id": pbx}
        started = self.now()
        await self._emit(call, "outgoing_call_start", base)
        if answered:
            await self._sleep(rng.uniform(4, 15))
            await self._emit(call, "outgoing_call_answer", base)
            answered_at = self.now()
            duration = round(rng.uniform(20, 150))
            await self._sleep(duration)
            status = "ANSWER"
        else:
            await self._sleep(rng.uniform(15, 40))
            answered_at, duration = None, 0
            status = rng.choice(("NOANSWER", "NOANSWER", "BUSY"))
        recorded = answered and phone["record_setting"]["record_outbound_call"]
        audio = f"https://app.sipsim.com/recordings/{pbx}.mp3" if recorded else None
        await self._emit(
            call, "outgoing_call_end", {**base, "duration": duration, "audio_path": audio, "status": status}
        )
        record = self._history(
            pbx, phone, "outgoing", base["caller"], destination, started, answered_at, duration, status, who,
            audio, False,
        )  # fmt: skip
        await self._flush(call)
        if recorded and rng.random() < 0.35:
            await self._after_call(rng, call, record)

    def _history(
        self,
        pbx: str,
        phone: JSON,
        direction: str,
        caller: str,
        receiver: str,
        started: datetime,
        answered_at: datetime | None,
        duration: int,
        status: str,
        employee: int | None,
        audio: str | None,
        voicemail: bool,
    ) -> JSON:
        """Add the ended call to `GET /calls` (its REST id is given now, in the order calls end)."""
        data = self.state.data
        inbound = direction == "inbound"
        kind = (
            "outgoing" if not inbound else ("inbound" if status == "ANSWER" else "voicemail" if voicemail else "missed")
        )
        ended = self.now()
        with self.state.lock:
            employee_row = data.employee(employee) if employee is not None else None
            record: JSON = {
                "id": data.next_call_id,
                "pbx_id": pbx,
                "direction": direction,
                "call_type": kind,
                "status": status,
                "start_time": iso(started),
                "answer_time": iso(answered_at) if answered_at else None,
                "end_time": iso(ended),
                "duration": duration,
                "wait_time": max(0, round(((answered_at or ended) - started).total_seconds())),
                "caller_number": caller,
                "caller_name": self._names.get(caller) if inbound else None,
                "receiver_number": receiver,
                "phone_id": phone["id"],
                "phone_name": phone["name"],
                "employee_id": employee,
                "employee_name": employee_row["name"] if employee_row else None,
                "tags": [],
                "recording_url": audio,
                "voicemail_url": f"https://app.sipsim.com/voicemails/{pbx}.mp3" if voicemail else None,
            }
            data.next_call_id += 1
            data.add_call(record)
        return record

    async def _after_call(self, rng: random.Random, call: _Call, record: JSON) -> None:
        """The transcript, then the summary, of a recorded call: stored for the REST API and delivered."""
        data = self.state.data
        await self._sleep(rng.uniform(10, 30))
        with self.state.lock:
            segments = make_transcript(record, str(data.account["company_name"]))
            data.transcriptions[record["id"]] = {
                "call_id": record["id"],
                "speech_state": "speech_recognized",
                "payload": segments,
                "ready_at": 0.0,
            }
        spoken = [
            {
                **{k: s[k] for k in ("text", "start", "end")},
                "start_sec": s["start"],
                "channel": ("left", "right")[s["channel"]],
            }
            for s in segments
        ]
        await self._emit(call, "speech", {"call_id": record["id"], "speech_state": "speech_stored", "payload": spoken})
        await self._sleep(rng.uniform(5, 15))
        with self.state.lock:
            summary = {
                "id": data.next_summary_id,
                "call_id": record["id"],
                "summary": make_summary(record),
                "status": "done",
                "created_at": iso(self.now()),
                "ready_at": 0.0,
            }
            data.next_summary_id += 1
            data.summaries[record["id"]] = summary
        await self._emit(call, "summary", {k: summary[k] for k in ("id", "summary", "call_id")})
        await self._flush(call)

    # -- deliveries ------------------------------------------------------------------

    def _fault(self, name: str) -> bool:
        return name in self.config.faults and self._rng.random() < self.config.fault_share

    async def _emit(self, call: _Call, kind: str, fields: JSON) -> None:
        """Deliver one event of `call` (only when it is enabled), with the faults switched on."""
        with self.state.lock:
            enabled = kind in self.state.data.webhooks_enabled
        if not enabled or not self.url:
            return
        payload = fields if kind in ("speech", "summary") else {"event": kind, **fields, "time": iso(self.now())}
        if self._fault("out_of_order") and not call.held:
            call.held.append((kind, payload))  # goes after this call's next event
            return
        await self._post(payload)
        await self._flush(call)
        if self._fault("duplicate"):
            await self._post(payload, fault="duplicate")
        if self._fault("bad_signature"):
            forged = {**payload, "pbx_id": "forged_" + call.pbx_id} if "pbx_id" in payload else {**payload, "forged": 1}
            await self._post(forged, secret=secrets.token_hex(16), fault="bad_signature")

    async def _flush(self, call: _Call) -> None:
        held, call.held = call.held, []
        for _, payload in held:
            await self._post(payload, fault="out_of_order")

    async def _post(self, payload: JSON, **options: Any) -> Delivery:
        """Deliver one payload; a call stopped meanwhile does not cut a delivery short (it is recorded)."""
        posting = asyncio.ensure_future(self._deliver(payload, **options))
        self._posting.add(posting)
        posting.add_done_callback(self._posting.discard)
        return await asyncio.shield(posting)

    async def _deliver(
        self,
        payload: JSON,
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        body: bytes | None = None,
        fault: str | None = None,
    ) -> Delivery:
        assert self._client is not None
        raw = body if body is not None else json.dumps(payload, ensure_ascii=False).encode()
        stamp = str(timestamp if timestamp is not None else int(self.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Timestamp": stamp,
            "X-Webhook-Signature": sign(self.config.secret if secret is None else secret, stamp, raw),
        }
        kind = str(payload.get("event") or ("speech" if "speech_state" in payload else "summary"))
        started = time.perf_counter()
        status: int | None
        retry_after = None
        try:
            response = await self._client.post(self.url or "", content=raw, headers=headers)
            status, retry_after = response.status_code, response.headers.get("retry-after")
        except httpx.HTTPError:
            status = None
        delivery = Delivery(kind, payload, status, time.perf_counter() - started, fault, retry_after)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    async def _burst(self, payloads: list[JSON], concurrency: int) -> list[Delivery]:
        gate = asyncio.Semaphore(concurrency)

        async def one(payload: JSON) -> Delivery:
            async with gate:
                return await self._post(payload)

        return list(await asyncio.gather(*(one(p) for p in payloads)))
