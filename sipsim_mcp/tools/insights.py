"""summarize_calls: counts, rates and durations computed on the server, grouped the way people ask.

The aggregation streams over the API pages: memory holds one page, one counter per group and a
bounded top-callers table (Space-Saving), never the calls themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import Field

from ..api import endpoints as ep
from ..api.models import CallFacts
from ..api.numbers import display_number
from ..api.shaping import Compact, fit
from ..language.windows import WEEKDAYS, TimeWindow
from .base import ToolContext, tool
from .scan import AppliedFilters, CallFilters, Scan, TagNames, resolve_filters
from .views import CALLS_DASHBOARD

GroupKey = Literal["call_type", "status", "direction", "line", "employee", "tag", "day", "weekday", "hour"]
CHRONOLOGICAL = frozenset({"day", "weekday", "hour"})
NONE = "(none)"
MAX_GROUPS = 200
TRACKED_CALLERS = 2000


INCOMING = frozenset({"inbound", "incoming", "in"})
OUTGOING = frozenset({"outgoing", "outbound", "out"})
CALL_TYPES = frozenset({"inbound", "outgoing", "missed", "voicemail"})


class Facts(NamedTuple):
    """What a call says about the figures, read from whichever fields it has (None: it cannot be told)."""

    incoming: bool | None
    answered: bool | None
    missed: bool | None
    voicemail: bool | None


@lru_cache(maxsize=256)
def facts_for(call_type: str | None, direction: str | None, status: str | None) -> Facts:
    """The facts of a call with these codes (computed once per combination: they are a few short codes)."""
    kind = call_type if call_type in CALL_TYPES else None
    if direction in INCOMING or kind in ("inbound", "missed", "voicemail"):
        incoming: bool | None = True
    elif direction in OUTGOING or kind == "outgoing":
        incoming = False
    else:
        incoming = None
    answered: bool | None
    if status is not None:
        answered = status in ("ANSWER", "ANSWERED")
    else:
        answered = True if kind == "inbound" else False if kind in ("missed", "voicemail") else None
    missed: bool | None
    voicemail: bool | None
    if kind is not None:
        missed, voicemail = kind in ("missed", "voicemail"), kind == "voicemail"
    elif incoming is False:
        missed, voicemail = False, False
    else:
        missed = None if incoming is None or answered is None else not answered
        voicemail = None
    return Facts(incoming, answered, missed, voicemail)


#: Each fact: the call fields it is read from, and the metrics that depend on it.
FACT_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "incoming": ("direction and call_type", ("inbound", "outgoing", "missed_rate")),
    "answered": ("status", ("answered", "answer_rate", "avg_duration_s")),
    "missed": ("call_type", ("missed", "missed_rate")),
    "voicemail": ("call_type", ("voicemail",)),
    "duration": ("duration", ("total_duration_s", "avg_duration_s")),
}


#: group_by keys whose value a call should always have: the field it comes from (tags and employees may be
#: absent on a call: no tag, nobody answered).
GROUP_SOURCES = {
    "call_type": "call_type",
    "status": "status",
    "direction": "direction",
    "line": "phone_name and phone_id",
    "day": "start_time",
    "weekday": "start_time",
    "hour": "start_time",
}


def _local(call: CallFacts, zone: ZoneInfo) -> datetime | None:
    return call.start_time.astimezone(zone) if call.start_time else None


def _day(call: CallFacts, zone: ZoneInfo) -> str | None:
    return local.date().isoformat() if (local := _local(call, zone)) else None


def _weekday(call: CallFacts, zone: ZoneInfo) -> str | None:
    return WEEKDAYS[local.weekday()] if (local := _local(call, zone)) else None


def _hour(call: CallFacts, zone: ZoneInfo) -> str | None:
    return f"{local.hour:02d}" if (local := _local(call, zone)) else None


#: How each group_by key reads its value off a call (tags apart: a call may be in several tag groups).
GROUP_READERS: dict[str, Callable[[CallFacts, ZoneInfo], str | None]] = {
    "call_type": lambda call, _: call.call_type,
    "status": lambda call, _: call.status,
    "direction": lambda call, _: call.direction,
    "line": lambda call, _: call.phone_name or (f"line {call.phone_id}" if call.phone_id is not None else None),
    "employee": lambda call, _: (
        call.employee_name or (f"employee {call.employee_id}" if call.employee_id is not None else None)
    ),
    "day": _day,
    "weekday": _weekday,
    "hour": _hour,
}


def group_values(call: CallFacts, key: str, zone: ZoneInfo, tags: TagNames = TagNames.NONE) -> list[str]:
    """The group(s) a call falls in for `key` (a call with two tags is in both tag groups)."""
    if key == "tag":
        return tags.of(call) or [NONE]
    return [GROUP_READERS[key](call, zone) or NONE]


class Metrics(Compact):
    """Counts and averages over a set of calls (a rate or average is absent when it has no calls to divide by)."""

    group: dict[str, str] | None = Field(None, description="In a group row: its value for each group_by key")
    calls: int | None = None
    answered: int | None = Field(None, description="Calls with status ANSWER (inbound and outgoing)")
    missed: int | None = Field(None, description="Incoming calls nobody answered (call types missed and voicemail)")
    voicemail: int | None = None
    inbound: int | None = Field(None, description="Incoming calls, answered or not")
    outgoing: int | None = None
    answer_rate: float | None = Field(None, description="answered / calls")
    missed_rate: float | None = Field(None, description="missed / inbound")
    total_duration_s: int | None = Field(None, description="Total talk time in seconds")
    avg_duration_s: float | None = Field(None, description="Average talk time of answered calls")
    avg_wait_s: float | None = Field(None, description="Average ringing time of incoming calls")


#: The count each rate divides by; asking for a rate brings this count into the rows too.
DENOMINATORS = {"answer_rate": "calls", "missed_rate": "inbound"}

MetricName = Literal[
    "calls",
    "answered",
    "missed",
    "voicemail",
    "inbound",
    "outgoing",
    "answer_rate",
    "missed_rate",
    "total_duration_s",
    "avg_duration_s",
    "avg_wait_s",
]


@dataclass
class Tally:
    """Counts over a set of calls: how many calls had each combination of facts (a handful of them) and the talk
    and wait times. The counts are derived from the combinations when asked, not kept per call."""

    by_facts: dict[Facts, int] = field(default_factory=dict)
    duration: int = 0
    durations: int = 0
    untimed: int = 0  # answered calls without a duration
    wait: int = 0
    waits: int = 0

    def add(self, call: CallFacts, facts: Facts) -> None:
        self.by_facts[facts] = self.by_facts.get(facts, 0) + 1
        if facts.incoming and call.wait_time is not None:
            self.wait += call.wait_time
            self.waits += 1
        if facts.answered:
            if call.duration is None:
                self.untimed += 1
            else:
                self.duration += call.duration
                self.durations += 1

    def _count(self, fact: str, value: bool | None) -> int:
        return sum(count for facts, count in self.by_facts.items() if getattr(facts, fact) is value)

    @property
    def calls(self) -> int:
        return sum(self.by_facts.values())

    @property
    def inbound(self) -> int:
        return self._count("incoming", True)

    @property
    def outgoing(self) -> int:
        return self._count("incoming", False)

    @property
    def answered(self) -> int:
        return self._count("answered", True)

    @property
    def missed(self) -> int:
        return self._count("missed", True)

    @property
    def voicemail(self) -> int:
        return self._count("voicemail", True)

    @property
    def missed_of(self) -> int:
        """Incoming calls whose missed/answered outcome is known."""
        return sum(count for facts, count in self.by_facts.items() if facts.incoming and facts.missed is not None)

    @property
    def unknown(self) -> Counter[str]:
        """Calls whose fact could not be told, by fact."""
        unknown = Counter({fact: self._count(fact, None) for fact in Facts._fields})
        unknown["duration"] = self.untimed
        return unknown

    def metrics(self) -> Metrics:
        def ratio(a: int, b: int) -> float | None:
            return round(a / b, 3) if b else None

        unknown = self.unknown
        known = self.calls - unknown["answered"]
        metrics = Metrics(
            calls=self.calls,
            answered=self.answered,
            missed=self.missed,
            voicemail=self.voicemail,
            inbound=self.inbound,
            outgoing=self.outgoing,
            answer_rate=ratio(self.answered, known),
            missed_rate=ratio(self.missed, self.missed_of),
            total_duration_s=self.duration,
            avg_duration_s=round(self.duration / self.durations, 1) if self.durations else None,
            avg_wait_s=round(self.wait / self.waits, 1) if self.waits else None,
        )
        for fact, (_, names) in FACT_SOURCES.items():  # a figure nothing could be counted from is absent, not 0
            told = self.concerned(fact)
            if told and unknown[fact] == told:
                for name in names:
                    setattr(metrics, name, None)
        return metrics

    def concerned(self, fact: str) -> int:
        """How many calls `fact` matters for (durations: answered calls; missed and voicemail: all but outgoing)."""
        if fact == "duration":
            return self.answered
        return self.calls - self.outgoing if fact in ("missed", "voicemail") else self.calls

    def missing_note(self) -> str | None:
        """Which fields were missing on how many calls, and which figures that affects."""
        merged: dict[str, tuple[int, int, list[str]]] = {}
        unknown = self.unknown
        for fact, (fields, names) in FACT_SOURCES.items():
            if count := unknown[fact]:
                earlier, told, affected = merged.get(fields, (0, 0, []))
                merged[fields] = (max(earlier, count), max(told, self.concerned(fact)), affected + list(names))
        parts = [
            f"{fields} missing on {count} of {told} calls (affects {', '.join(dict.fromkeys(names))})"
            for fields, (count, told, names) in merged.items()
        ]
        if not parts:
            return None
        return (
            "SIPSIM left out fields these figures need: "
            + "; ".join(parts)
            + ". Figures count only the calls that have the field; absent figures could not be computed."
        )


class TopCounter:
    """Space-Saving heavy hitters: the most frequent keys in bounded memory (exact until it overflows). Keys
    are kept in buckets by count, so a new key past capacity replaces one of the least counted at once. Until
    then counts are exact and kept in a plain dict, in the order the keys reached them (the buckets' order)."""

    def __init__(self, capacity: int = TRACKED_CALLERS) -> None:
        self.capacity = capacity
        self.counts: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.exact = True
        self._buckets: dict[int, dict[str, None]] = {}  # count -> its keys, in the order they reached it
        self._least = 0

    def add(self, key: str) -> None:
        if self.exact:
            count = self.counts.pop(key, 0)
            if count or len(self.counts) < self.capacity:
                self.counts[key] = count + 1  # last: the key reached its count after all the others
                return
            self._sort()
        if key in self.counts:
            self._move(key, self.counts[key], self.counts[key] + 1)
        else:
            floor = self._least
            victim = next(iter(self._buckets[floor]))
            self.errors.pop(victim)
            self._move(victim, floor, None)
            self.errors[key] = floor
            self._move(key, None, floor + 1)

    def _sort(self) -> None:
        """Past capacity for the first time: the keys go into buckets by count, each in the order it got there."""
        self.exact = False
        self.errors = dict.fromkeys(self.counts, 0)
        for key, count in self.counts.items():
            self._buckets.setdefault(count, {})[key] = None
        self._least = min(self._buckets)

    def _move(self, key: str, old: int | None, new: int | None) -> None:
        if old is not None:
            bucket = self._buckets[old]
            del bucket[key]
            if not bucket:
                del self._buckets[old]
        if new is None:
            del self.counts[key]
        else:
            self.counts[key] = new
            self._buckets.setdefault(new, {})[key] = None
        if new is not None and (new < self._least or self._least not in self._buckets):
            self._least = new  # every other key has at least `new`, or `least`'s bucket just emptied

    def top(self, n: int) -> list[tuple[str, int]]:
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:n]


