"""The SIPSIM webhook receiver: an ASGI app for `POST /webhooks/sipsim` (mounted on the HTTP transport, or
served alone by `sipsim-mcp receive`).

Its authentication is the signature, not the MCP bearer token: `X-Webhook-Signature` must be the hex
HMAC-SHA256 of "{X-Webhook-Timestamp}.{raw body}" under one of the `SIPSIM_WEBHOOK_SECRET` secrets, and the
timestamp within `SIPSIM_WEBHOOK_MAX_AGE` seconds of this server's clock (a replayed delivery is refused).
A refused delivery gets 401 and a body that says nothing of what was sent or expected. A signed event is
stored first (a repeated delivery of one event is stored once, answered 200 all the same), answered, and
only then handed to `after` (notifications): SIPSIM counts a reply slower than 2 s as a failure. Requests
are size-limited (413), must arrive in time (408), and are rate-limited (429 with Retry-After); a store
that cannot take the event answers 503 so that SIPSIM delivers it again.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import anyio
from starlette.types import Receive, Scope, Send

from ..api.config import ConfigError, Settings
from ..api.events import Event, EventLog, EventLogUnavailable
from ..api.redact import REDACTOR
from ..api.webhooks import SIGNATURE_HEADER, TEST, TIMESTAMP_HEADER, dedup_key, kind_of, parse_timestamp, verify

logger = logging.getLogger(__name__)

#: Largest body accepted: SIPSIM's biggest event, a long call's transcript, is a few hundred KB.
MAX_EVENT_BYTES = 1024 * 1024
#: Seconds the store may take before the delivery is answered 503 (SIPSIM waits 2 s for the answer).
STORE_DEADLINE = 1.5
#: A burst of this many seconds' worth of `rate` is let through at once.
BURST_SECONDS = 10.0

After = Callable[[Event], Awaitable[None]]


class TokenBucket:
    """`rate` requests a second on average, bursts of up to `burst` at once."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens, self._at = burst, clock()

    def take(self) -> float:
        """0 when a request may pass (and counts it), else the seconds until one may."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


class _Quiet:
    """Logs a warning for a reason at most once a minute, saying how many more there were."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int]] = {}

    def warn(self, reason: str, message: str) -> None:
        now = time.monotonic()
        last, skipped = self._last.get(reason, (-math.inf, 0))
        if now - last < 60:
            self._last[reason] = (last, skipped + 1)
            return
        more = f" ({skipped} more like it in the last minute)" if skipped else ""
        logger.warning("%s%s", message, more)
        self._last[reason] = (now, 0)


