"""SIPSIM webhook deliveries: the signature (hex HMAC-SHA256 of "{X-Webhook-Timestamp}.{raw body}"), the
event a body is, and the key a repeated delivery of the same event shares (SIPSIM may deliver one twice)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

SIGNATURE_HEADER = "x-webhook-signature"
TIMESTAMP_HEADER = "x-webhook-timestamp"

#: Events whose body carries no `event` field (docs, section 10.3): told apart by their fields.
SPEECH, SUMMARY, TEST, UNKNOWN = "speech", "summary", "test", "unknown"
#: Events that fire once per dial-chain member: the member (`receiver`) is part of what makes one unique.
PER_MEMBER = frozenset({"incoming_call_start_chain_member_call", "incoming_call_end_chain_member_call"})


def sign(secret: bytes, timestamp: bytes, body: bytes) -> str:
    """The signature SIPSIM sends: hex HMAC-SHA256 of `timestamp` "." `body` (the raw bytes, never re-encoded)."""
    return hmac.new(secret, timestamp + b"." + body, hashlib.sha256).hexdigest()


def verify(secrets: Sequence[bytes], timestamp: bytes, body: bytes, signature: bytes) -> bool:
    """Whether `signature` is the body's under any of `secrets` (rotation); every secret is tried, each with a
    constant-time compare, so the time taken says nothing of which one, or how much, matched."""
    given = signature.strip().lower()
    matches = [hmac.compare_digest(sign(secret, timestamp, body).encode(), given) for secret in secrets]
    return any(matches)


def parse_timestamp(value: bytes) -> float | None:
    """Unix seconds from `X-Webhook-Timestamp` (milliseconds are recognised), or None when it is not a number."""
    try:
        number = float(value.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    if number != number or number in (float("inf"), float("-inf")):  # NaN, infinities
        return None
    return number / 1000 if number > 100_000_000_000 else number


def kind_of(payload: dict[str, Any]) -> str:
    """The event a body is: its `event`, or `speech` / `summary` for those two (they carry none)."""
    event = payload.get("event")
    if isinstance(event, str) and event.strip():
        return event.strip()
    if event is None:
        if "speech_state" in payload or "payload" in payload:
            return SPEECH
        if "summary" in payload:
            return SUMMARY
    return UNKNOWN


def _part(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def dedup_key(kind: str, payload: dict[str, Any], body: bytes) -> str:
    """What a repeated delivery of one event shares, hashed: `event` + `pbx_id` as the docs advise; plus the
    member for per-member ring events (one per member of a call), the time and tag list for `tags` (one per
    change); `call_id` for speech, summary (and its id: a new summary is a new event) and rating; the
    sender, time and text for sms (no `pbx_id`); the dashboard's time for `test`. Anything else: its bytes."""
    get = payload.get
    pbx = get("pbx_id")
    if kind == SPEECH and get("call_id") is not None:
        parts = [kind, get("call_id")]
    elif kind == SUMMARY and get("call_id") is not None:
        parts = [kind, get("call_id"), get("id")]
    elif kind == "rating" and get("call_id") is not None:
        parts = [kind, get("call_id")]
    elif kind == "sms":
        parts = [kind, get("caller"), get("receiver"), get("time"), get("direction"), get("message")]
    elif kind == TEST:
        parts = [kind, pbx, get("timestamp")]
    elif kind == "tags" and pbx is not None:
        parts = [kind, pbx, get("time"), get("tags")]
    elif kind in PER_MEMBER and pbx is not None:
        parts = [kind, pbx, get("receiver")]
    elif kind != UNKNOWN and pbx is not None:
        parts = [kind, pbx]
    else:
        return hashlib.sha256(body).hexdigest()[:32]
    return hashlib.sha256("\x1f".join(_part(p) for p in parts).encode()).hexdigest()[:32]