@dataclass
class Aggregate:
    """Streams calls into per-group tallies, totals and caller counts."""

    group_by: tuple[str, ...]
    zone: ZoneInfo
    totals: Tally = field(default_factory=Tally)
    groups: dict[tuple[str, ...], Tally] = field(default_factory=dict)
    callers: TopCounter = field(default_factory=TopCounter)
    caller_names: dict[str, str] = field(default_factory=dict)
    missed_by_caller: dict[str, int] = field(default_factory=dict)

    tags: TagNames = TagNames.NONE
    region: str | None = None
    callers_unknown: int = 0  # incoming calls without a caller number
    ungrouped: Counter[str] = field(default_factory=Counter)  # calls whose group_by field was missing, by key

    def add(self, call: CallFacts) -> None:
        facts = facts_for(call.call_type, call.direction, call.status)
        self.totals.add(call, facts)
        keys: list[tuple[str, ...]] = [()]
        for key in self.group_by:
            values = group_values(call, key, self.zone, self.tags)
            if values == [NONE] and key in GROUP_SOURCES:
                self.ungrouped[key] += 1
            keys = [(*prefix, value) for prefix in keys for value in values]
        for combo in keys if self.group_by else []:
            if (tally := self.groups.get(combo)) is None:
                tally = self.groups[combo] = Tally()
            tally.add(call, facts)
        if facts.incoming and not call.caller_number:
            self.callers_unknown += 1
        elif facts.incoming and call.caller_number:
            number = display_number(call.caller_number, self.region) or call.caller_number
            self.callers.add(number)
            if number in self.callers.counts:
                if call.caller_name:
                    self.caller_names[number] = call.caller_name
                if facts.missed:
                    self.missed_by_caller[number] = self.missed_by_caller.get(number, 0) + 1
            self._prune()

    def _prune(self) -> None:
        if len(self.caller_names) > 2 * self.callers.capacity or len(self.missed_by_caller) > 2 * self.callers.capacity:
            self.caller_names = {k: v for k, v in self.caller_names.items() if k in self.callers.counts}
            self.missed_by_caller = {k: v for k, v in self.missed_by_caller.items() if k in self.callers.counts}

    def sorted_groups(self) -> list[tuple[tuple[str, ...], Tally]]:
        """Time keys in time order; other keys by call count, largest first."""
        sizes: dict[tuple[str, ...], int] = {}
        for combo, tally in self.groups.items():
            for depth in range(1, len(combo) + 1):
                sizes[combo[:depth]] = sizes.get(combo[:depth], 0) + tally.calls

        def order(combo: tuple[str, ...]) -> tuple[tuple[int | str, str], ...]:
            parts: list[tuple[int | str, str]] = []
            for depth, (key, value) in enumerate(zip(self.group_by, combo, strict=True), start=1):
                if key == "weekday":
                    parts.append((WEEKDAYS.index(value) if value in WEEKDAYS else 7, value))
                elif key in CHRONOLOGICAL:
                    parts.append((value, value))
                else:
                    parts.append((-sizes[combo[:depth]], value))
            return tuple(parts)

        return sorted(self.groups.items(), key=lambda item: order(item[0]))


