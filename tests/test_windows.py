"""Tests for sipsim_mcp.language.windows: every expression form, DST edges, until forms and errors."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from sipsim_mcp.language.windows import TimeWindow, WindowError, parse_timezone, resolve_window

UTC = ZoneInfo("UTC")
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")

# Friday 20 Nov 2026: 14:23:17 UTC, 15:23:17 Paris (CET), 09:23:17 New York (EST), 23:23:17 Tokyo.
NOW = datetime(2026, 11, 20, 14, 23, 17, tzinfo=timezone.utc)


def u(*args: int) -> datetime:
    """A UTC datetime."""
    return datetime(*args, tzinfo=timezone.utc)  # type: ignore[misc]


def window(since: str | None, until: str | None = None, tz: ZoneInfo = UTC, now: datetime = NOW) -> TimeWindow:
    return resolve_window(since, until, tz=tz, now=now)


def bounds(since: str | None, until: str | None = None, tz: ZoneInfo = UTC, now: datetime = NOW):
    w = window(since, until, tz, now)
    return w.since, w.until


# --- named periods and last_N forms, as a lone since --------------------------------------------------

PERIODS = [
    # UTC
    ("today", UTC, u(2026, 11, 20), NOW),
    ("yesterday", UTC, u(2026, 11, 19), u(2026, 11, 20)),
    ("this_week", UTC, u(2026, 11, 16), NOW),
    ("last_week", UTC, u(2026, 11, 9), u(2026, 11, 16)),
    ("this_month", UTC, u(2026, 11, 1), NOW),
    ("last_month", UTC, u(2026, 10, 1), u(2026, 11, 1)),
    ("this_year", UTC, u(2026, 1, 1), NOW),
    ("last_year", UTC, u(2025, 1, 1), u(2026, 1, 1)),
    ("last_7_days", UTC, u(2026, 11, 14), NOW),
    ("last_1_days", UTC, u(2026, 11, 20), NOW),
    ("last_30_days", UTC, u(2026, 10, 22), NOW),
    ("last_1_weeks", UTC, u(2026, 11, 14), NOW),
    ("last_2_weeks", UTC, u(2026, 11, 7), NOW),
    ("last_24_hours", UTC, u(2026, 11, 19, 14, 23, 17), NOW),
    ("last_3_hours", UTC, u(2026, 11, 20, 11, 23, 17), NOW),
    # Europe/Paris (CET, +01:00; 1 Oct is still CEST, +02:00)
    ("today", PARIS, u(2026, 11, 19, 23), NOW),
    ("yesterday", PARIS, u(2026, 11, 18, 23), u(2026, 11, 19, 23)),
    ("this_week", PARIS, u(2026, 11, 15, 23), NOW),
    ("last_week", PARIS, u(2026, 11, 8, 23), u(2026, 11, 15, 23)),
    ("this_month", PARIS, u(2026, 10, 31, 23), NOW),
    ("last_month", PARIS, u(2026, 9, 30, 22), u(2026, 10, 31, 23)),
    ("this_year", PARIS, u(2025, 12, 31, 23), NOW),
    ("last_year", PARIS, u(2024, 12, 31, 23), u(2025, 12, 31, 23)),
    ("last_7_days", PARIS, u(2026, 11, 13, 23), NOW),
    ("last_2_weeks", PARIS, u(2026, 11, 6, 23), NOW),
    ("last_24_hours", PARIS, u(2026, 11, 19, 14, 23, 17), NOW),
    # America/New_York (EST, -05:00; 1 Nov 00:00 and 1 Oct are still EDT, -04:00)
    ("today", NEW_YORK, u(2026, 11, 20, 5), NOW),
    ("yesterday", NEW_YORK, u(2026, 11, 19, 5), u(2026, 11, 20, 5)),
    ("this_week", NEW_YORK, u(2026, 11, 16, 5), NOW),
    ("last_week", NEW_YORK, u(2026, 11, 9, 5), u(2026, 11, 16, 5)),
    ("this_month", NEW_YORK, u(2026, 11, 1, 4), NOW),
    ("last_month", NEW_YORK, u(2026, 10, 1, 4), u(2026, 11, 1, 4)),
    ("this_year", NEW_YORK, u(2026, 1, 1, 5), NOW),
    ("last_year", NEW_YORK, u(2025, 1, 1, 5), u(2026, 1, 1, 5)),
    ("last_7_days", NEW_YORK, u(2026, 11, 14, 5), NOW),
    # Asia/Tokyo (+09:00, no DST)
    ("today", TOKYO, u(2026, 11, 19, 15), NOW),
    ("yesterday", TOKYO, u(2026, 11, 18, 15), u(2026, 11, 19, 15)),
    ("this_week", TOKYO, u(2026, 11, 15, 15), NOW),
    ("last_week", TOKYO, u(2026, 11, 8, 15), u(2026, 11, 15, 15)),
    ("this_month", TOKYO, u(2026, 10, 31, 15), NOW),
    ("last_month", TOKYO, u(2026, 9, 30, 15), u(2026, 10, 31, 15)),
    ("this_year", TOKYO, u(2025, 12, 31, 15), NOW),
    ("last_year", TOKYO, u(2024, 12, 31, 15), u(2025, 12, 31, 15)),
    ("last_7_days", TOKYO, u(2026, 11, 13, 15), NOW),
    ("last_2_weeks", TOKYO, u(2026, 11, 6, 15), NOW),
]


@pytest.mark.parametrize(("expr", "tz", "since", "until"), PERIODS, ids=lambda v: str(v))
def test_period_as_lone_since(expr: str, tz: ZoneInfo, since: datetime, until: datetime) -> None:
    assert bounds(expr, tz=tz) == (since, until)


@pytest.mark.parametrize(
    ("now", "tz", "expr", "since"),
    [
        # Sunday 22 Nov 20:00 UTC is already Monday 23 Nov 05:00 in Tokyo: a new week there.
        (u(2026, 11, 22, 20), TOKYO, "this_week", u(2026, 11, 22, 15)),
        (u(2026, 11, 22, 20), UTC, "this_week", u(2026, 11, 16)),
        (u(2026, 11, 22, 20), TOKYO, "today", u(2026, 11, 22, 15)),
        # Saturday 21 Nov 03:00 UTC is still Friday 20 Nov 22:00 in New York.
        (u(2026, 11, 21, 3), NEW_YORK, "today", u(2026, 11, 20, 5)),
        (u(2026, 11, 21, 3), UTC, "today", u(2026, 11, 21)),
        # 1 Dec 02:00 UTC is still November in New York.
        (u(2026, 12, 1, 2), NEW_YORK, "this_month", u(2026, 11, 1, 4)),
        (u(2026, 12, 1, 2), UTC, "this_month", u(2026, 12, 1)),
    ],
)
def test_local_date_decides_the_period(now: datetime, tz: ZoneInfo, expr: str, since: datetime) -> None:
    assert bounds(expr, tz=tz, now=now) == (since, now)


def test_week_starts_on_monday_even_on_monday() -> None:
    monday = u(2026, 11, 16, 0, 0, 1)
    assert bounds("this_week", now=monday) == (u(2026, 11, 16), monday)
    assert bounds("last_week", now=monday) == (u(2026, 11, 9), u(2026, 11, 16))


def test_last_month_in_january_and_last_year() -> None:
    now = u(2026, 1, 15, 12)
    assert bounds("last_month", now=now) == (u(2025, 12, 1), u(2026, 1, 1))
    assert bounds("this_month", now=now) == (u(2026, 1, 1), now)
    assert bounds("last_year", now=now) == (u(2025, 1, 1), u(2026, 1, 1))


@pytest.mark.parametrize(
    "spelling",
    ["last_week", "Last Week", "  LAST-WEEK  ", "last   week", "last--week", "Last_Week\t"],
)
def test_spelling_variants(spelling: str) -> None:
    assert bounds(spelling, tz=PARIS) == (u(2026, 11, 8, 23), u(2026, 11, 15, 23))


@pytest.mark.parametrize(
    "spelling", ["last_7_days", "last 7 days", "Last-7-Days", "last7days", "LAST 7 DAYS", "past 7 days"]
)
def test_last_n_days_spellings(spelling: str) -> None:
    assert bounds(spelling, tz=PARIS) == (u(2026, 11, 13, 23), NOW)


# --- rolling durations --------------------------------------------------------------------------------

ROLLING = [
    ("24h", timedelta(hours=24)),
    ("1h", timedelta(hours=1)),
    ("7d", timedelta(days=7)),
    ("2w", timedelta(weeks=2)),
    ("36 hours", timedelta(hours=36)),
    ("1 hour", timedelta(hours=1)),
    ("3 days", timedelta(days=3)),
    ("1 day", timedelta(days=1)),
    ("2 weeks", timedelta(weeks=2)),
    ("3-days", timedelta(days=3)),
    ("24 H", timedelta(hours=24)),
    ("P7D", timedelta(days=7)),
    ("PT24H", timedelta(hours=24)),
    ("P2W", timedelta(weeks=2)),
    ("p1dt12h", timedelta(days=1, hours=12)),
    ("PT90M", timedelta(minutes=90)),
    ("PT30S", timedelta(seconds=30)),
]


@pytest.mark.parametrize(("expr", "duration"), ROLLING)
@pytest.mark.parametrize("tz", [UTC, PARIS, TOKYO])
def test_rolling_duration_as_since(expr: str, duration: timedelta, tz: ZoneInfo) -> None:
    assert bounds(expr, tz=tz) == (NOW - duration, NOW)


@pytest.mark.parametrize(("expr", "duration"), [("24h", timedelta(hours=24)), ("P2W", timedelta(weeks=2))])
def test_rolling_duration_as_until(expr: str, duration: timedelta) -> None:
    assert bounds("last_month", expr, tz=PARIS) == (u(2026, 9, 30, 22), NOW - duration)


def test_rolling_duration_is_exact_across_dst() -> None:
    # Wednesday 28 Oct 2026, three days after Paris went back to CET.
    now = u(2026, 10, 28, 12)
    assert bounds("7d", tz=PARIS, now=now) == (u(2026, 10, 21, 12), now)
    # A calendar form counts local midnights instead: 22 Oct 00:00 CEST.
    assert bounds("last_7_days", tz=PARIS, now=now) == (u(2026, 10, 21, 22), now)


# --- DST ----------------------------------------------------------------------------------------------


def test_last_week_across_paris_fall_back_is_169_hours() -> None:
    w = window("last_week", tz=PARIS, now=u(2026, 10, 28, 12))
    assert (w.since, w.until) == (u(2026, 10, 18, 22), u(2026, 10, 25, 23))
    assert w.until - w.since == timedelta(hours=169)
    assert w.since_local == "2026-10-19T00:00:00+02:00"
    assert w.until_local == "2026-10-26T00:00:00+01:00"


def test_last_week_across_new_york_spring_forward_is_167_hours() -> None:
    w = window("last_week", tz=NEW_YORK, now=u(2026, 3, 11, 15))
    assert (w.since, w.until) == (u(2026, 3, 2, 5), u(2026, 3, 9, 4))
    assert w.until - w.since == timedelta(hours=167)
    assert w.since_local == "2026-03-02T00:00:00-05:00"
    assert w.until_local == "2026-03-09T00:00:00-04:00"


@pytest.mark.parametrize(
    ("tz", "now", "since", "until", "hours"),
    [
        (PARIS, u(2026, 10, 26, 10), u(2026, 10, 24, 22), u(2026, 10, 25, 23), 25),
        (PARIS, u(2026, 3, 30, 10), u(2026, 3, 28, 23), u(2026, 3, 29, 22), 23),
        (NEW_YORK, u(2026, 3, 9, 15), u(2026, 3, 8, 5), u(2026, 3, 9, 4), 23),
        (NEW_YORK, u(2026, 11, 2, 15), u(2026, 11, 1, 4), u(2026, 11, 2, 5), 25),
    ],
)
def test_yesterday_after_dst_change(tz: ZoneInfo, now: datetime, since: datetime, until: datetime, hours: int) -> None:
    assert bounds("yesterday", tz=tz, now=now) == (since, until)
    assert until - since == timedelta(hours=hours)


@pytest.mark.parametrize(
    ("expr", "tz", "instant"),
    [
        # Gaps: fold=0 reads the wall time with the offset before the change (02:30 -> 03:30 summer time).
        ("2026-03-29T02:30", PARIS, u(2026, 3, 29, 1, 30)),
        ("2026-03-08T02:30", NEW_YORK, u(2026, 3, 8, 7, 30)),
        # Folds: fold=0 is the first occurrence (still summer time).
        ("2026-10-25T02:30", PARIS, u(2026, 10, 25, 0, 30)),
        ("2026-11-01T01:30", NEW_YORK, u(2026, 11, 1, 5, 30)),
    ],
)
def test_nonexistent_and_ambiguous_local_times(expr: str, tz: ZoneInfo, instant: datetime) -> None:
    assert bounds(expr, tz=tz)[0] == instant


# --- ISO dates and date-times -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "tz", "since", "until"),
    [
        ("2026-11-03", UTC, u(2026, 11, 3), u(2026, 11, 4)),
        ("2026-11-03", PARIS, u(2026, 11, 2, 23), u(2026, 11, 3, 23)),
        ("2026-11-03", NEW_YORK, u(2026, 11, 3, 5), u(2026, 11, 4, 5)),
        ("2026-11-03", TOKYO, u(2026, 11, 2, 15), u(2026, 11, 3, 15)),
        (" 2026-10-25 ", PARIS, u(2026, 10, 24, 22), u(2026, 10, 25, 23)),  # a 25-hour day
        ("2026-11-20", PARIS, u(2026, 11, 19, 23), NOW),  # today: ends now
    ],
)
def test_date_as_lone_since_is_that_day(expr: str, tz: ZoneInfo, since: datetime, until: datetime) -> None:
    assert bounds(expr, tz=tz) == (since, until)


@pytest.mark.parametrize(
    ("expr", "tz", "since"),
    [
        ("2026-11-03T14:00", UTC, u(2026, 11, 3, 14)),
        ("2026-11-03T14:00", PARIS, u(2026, 11, 3, 13)),
        ("2026-11-03T14:00", NEW_YORK, u(2026, 11, 3, 19)),
        ("2026-11-03T14:00", TOKYO, u(2026, 11, 3, 5)),
        ("2026-11-03 14:00:00", PARIS, u(2026, 11, 3, 13)),
        ("2026-11-03 14:00:45", TOKYO, u(2026, 11, 3, 5, 0, 45)),
        ("2026-11-03T14:00:45.750", UTC, u(2026, 11, 3, 14, 0, 45)),  # truncated to the second
        ("2026-11-03T14:00Z", PARIS, u(2026, 11, 3, 14)),
        ("2026-11-03t14:00z", TOKYO, u(2026, 11, 3, 14)),
        ("2026-11-03T14:00:00+01:00", NEW_YORK, u(2026, 11, 3, 13)),
        ("2026-11-03T14:00+09:00", PARIS, u(2026, 11, 3, 5)),
        ("2026-11-03T14:00-0500", UTC, u(2026, 11, 3, 19)),
        ("2026-11-03T14:00+05", UTC, u(2026, 11, 3, 9)),
        ("2026-11-03T14:00:00 +05:30", UTC, u(2026, 11, 3, 8, 30)),
    ],
)
def test_date_time_as_since_ends_now(expr: str, tz: ZoneInfo, since: datetime) -> None:
    assert bounds(expr, tz=tz) == (since, NOW)


# --- until forms --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "until", "tz", "expected"),
    [
        ("last_month", "yesterday", PARIS, (u(2026, 9, 30, 22), u(2026, 11, 19, 23))),
        ("last_month", "yesterday", TOKYO, (u(2026, 9, 30, 15), u(2026, 11, 19, 15))),
        ("this_year", "last_week", UTC, (u(2026, 1, 1), u(2026, 11, 16))),
        ("this_year", "last_month", NEW_YORK, (u(2026, 1, 1, 5), u(2026, 11, 1, 4))),
        ("2026-11-01", "2026-11-03", PARIS, (u(2026, 10, 31, 23), u(2026, 11, 3, 23))),
        ("2026-11-01", "2026-11-03", NEW_YORK, (u(2026, 11, 1, 4), u(2026, 11, 4, 5))),
        ("2026-11-01", "2026-11-18T12:00", PARIS, (u(2026, 10, 31, 23), u(2026, 11, 18, 11))),
        ("2026-11-01", "2026-11-18T12:00Z", PARIS, (u(2026, 10, 31, 23), u(2026, 11, 18, 12))),
        ("2026-11-01", "2026-11-18 12:00:00+09:00", UTC, (u(2026, 11, 1), u(2026, 11, 18, 3))),
        ("last_week", "now", UTC, (u(2026, 11, 9), NOW)),
        ("last_week", "NOW", TOKYO, (u(2026, 11, 8, 15), NOW)),
        # A period that contains now ends at now.
        ("last_week", "today", PARIS, (u(2026, 11, 8, 23), NOW)),
        ("last_month", "this_month", UTC, (u(2026, 10, 1), NOW)),
        ("last_month", "last_7_days", UTC, (u(2026, 10, 1), NOW)),
        ("last_month", "2026-11-20", UTC, (u(2026, 10, 1), NOW)),
        # A period wholly in the future keeps its end.
        ("last_month", "2026-12-01", UTC, (u(2026, 10, 1), u(2026, 12, 2))),
        ("2026-11-03T14:00", "2026-11-03T16:30", NEW_YORK, (u(2026, 11, 3, 19), u(2026, 11, 3, 21, 30))),
    ],
)
def test_until_forms(since: str, until: str, tz: ZoneInfo, expected: tuple[datetime, datetime]) -> None:
    assert bounds(since, until, tz=tz) == expected


# --- defaults, blanks, now ----------------------------------------------------------------------------


def test_default_when_both_missing() -> None:
    w = window(None, None, tz=PARIS)
    assert (w.since, w.until) == (u(2026, 11, 13, 23), NOW)
    assert w.description.startswith("last_7_days (default) (Europe/Paris): ")


@pytest.mark.parametrize(("since", "until"), [("", None), ("  ", ""), (None, "   ")])
def test_blank_strings_count_as_missing(since: str | None, until: str | None) -> None:
    assert bounds(since, until) == (u(2026, 11, 14), NOW)


def test_custom_default() -> None:
    w = resolve_window(None, tz=TOKYO, now=NOW, default="today")
    assert (w.since, w.until) == (u(2026, 11, 19, 15), NOW)


def test_now_is_truncated_to_the_second_and_converted_to_utc() -> None:
    now = datetime(2026, 11, 20, 15, 23, 17, 987654, tzinfo=PARIS)
    w = window("24h", now=now)
    assert (w.since, w.until) == (u(2026, 11, 19, 14, 23, 17), NOW)
    assert w.until.tzinfo == timezone.utc


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware") as info:
        resolve_window("today", tz=UTC, now=datetime(2026, 11, 20, 12))
    assert not isinstance(info.value, WindowError)


# --- the TimeWindow model -----------------------------------------------------------------------------


def test_time_window_fields_and_description() -> None:
    w = window("last week", tz=PARIS, now=u(2026, 11, 25, 10))
    assert w.since == u(2026, 11, 15, 23)
    assert w.until == u(2026, 11, 22, 23)
    assert w.timezone == "Europe/Paris"
    assert w.since_local == "2026-11-16T00:00:00+01:00"
    assert w.until_local == "2026-11-23T00:00:00+01:00"
    assert w.description == "last_week (Europe/Paris): Mon 16 Nov 2026 00:00 → Mon 23 Nov 2026 00:00"


@pytest.mark.parametrize(
    ("since", "until", "tz", "description"),
    [
        (
            "today",
            None,
            PARIS,
            "today (Europe/Paris): Fri 20 Nov 2026 00:00 → Fri 20 Nov 2026 15:23:17 (now)",
        ),
        ("24h", None, TOKYO, "24h (Asia/Tokyo): Thu 19 Nov 2026 23:23:17 → Fri 20 Nov 2026 23:23:17 (now)"),
        (
            "last_month",
            "yesterday",
            NEW_YORK,
            "last_month until yesterday (America/New_York): Thu 1 Oct 2026 00:00 → Fri 20 Nov 2026 00:00",
        ),
        ("2026-11-03", None, UTC, "2026-11-03 (UTC): Tue 3 Nov 2026 00:00 → Wed 4 Nov 2026 00:00"),
        (
            "Last-7-Days",
            None,
            UTC,
            "last_7_days (UTC): Sat 14 Nov 2026 00:00 → Fri 20 Nov 2026 14:23:17 (now)",
        ),
    ],
)
def test_descriptions(since: str, until: str | None, tz: ZoneInfo, description: str) -> None:
    assert window(since, until, tz=tz).description == description


def test_json_serialises_utc_with_z() -> None:
    w = window("last_week", tz=NEW_YORK)
    data = json.loads(w.model_dump_json())
    assert data["since"] == "2026-11-09T05:00:00Z"
    assert data["until"] == "2026-11-16T05:00:00Z"
    assert data["since_local"] == "2026-11-09T00:00:00-05:00"
    assert data["timezone"] == "America/New_York"
    assert w.model_dump(mode="json")["until"] == "2026-11-16T05:00:00Z"
    assert TimeWindow.model_validate(data) == w


@pytest.mark.parametrize(
    ("since", "tz", "params"),
    [
        ("last_week", PARIS, {"start_time": "2026-11-08T23:00:00Z", "end_time": "2026-11-15T22:59:59Z"}),
        ("yesterday", UTC, {"start_time": "2026-11-19T00:00:00Z", "end_time": "2026-11-19T23:59:59Z"}),
        ("today", TOKYO, {"start_time": "2026-11-19T15:00:00Z", "end_time": "2026-11-20T14:23:16Z"}),
    ],
)
def test_api_params(since: str, tz: ZoneInfo, params: dict[str, str]) -> None:
    assert window(since, tz=tz).api_params() == params


def test_api_params_with_sub_second_until_keeps_its_second() -> None:
    w = TimeWindow(
        since=u(2026, 11, 19),
        until=datetime(2026, 11, 19, 12, 0, 5, 500000, tzinfo=timezone.utc),
        timezone="UTC",
        since_local="",
        until_local="",
        description="",
    )
    assert w.api_params() == {"start_time": "2026-11-19T00:00:00Z", "end_time": "2026-11-19T12:00:05Z"}


def test_time_window_converts_to_utc_and_rejects_naive() -> None:
    w = TimeWindow(
        since=datetime(2026, 11, 19, 1, tzinfo=PARIS),
        until=datetime(2026, 11, 19, 2, tzinfo=PARIS),
        timezone="Europe/Paris",
        since_local="",
        until_local="",
        description="",
    )
    assert w.since == u(2026, 11, 19, 0)
    assert w.since.tzinfo == timezone.utc
    with pytest.raises(ValueError, match="aware"):
        TimeWindow(
            since=datetime(2026, 11, 19),
            until=u(2026, 11, 20),
            timezone="UTC",
            since_local="",
            until_local="",
            description="",
        )


# --- errors -------------------------------------------------------------------------------------------


def assert_lists_forms(message: str) -> None:
    for form in ("today", "last_week", "last_month", "last_7_days", "24h", "P7D", "2026-11-03", "now"):
        assert form in message


@pytest.mark.parametrize(
    "expr",
    [
        "tomorrow",
        "next week",
        "last_week_please",
        "2026-11",
        "03/11/2026",
        "7x",
        "P1Y",
        "P1M",
        "P",
        "PT",
        "-",
        "a",
    ],
)
@pytest.mark.parametrize("role", ["since", "until"])
def test_unparsable_expression(expr: str, role: str) -> None:
    args = {"since": expr} if role == "since" else {"since": "last_month", "until": expr}
    with pytest.raises(WindowError) as info:
        resolve_window(**args, tz=PARIS, now=NOW)
    message = str(info.value)
    assert f"{role}={expr!r}" in message
    assert_lists_forms(message)


@pytest.mark.parametrize("expr", ["2026-02-30", "2026-13-01", "2026-11-03T25:00", "2026-11-03T14:00+25:00"])
def test_invalid_calendar_values(expr: str) -> None:
    with pytest.raises(WindowError, match="not a valid date") as info:
        window(expr)
    assert repr(expr) in str(info.value)
    assert_lists_forms(str(info.value))


@pytest.mark.parametrize(
    "expr",
    [
        "last_0_days",
        "last_0_weeks",
        "last_0_hours",
        "0h",
        "0d",
        "0 weeks",
        "P0D",
        "PT0H",
        "last_3661_days",
        "last_523_weeks",
        "last_87841_hours",
        "3661d",
        "P3661D",
        "P600W",
        "last_99999999999999_days",
    ],
)
def test_zero_or_absurd_n(expr: str) -> None:
    with pytest.raises(WindowError, match="out of range") as info:
        window(expr)
    assert repr(expr) in str(info.value)
    assert_lists_forms(str(info.value))


def test_largest_accepted_n() -> None:
    assert bounds("last_3660_days")[0] == u(2016, 11, 13)
    assert bounds("3660d")[0] == NOW - timedelta(days=3660)


@pytest.mark.parametrize(
    ("since", "until", "tz"),
    [
        ("today", "last_week", PARIS),
        ("today", "yesterday", TOKYO),
        ("2026-11-10", "2026-11-05", NEW_YORK),
        ("24h", "24h", UTC),
        ("2026-11-03T14:00", "2026-11-03T14:00", PARIS),
        ("2026-11-03T14:00Z", "2026-11-03T14:00+01:00", UTC),
    ],
)
def test_empty_window(since: str, until: str, tz: ZoneInfo) -> None:
    with pytest.raises(WindowError, match="window is empty") as info:
        window(since, until, tz=tz)
    message = str(info.value)
    assert "is not before until" in message
    assert repr(since) in message
    assert repr(until) in message


@pytest.mark.parametrize(
    ("since", "tz"),
    [("2026-12-01", UTC), ("2026-11-21", PARIS), ("2026-11-20T20:00Z", UTC), ("2026-11-20T16:00", PARIS)],
)
def test_window_starting_in_the_future(since: str, tz: ZoneInfo) -> None:
    with pytest.raises(WindowError, match="starts in the future") as info:
        window(since, tz=tz)
    assert repr(since) in str(info.value)


def test_a_date_becomes_today_at_local_midnight() -> None:
    # At NOW it is 23:23 on 20 Nov in Tokyo, so 21 Nov is still in the future; 37 minutes later it is today.
    with pytest.raises(WindowError, match="future"):
        window("2026-11-21", tz=TOKYO)
    assert bounds("2026-11-21", tz=TOKYO, now=u(2026, 11, 20, 16)) == (
        u(2026, 11, 20, 15),
        u(2026, 11, 20, 16),
    )


def test_now_as_since_is_refused() -> None:
    with pytest.raises(WindowError, match="only meaningful as until"):
        window("now")


def test_until_without_since_is_refused() -> None:
    with pytest.raises(WindowError, match="needs a since") as info:
        window(None, "yesterday")
    assert_lists_forms(str(info.value))


# --- parse_timezone -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Europe/Paris", "Europe/Paris"),
        ("  America/New_York ", "America/New_York"),
        ("europe/paris", "Europe/Paris"),
        ("AMERICA/NEW YORK", "America/New_York"),
        ("UTC", "UTC"),
        ("Asia/Tokyo", "Asia/Tokyo"),
        (None, "UTC"),
        ("", "UTC"),
        ("   ", "UTC"),
    ],
)
def test_parse_timezone(name: str | None, key: str) -> None:
    assert parse_timezone(name).key == key


def test_parse_timezone_default() -> None:
    assert parse_timezone(None, default="Europe/Paris").key == "Europe/Paris"
    assert parse_timezone("Asia/Tokyo", default="Europe/Paris").key == "Asia/Tokyo"


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "Paris", "+01:00", "../../etc/passwd", "/etc/localtime"])
def test_parse_timezone_unknown(name: str) -> None:
    with pytest.raises(WindowError) as info:
        parse_timezone(name)
    message = str(info.value)
    assert repr(name) in message
    for example in ("Europe/Paris", "America/New_York", "UTC"):
        assert example in message


def test_parse_timezone_suggests_close_names() -> None:
    with pytest.raises(WindowError, match="Did you mean Europe/Paris"):
        parse_timezone("Europe/Pari")
