"""Input field types shared by the tools: what each accepts, said in words a model acts on."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from ..api.models import WEBHOOK_EVENTS
from ..language.windows import parse_timezone


def _text(value: object) -> object:
    """Let a model pass 101 where a string is expected (ids, extensions)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _zone(value: str) -> str:
    """Refuse an unknown time zone before any request is made."""
    if value.strip():
        parse_timezone(value)
    return value


def _event(value: str) -> str:
    if value not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown webhook event; the events are: {', '.join(WEBHOOK_EVENTS)}")
    return value


#: Text that must say something: surrounding spaces are dropped, and blank is refused.
Stripped = StringConstraints(strip_whitespace=True, min_length=1)


class ToolInput(BaseModel):
    """Base of every tool's arguments: unknown arguments are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class NoInput(ToolInput):
    """A tool without arguments."""


CallId = Annotated[
    str,
    BeforeValidator(_text),
    Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Call id (from list_calls)"),
]
LineRef = Annotated[
    str,
    BeforeValidator(_text),
    Stripped,
    Field(
        min_length=1,
        max_length=100,
        description="Line name (e.g. 'Sales'), extension or id",
    ),
]
TagRef = Annotated[
    str,
    BeforeValidator(_text),
    Stripped,
    Field(min_length=1, max_length=100, description="Tag name (e.g. 'VIP') or id"),
]
EmployeeRef = Annotated[str, BeforeValidator(_text), Stripped, Field(min_length=1, max_length=100)]
TagName = Annotated[str, Stripped, Field(max_length=50)]
EventName = Annotated[
    str,
    Field(pattern=r"^[a-z_]{1,64}$", description="Event from list_webhook_events (e.g. outgoing_call_end)"),
    AfterValidator(_event),
]
PhoneNumber = Annotated[
    str,
    Field(
        min_length=3,
        max_length=40,
        description="Phone number, E.164 or as written (+33 6 12 34 56 78; national form with SIPSIM_DEFAULT_REGION)",
    ),
]
HexColor = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$", description="Colour as #RRGGBB")]
CallType = Literal["inbound", "outgoing", "missed", "voicemail"]

Since = Annotated[
    str | None,
    Field(
        max_length=100,
        description="Window start: today, yesterday, this_week, last_week, this_month, last_month, last_N_days, "
        "24h/7d/2w or an ISO 8601 date(-time). A period alone covers all of it (since='last_week': the whole week)",
    ),
]
Until = Annotated[
    str | None,
    Field(
        max_length=100,
        description="Window end, as since (a period: its end). Default: the end of since's period, or now",
    ),
]
Zone = Annotated[
    Annotated[str, Field(max_length=64), AfterValidator(_zone)] | None,
    Field(
        description="IANA time zone of the window and times (e.g. Europe/Paris). Default: SIPSIM_TIMEZONE",
    ),
]
Page = Annotated[
    str | None,
    Field(
        max_length=500,
        description="Page token from the last answer (repeat the other arguments)",
    ),
]