@dataclass(frozen=True)
class Outcome:
    """The answer to one delivery; `event` when it was stored (not for a duplicate)."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    event: Event | None = None


def _answer(
    status: int, payload: dict[str, object], *headers: tuple[bytes, bytes], event: Event | None = None
) -> Outcome:
    return Outcome(status, json.dumps(payload, separators=(",", ":")).encode(), headers, event)


REFUSED = _answer(401, {"error": "signature refused"})
DUPLICATE = _answer(200, {"ok": True, "duplicate": True})
_OK, _TEST = _answer(200, {"ok": True}).body, _answer(200, {"ok": True, "test": True}).body


class WebhookReceiver:
    """The receiver: call it as an ASGI app, for POSTs only (any path: route it where it belongs)."""

    def __init__(
        self,
        log: EventLog,
        secrets: Sequence[bytes],
        *,
        clock: Callable[[], float] = time.time,
        max_age: float = 300.0,
        rate: float = 100.0,
        read_timeout: float = 30.0,
        max_bytes: int = MAX_EVENT_BYTES,
        after: After | None = None,
    ) -> None:
        if not secrets:
            raise ConfigError("the webhook receiver needs at least one signing secret (SIPSIM_WEBHOOK_SECRET)")
        self.log = log
        self._secrets = tuple(secrets)
        self._clock = clock
        self._max_age = max_age
        self._bucket = TokenBucket(rate, max(1.0, rate * BURST_SECONDS))
        self._read_timeout = read_timeout
        self._max_bytes = max_bytes
        self._after = after
        self._quiet = _Quiet()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _send(send, _answer(405, {"error": "POST only"}, (b"allow", b"POST")))
            return
        wait = self._bucket.take()
        if wait:
            self._quiet.warn("rate", "Webhook refused: more deliveries than SIPSIM_WEBHOOK_RATE_LIMIT allows (429)")
            await _send(send, _answer(429, {"error": "too many requests"}, (b"retry-after", b"%d" % math.ceil(wait))))
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self._max_bytes:
            await _send(send, _answer(413, {"error": "body too large"}))
            return
        body = await self._body(receive)
        if isinstance(body, Outcome):
            await _send(send, body)
            return
        if body is None:
            return  # the client went away
        outcome = await self.handle(
            headers.get(SIGNATURE_HEADER.encode()), headers.get(TIMESTAMP_HEADER.encode()), body
        )
        await _send(send, outcome)
        if outcome.event is not None and self._after is not None:
            try:
                await self._after(outcome.event)
            except Exception:
                logger.exception("Processing a stored webhook event failed (it is kept in the event log)")

    async def _body(self, receive: Receive) -> bytes | Outcome | None:
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(self._read_timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self._max_bytes:
                    return _answer(413, {"error": "body too large"})
                chunks.append(chunk)
                if not message.get("more_body"):
                    return b"".join(chunks)
        return _answer(408, {"error": "body not received in time"})

    async def handle(self, signature: bytes | None, timestamp: bytes | None, body: bytes) -> Outcome:
        """Check, dedupe and store one delivery (its raw body and signature headers); the answer."""
        if not signature or not timestamp or not verify(self._secrets, timestamp, body, signature):
            self._quiet.warn(
                "signature",
                "Webhook refused (401): its signature matches no SIPSIM_WEBHOOK_SECRET. If every delivery is "
                "refused, check that the signing secret was not regenerated in the SIPSIM dashboard.",
            )
            return REFUSED
        sent = parse_timestamp(timestamp)
        now = self._clock()
        if sent is None or abs(now - sent) > self._max_age:
            self._quiet.warn(
                "age",
                "Webhook refused (401): its X-Webhook-Timestamp is "
                + ("unreadable" if sent is None else f"{now - sent:+.0f} s from this server's clock")
                + f"; deliveries older or newer than SIPSIM_WEBHOOK_MAX_AGE ({self._max_age:.0f} s) are replays "
                "or a clock that is off.",
            )
            return REFUSED
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._quiet.warn("body", "Webhook refused (400): a signed delivery whose body is not a JSON object")
            return _answer(400, {"error": "body must be a JSON object"})
        kind = kind_of(payload)
        try:
            with anyio.fail_after(STORE_DEADLINE):
                event = await self.log.append(
                    kind, dedup_key(kind, payload, body), now, body.decode("utf-8", "replace")
                )
        except (EventLogUnavailable, TimeoutError) as exc:
            problem = str(exc) if isinstance(exc, EventLogUnavailable) else f"{self.log.description} too slow"
            self._quiet.warn("store", f"Webhook not stored, answered 503 for SIPSIM to deliver it again: {problem}")
            return _answer(503, {"error": "event store unavailable"}, (b"retry-after", b"5"))
        if event is None:
            logger.debug("Webhook %s delivered again: already stored", kind)
            return DUPLICATE
        logger.debug("Webhook %s stored at %s", kind, event.cursor)
        if kind == TEST:
            logger.info("SIPSIM test webhook received and verified")
            return Outcome(200, _TEST, event=event)
        return Outcome(200, _OK, event=event)


async def _send(send: Send, outcome: Outcome) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(outcome.body)), *outcome.headers]
    await send({"type": "http.response.start", "status": outcome.status, "headers": headers})
    await send({"type": "http.response.body", "body": outcome.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def receiver_from_settings(
    settings: Settings,
    log: EventLog,
    *,
    after: After | None = None,
    simulator: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> WebhookReceiver:
    """The receiver `settings` describe (secrets, replay window, rate, read deadline, clock: `clock`, else the
    settings'); a ConfigError when no signing secret is set. The secrets are scrubbed from every log line
    from now on."""
    secrets = settings.require_webhook_secrets()
    for secret in secrets:
        REDACTOR.add(secret)
    clock = clock or settings.clock(simulator=simulator)
    return WebhookReceiver(
        log,
        [secret.encode() for secret in secrets],
        clock=lambda: clock().timestamp(),
        max_age=settings.webhook_max_age,
        rate=settings.webhook_rate_limit,
        read_timeout=settings.mcp_read_timeout,
        after=after,
    )


def receiver_app(receiver: WebhookReceiver, path: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """An ASGI app serving `receiver` at `path` alone (404 elsewhere), for `sipsim-mcp receive`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") != path.rstrip("/"):
            await _send(send, _answer(404, {"error": "not found"}))
            return
        await receiver(scope, receive, send)

    return app