class TopCaller(Compact):
    number: str
    name: str | None = None
    calls: int = Field(description="Incoming calls from this number")
    missed: int = 0


class SummarizeInput(CallFilters):
    group_by: list[GroupKey] = Field(
        default_factory=list,
        max_length=2,
        description="Zero, one or two of: call_type, status, direction, line, employee, tag, day, weekday, hour",
    )
    metrics: list[MetricName] | None = Field(
        None, description="Metrics in each group row (default: all; fewer metrics fit more groups in one answer)"
    )
    top_callers: int = Field(5, ge=0, le=20, description="How many of the most frequent callers to list")


class CallSummary(Compact):
    window: TimeWindow
    filters: AppliedFilters
    group_by: list[str]
    totals: Metrics
    groups: list[Metrics] = Field(default_factory=list)
    top_callers: list[TopCaller] = Field(default_factory=list)
    scanned: int = Field(description="Calls read to compute this answer")
    complete: bool = Field(
        description="False when not every call of the window could be read (SIPSIM_SCAN_LIMIT, or see note): "
        "totals are partial"
    )
    omitted_groups: int | None = None
    note: str | None = None


@tool(
    name="summarize_calls",
    title="Summarize calls",
    endpoint=ep.LIST_CALLS,
    input=SummarizeInput,
    output=CallSummary,
    view=CALLS_DASHBOARD,
)
async def summarize_calls(ctx: ToolContext, args: SummarizeInput) -> CallSummary:
    """Count and measure calls on the server: totals, answered/missed counts and rates, talk and wait times,
    grouped by up to two of call_type, status, direction, line, employee, tag, day, weekday, hour, plus the
    top callers. Use it for "how many", "which line/who most", "busiest hour" questions instead of listing
    calls. Same filters as list_calls; the answer says if the scan was cut short.
    """
    window = ctx.window(args.since, args.until, args.timezone, default="last_7_days")
    query = await resolve_filters(ctx, args, window)
    zone = ctx.zone(args.timezone)
    tags = TagNames(ctx)
    aggregate = Aggregate(group_by=tuple(args.group_by), zone=zone, tags=tags, region=ctx.settings.default_region)
    span = (window.until - window.since).total_seconds() or 1.0

    async def on_page(scanned: int, oldest: datetime | None) -> None:
        covered = (window.until - oldest).total_seconds() / span if oldest else 1.0
        await ctx.progress(min(covered, 1.0), 1.0, f"Scanned {scanned} calls")

    scan = Scan(ctx, query, CallFacts, max_scanned=ctx.settings.scan_limit, on_page=on_page)
    async with scan.reading_ahead():
        async for _, found in scan.calls():
            if "tag" in args.group_by:
                await tags.prepare(found)
            aggregate.add(found)
    await ctx.progress(1.0, 1.0, f"Scanned {scan.scanned} calls")

    chosen: set[str] | None = set(args.metrics) if args.metrics else None
    if chosen:  # a rate reads right only beside its denominator
        chosen |= {DENOMINATORS[metric] for metric in chosen if metric in DENOMINATORS}
    rows = [
        Metrics(
            group=dict(zip(args.group_by, combo, strict=True)),
            **tally.metrics().model_dump(include=chosen, exclude={"group"}),
        )
        for combo, tally in aggregate.sorted_groups()
    ]
    result = CallSummary(
        window=window,
        filters=query.applied,
        group_by=list(args.group_by),
        totals=aggregate.totals.metrics(),
        groups=rows[:MAX_GROUPS],
        top_callers=[
            TopCaller(
                number=number,
                name=aggregate.caller_names.get(number),
                calls=count,
                missed=aggregate.missed_by_caller.get(number, 0),
            )
            for number, count in aggregate.callers.top(args.top_callers)
        ],
        scanned=scan.scanned,
        complete=scan.resume is None and not scan.uncertain and not scan.unreadable and not query.unmatched,
    )
    omitted = len(rows) - len(result.groups) + fit(result, "groups")
    notes = []
    if omitted:
        result.omitted_groups = omitted
        notes.append(f"{omitted} groups left out to keep the answer small; narrow the window or group more coarsely.")
    if scan.resume is not None:
        notes.append(
            f"Stopped after {scan.scanned} calls (SIPSIM_SCAN_LIMIT): the figures cover only the newest calls of the "
            "window. Narrow the window or add filters for complete figures."
        )
    if not aggregate.callers.exact and args.top_callers:
        notes.append("More distinct callers than can be tracked exactly: top caller counts may be approximate.")
    notes += scan.notes()
    if missing := aggregate.totals.missing_note():
        notes.append(missing)
    for key, count in aggregate.ungrouped.items():
        notes.append(
            f"{GROUP_SOURCES[key]} missing on {count} of {scan.scanned} calls: they are in the {NONE} {key} group."
        )
    if aggregate.callers_unknown and args.top_callers:
        notes.append(
            f"caller_number missing on {aggregate.callers_unknown} incoming calls: they are not in top_callers."
        )
    result.note = " ".join(notes) or None
    return result
