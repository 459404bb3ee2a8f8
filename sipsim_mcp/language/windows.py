"""Time windows from the words people use ("last_week", "24h", "2026-11-03", ...).

Calendar boundaries are local midnights in the requested zone. A local time that does not exist
(DST gap) or occurs twice (DST fold) is read with ``fold=0`` and normalised through UTC: a time in a
gap maps to the instant the clock shows after it (02:30 on a spring-forward day becomes 03:30
summer time), a repeated time maps to its first occurrence. All instants are whole seconds, since
the SIPSIM API has second precision (``now`` and fractional inputs are truncated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator

from ..api.errors import UserError

__all__ = [
    "ACCEPTED_FORMS",
    "NAMED_PERIODS",
    "WEEKDAYS",
    "TimeWindow",
    "WindowError",
    "parse_timezone",
    "resolve_window",
]

MAX_SPAN = timedelta(days=3660)
"""Longest period or duration an expression may name (about ten years)."""

ACCEPTED_FORMS = (
    "Accepted forms (case-insensitive; spaces or '-' may replace '_'): "
    "named periods today, yesterday, this_week, last_week (weeks start on Monday), this_month, "
    "last_month, this_year, last_year; "
    "last_N_days / last_N_weeks / last_N_hours, e.g. last_7_days (today counts as one of the 7), "
    "last_2_weeks, last_24_hours; "
    "rolling durations ending now: 24h, 7d, 2w, '36 hours', '3 days', ISO 8601 P7D, PT24H, P2W; "
    "an ISO 8601 date for a whole local day: 2026-11-03; "
    "an ISO 8601 date-time, local unless an offset is given: 2026-11-03T14:00, 2026-11-03 14:00:00, "
    "2026-11-03T14:00Z, 2026-11-03T14:00+01:00; "
    "now (as until only)."
)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NAMED_PERIODS = (
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_year",
    "last_year",
)
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7}

_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)
_LAST_N_RE = re.compile(r"(?:last|past)_?(\d+)_?(days?|weeks?|hours?)")
_ROLLING_RE = re.compile(r"(\d+)_?(h|hrs?|hours?|d|days?|w|wks?|weeks?)")
_ISO_DURATION_RE = re.compile(r"p(?:(\d+)w)?(?:(\d+)d)?(?:t(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?)?")


class WindowError(UserError, ValueError):
    """A time window or zone the caller asked for cannot be used; the message says why and what works."""


class TimeWindow(BaseModel):
    """A resolved half-open window ``[since, until)``, echoed so the model and the user see it."""

    model_config = ConfigDict(frozen=True)

    since: datetime
    until: datetime
    timezone: str
    since_local: str
    until_local: str
    description: str

    @field_validator("since", "until")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must be timezone-aware")
        return value.astimezone(timezone.utc)

    @field_serializer("since", "until")
    def _serialize_utc(self, value: datetime) -> str:
        return _iso_z(value)

    def api_params(self) -> dict[str, str]:
        """SIPSIM query parameters; the API's ``end_time`` is inclusive with second precision."""
        end = self.until.replace(microsecond=0)
        if end == self.until:
            end -= timedelta(seconds=1)
        return {"start_time": _iso_z(self.since), "end_time": _iso_z(end)}


@dataclass(frozen=True)
class _Spec:
    """A parsed expression: a period ``[start, end)``, an instant, or ``now``."""

    text: str
    kind: str  # "period" | "instant" | "now"
    start: datetime | None = None
    end: datetime | None = None


def parse_timezone(name: str | None, default: str = "UTC") -> ZoneInfo:
    """Return the IANA zone ``name`` (blank or None means ``default``); WindowError if unknown."""
    key = (name or "").strip() or default
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    zones = _zone_names()
    exact = zones.get(key.lower().replace(" ", "_"))
    if exact is not None:
        return ZoneInfo(exact)
    import difflib  # only for a name that is not a zone (its import is a start-up cost otherwise)

    close = difflib.get_close_matches(key.lower(), list(zones), n=3, cutoff=0.7)
    hint = f" Did you mean {', '.join(zones[c] for c in close)}?" if close else ""
    raise WindowError(
        f"Unknown time zone {key!r}.{hint} Use an IANA zone name such as Europe/Paris, America/New_York or UTC."
    )


