"""Brute-force answers over the simulator's raw data: the reference the tools are checked against.

Deliberately independent of the server's code: windows are computed here with zoneinfo and plain
date arithmetic, filters are plain comparisons over the call dicts the simulator holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

Call = dict[str, Any]


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Oracle:
    calls: list[Call]
    now: datetime
    zone: ZoneInfo
    phones: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    tags: list[dict[str, Any]] = field(default_factory=list)
    account: dict[str, Any] = field(default_factory=dict)
    webhooks: list[str] = field(default_factory=list)  # enabled events
    transcriptions: dict[int, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Any, now: datetime, zone: str = "Europe/Paris") -> Oracle:
        """The oracle over a simulator's live data (`sandbox.data`)."""
        return cls(
            calls=list(data.calls),
            now=now,
            zone=ZoneInfo(zone),
            phones={phone["name"]: phone for phone in data.phones},
            tags=list(data.tags),
            account=dict(data.account),
            webhooks=list(data.webhooks_enabled),
            transcriptions=dict(data.transcriptions),
        )

    def in_zone(self, zone: str) -> Oracle:
        return replace(self, zone=ZoneInfo(zone))

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.zone).astimezone(timezone.utc)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()

    def window(self, name: str) -> tuple[datetime, datetime]:
        """[start, end) of a named window, computed by hand."""
        today = self.today
        monday = today - timedelta(days=today.weekday())
        first = today.replace(day=1)
        if name == "today":
            return self.midnight(today), self.now
        if name == "yesterday":
            return self.midnight(today - timedelta(days=1)), self.midnight(today)
        if name == "this_week":
            return self.midnight(monday), self.now
        if name == "last_week":
            return self.midnight(monday - timedelta(days=7)), self.midnight(monday)
        if name == "this_month":
            return self.midnight(first), self.now
        if name == "last_month":
            previous = (first - timedelta(days=1)).replace(day=1)
            return self.midnight(previous), self.midnight(first)
        if name.startswith("last_") and name.endswith("_days"):
            days = int(name.split("_")[1])
            return self.midnight(today - timedelta(days=days - 1)), self.now
        if name.endswith("h"):
            return self.now - timedelta(hours=int(name[:-1])), self.now
        if len(name) == 10:  # an ISO date: that whole local day
            day = date.fromisoformat(name)
            return self.midnight(day), self.midnight(day + timedelta(days=1))
        raise ValueError(name)

    def select(
        self,
        window: str | tuple[datetime, datetime],
        *,
        types: Iterable[str] | None = None,
        line: str | None = None,
        employee: str | None = None,
        tag: str | None = None,
        number: str | None = None,
        status: str | None = None,
        where: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        start, end = self.window(window) if isinstance(window, str) else window
        kinds = set(types) if types else None
        chosen = []
        for call in self.calls:
            if not start <= parse(call["start_time"]) < end:
                continue
            if kinds is not None and call["call_type"] not in kinds:
                continue
            if line is not None and call["phone_name"] != line:
                continue
            if employee is not None and call["employee_name"] != employee:
                continue
            if tag is not None and tag not in {t["name"] for t in call["tags"]}:
                continue
            if number is not None and number not in (call["caller_number"], call["receiver_number"]):
                continue
            if status is not None and call["status"] != status:
                continue
            if where is not None and not where(call):
                continue
            chosen.append(call)
        return chosen

    def count(self, window: str | tuple[datetime, datetime], **filters: Any) -> int:
        return len(self.select(window, **filters))

    @staticmethod
    def missed(calls: list[Call]) -> int:
        return sum(call["call_type"] in ("missed", "voicemail") for call in calls)

    @staticmethod
    def answered(calls: list[Call]) -> int:
        return sum(call["status"] == "ANSWER" for call in calls)

    @staticmethod
    def talk(calls: list[Call]) -> int:
        return sum(call["duration"] for call in calls if call["status"] == "ANSWER")

    @staticmethod
    def inbound(calls: list[Call]) -> list[Call]:
        return [call for call in calls if call["direction"] == "inbound"]

    def most(self, calls: list[Call], key: Callable[[Call], Any]) -> tuple[Any, int]:
        """The most frequent value of `key` (ties: the first in sort order)."""
        counts = Counter(key(call) for call in calls)
        return min(counts.items(), key=lambda item: (-item[1], str(item[0])))

    def local_hour(self, call: Call) -> int:
        return parse(call["start_time"]).astimezone(self.zone).hour

    def local_weekday(self, call: Call) -> str:
        return ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[
            parse(call["start_time"]).astimezone(self.zone).weekday()
        ]

    def local_day(self, call: Call) -> str:
        return parse(call["start_time"]).astimezone(self.zone).date().isoformat()
