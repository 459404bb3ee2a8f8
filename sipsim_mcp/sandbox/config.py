"""Knobs of a sandbox (``SandboxConfig``, ``ClientSpec``) and the API vocabulary they use:
the OAuth scopes and webhook events, in documented order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JSON = dict[str, Any]

ALL_SCOPES: tuple[str, ...] = (
    "account.read",
    "calls.read",
    "calls.write",
    "calls.create",
    "calls.tags.write",
    "calls.transcription.read",
    "calls.transcription.write",
    "calls.summary.read",
    "calls.summary.write",
    "settings.read",
    "settings.write",
    "phones.read",
    "phones.write",
    "tags.read",
    "tags.write",
    "webhooks.read",
    "webhooks.write",
)

WEBHOOK_EVENTS: tuple[str, ...] = (
    "incoming_call_start",
    "incoming_call_start_chain_member_call",
    "incoming_call_end_chain_member_call",
    "incoming_call_answer",
    "incoming_call_end",
    "outgoing_call_start",
    "outgoing_call_answer",
    "outgoing_call_end",
    "voicemail",
    "tags",
    "speech",
    "summary",
    "sms",
    "rating",
)


def ordered_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """``scopes`` without duplicates, in ``ALL_SCOPES`` order (unknown ones dropped)."""
    wanted = set(scopes)
    return tuple(s for s in ALL_SCOPES if s in wanted)


@dataclass
class ClientSpec:
    """An API integration (OAuth client) known to the sandbox."""

    client_id: str
    client_secret: str
    scopes: frozenset[str] = frozenset(ALL_SCOPES)
    narrow_scopes: bool = False
    grant_types: frozenset[str] = frozenset({"client_credentials"})


@dataclass
class LiveConfig:
    """Calls as they happen (see live.py): `rate` calls a minute on average (0: only those placed by hand),
    each enabled event POSTed to `url` signed with `secret`; `faults` any of duplicate, out_of_order,
    bad_signature, each hitting `fault_share` of deliveries; `events` switched on at start (None: the data
    set's); `pace` multiplies every wait (0.01: a two-minute call is over in about a second)."""

    rate: float = 2.0
    url: str | None = None
    secret: str = field(default="", repr=False)
    faults: frozenset[str] = frozenset()
    fault_share: float = 0.25
    seed: int = 1
    events: tuple[str, ...] | None = WEBHOOK_EVENTS
    pace: float = 1.0

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown webhook faults {sorted(unknown)}: choose from {', '.join(FAULTS)}")


FAULTS = ("duplicate", "out_of_order", "bad_signature")


@dataclass
class SandboxConfig:
    """Knobs of a sandbox instance; identical configs give identical data sets. The data ends at `anchor`;
    without one, at midnight (Paris time) today, so the data stays the same for the whole day. Its clock
    starts at `now` (default: the system clock's); with `live`, calls happen after the anchor."""

    seed: int = 7
    calls: int = 5000
    days: int = 180
    anchor: datetime | None = None
    clients: list[ClientSpec] = field(default_factory=lambda: [ClientSpec("demo", "demo-secret")])
    token_ttl: int = 7200
    transcription_delay: float = 0.0
    summary_delay: float = 0.0
    webhook_url: str | None = "https://hooks.example.com/sipsim"
    variant: str = "standard"  # shape variant(s) of the answers, comma-separated (see variants.py)
    now: datetime | None = None
    live: LiveConfig | None = None