def resolve_window(
    since: str | None,
    until: str | None = None,
    *,
    tz: ZoneInfo,
    now: datetime,
    default: str = "last_7_days",
) -> TimeWindow:
    """Resolve ``since``/``until`` expressions, read in ``tz`` at ``now``, into a TimeWindow.

    A period (named, last_N_days/weeks, a date) as ``since`` starts at its start; alone it also ends
    at its end, or at now if it contains now. As ``until`` it means the end of that period (now if
    it contains now). Rolling durations mean now minus the duration; a date-time is that instant.
    Blank strings count as None; both None means ``since=default``.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(timezone.utc).replace(microsecond=0)
    since = (since or "").strip() or None
    until = (until or "").strip() or None
    label = None
    if since is None and until is None:
        since, label = default, f"{default} (default)"

    since_spec = _parse(since, "since", tz, now) if since else None
    until_spec = _parse(until, "until", tz, now) if until else None

    if since_spec is None:
        raise WindowError(
            f"until={until!r} needs a since: give since as well (e.g. since='last_month', "
            f"until={until!r}). {ACCEPTED_FORMS}"
        )
    if since_spec.kind == "now":
        raise WindowError(
            "since='now' would make an empty window: 'now' is only meaningful as until. "
            f"Use e.g. since='today' or since='24h'. {ACCEPTED_FORMS}"
        )
    start = since_spec.start
    assert start is not None
    if until_spec is not None:
        end = _end_of(until_spec, now)
    elif since_spec.kind == "period":
        end = _end_of(since_spec, now)
    else:
        end = now

    if start > now:
        raise WindowError(
            f"since={since_spec.text!r} starts in the future ({_human(start, tz)} in {_zone_key(tz)}, "
            f"now is {_human(now, tz)}). Choose a window that starts in the past."
        )
    if start >= end:
        until_text = until_spec.text if until_spec else since_spec.text
        raise WindowError(
            f"The window is empty: since {since_spec.text!r} ({_human(start, tz)}) is not before until "
            f"{until_text!r} ({_human(end, tz)}) in {_zone_key(tz)}. Give a since earlier than the until."
        )

    exprs = label or since_spec.text
    if until_spec is not None:
        exprs = f"{exprs} until {until_spec.text}"
    suffix = " (now)" if end == now else ""
    return TimeWindow(
        since=start,
        until=end,
        timezone=_zone_key(tz),
        since_local=start.astimezone(tz).isoformat(timespec="seconds"),
        until_local=end.astimezone(tz).isoformat(timespec="seconds"),
        description=f"{exprs} ({_zone_key(tz)}): {_human(start, tz)} → {_human(end, tz)}{suffix}",
    )


def _end_of(spec: _Spec, now: datetime) -> datetime:
    """Where a spec used as until (or a lone period) ends."""
    if spec.kind == "now":
        return now
    if spec.kind == "instant":
        assert spec.start is not None
        return spec.start
    assert spec.start is not None
    assert spec.end is not None
    return now if spec.start <= now < spec.end else spec.end


def _parse(raw: str, role: str, tz: ZoneInfo, now: datetime) -> _Spec:
    """Parse one expression into a period, an instant or ``now``."""
    iso = _parse_iso(raw, role, tz)
    if iso is not None:
        return iso
    key = re.sub(r"[\s\-_]+", "_", raw.lower()).strip("_")
    if key == "now":
        return _Spec(key, "now")
    today = now.astimezone(tz).date()
    if key in NAMED_PERIODS:
        first, last = _named_dates(key, today)
        return _Spec(key, "period", _midnight(first, tz), _midnight(last, tz))
    if m := _LAST_N_RE.fullmatch(key):
        n, unit = int(m.group(1)), m.group(2)[0]
        hours = _checked_hours(n * _UNIT_HOURS[unit], raw, role)
        text = f"last_{n}_{m.group(2).rstrip('s')}s"
        if unit == "h":
            return _Spec(text, "period", now - timedelta(hours=hours), now)
        return _Spec(text, "period", _midnight(today - timedelta(days=hours // 24 - 1), tz), now)
    if m := _ROLLING_RE.fullmatch(key):
        hours = _checked_hours(int(m.group(1)) * _UNIT_HOURS[m.group(2)[0]], raw, role)
        return _Spec(raw, "instant", now - timedelta(hours=hours))
    if (m := _ISO_DURATION_RE.fullmatch(key)) and any(m.groups()):
        w, d, h, mi, s = (int(g or 0) for g in m.groups())
        seconds = w * 604_800 + d * 86_400 + h * 3600 + mi * 60 + s  # exact: timedelta would overflow first
        if not 0 < seconds <= MAX_SPAN.total_seconds():
            raise WindowError(_range_message(raw, role))
        return _Spec(raw, "instant", now - timedelta(seconds=seconds))
    raise WindowError(f"Cannot read {role}={raw!r} as a time expression. {ACCEPTED_FORMS}")


def _parse_iso(raw: str, role: str, tz: ZoneInfo) -> _Spec | None:
    """An ISO 8601 date (a whole local day) or date-time, or None if ``raw`` is neither."""
    try:
        if m := _DATE_RE.fullmatch(raw):
            day = date(*(int(g) for g in m.groups()))
            return _Spec(raw, "period", _midnight(day, tz), _midnight(day + timedelta(days=1), tz))
        if m := _DATETIME_RE.fullmatch(raw):
            y, mo, d, h, mi, s = (int(g or 0) for g in m.groups()[:6])
            zone = _offset(m.group(7)) if m.group(7) else tz
            instant = datetime(y, mo, d, h, mi, s, tzinfo=zone).astimezone(timezone.utc)
            return _Spec(raw, "instant", instant)
    except (ValueError, OverflowError) as exc:
        raise WindowError(f"{role}={raw!r} is not a valid date or date-time ({exc}). {ACCEPTED_FORMS}") from exc
    return None


def _offset(text: str) -> timezone:
    """A fixed offset from 'Z', '+01', '+0100' or '+01:00'."""
    if text.upper() == "Z":
        return timezone.utc
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(-delta if text[0] == "-" else delta)


def _named_dates(key: str, today: date) -> tuple[date, date]:
    """First day and the day after the last day of a named period."""
    if key == "today":
        return today, today + timedelta(days=1)
    if key == "yesterday":
        return today - timedelta(days=1), today
    monday = today - timedelta(days=today.weekday())
    if key == "this_week":
        return monday, monday + timedelta(days=7)
    if key == "last_week":
        return monday - timedelta(days=7), monday
    first = today.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    if key == "this_month":
        return first, next_month
    if key == "last_month":
        return (first - timedelta(days=1)).replace(day=1), first
    if key == "this_year":
        return date(today.year, 1, 1), date(today.year + 1, 1, 1)
    return date(today.year - 1, 1, 1), date(today.year, 1, 1)  # last_year


def _checked_hours(hours: int, raw: str, role: str) -> int:
    if not 0 < hours <= MAX_SPAN.days * 24:
        raise WindowError(_range_message(raw, role))
    return hours


def _range_message(raw: str, role: str) -> str:
    return (
        f"{role}={raw!r} is out of range: N must be at least 1 and the span at most {MAX_SPAN.days} days. "
        f"{ACCEPTED_FORMS}"
    )


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight of ``day`` in ``tz`` as UTC (fold=0, normalised through UTC)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(timezone.utc)


def _human(instant: datetime, tz: ZoneInfo) -> str:
    """'Mon 16 Nov 2026 00:00' in ``tz`` (seconds shown only when not zero)."""
    t = instant.astimezone(tz)
    seconds = f":{t.second:02d}" if t.second else ""
    day = f"{WEEKDAYS[t.weekday()]} {t.day} {_MONTHS[t.month - 1]} {t.year}"
    return f"{day} {t.hour:02d}:{t.minute:02d}{seconds}"


def _iso_z(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _zone_key(tz: ZoneInfo) -> str:
    return tz.key or str(tz)


@lru_cache(maxsize=1)
def _zone_names() -> dict[str, str]:
    """Known IANA zone names, keyed by their lower-case form."""
    return {name.lower(): name for name in available_timezones()}
