"""The live data of a sandbox (``SandboxData``: wire-shaped dicts that tests can brute-force over)
and ``build_dataset``, its seeded, deterministic generator."""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from itertools import pairwise
from typing import Any

from .config import JSON, WEBHOOK_EVENTS, SandboxConfig
from .reference import (
    DE_FIRST,
    DE_LAST,
    EMPLOYEES,
    FR_BUSINESS,
    FR_FIRST,
    FR_LAST,
    GROUPS,
    TAGS,
    UK_FIRST,
    UK_LAST,
    phone_rows,
)
from .transcripts import make_summary, make_transcript

FIRST_CALL_ID = 100001


@dataclass
class SandboxData:
    """The live state served by the sandbox (wire-shaped dicts)."""

    anchor: datetime
    account: JSON
    groups: list[JSON]
    phones: list[JSON]
    employees: list[JSON]
    employee_phones: dict[int, list[int]]
    tags: list[JSON]
    calls: list[JSON]
    transcriptions: dict[int, JSON]
    summaries: dict[int, JSON]
    webhook_url: str | None
    webhooks_enabled: list[str]
    initiated_calls: list[JSON] = field(default_factory=list)
    next_tag_id: int = 1
    next_summary_id: int = 1
    next_call_id: int = FIRST_CALL_ID
    _call_index: dict[int, JSON] = field(default_factory=dict, repr=False)
    _ascending_ids: list[int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._call_index = {c["id"]: c for c in self.calls}
        ids = [c["id"] for c in self.calls]
        if all(isinstance(i, int) for i in ids) and all(a < b for a, b in pairwise(ids)):
            self._ascending_ids = ids

    def calls_before(self, last_id: int | None) -> Iterator[JSON]:
        """Calls newest first, only those with an id below `last_id` when given: a keyset page starts
        where the previous one ended instead of rescanning every call."""
        ids = self._ascending_ids
        stop = len(self.calls) if last_id is None or ids is None else bisect_left(ids, last_id)
        for index in range(stop - 1, -1, -1):
            call = self.calls[index]
            if last_id is None or call["id"] < last_id:
                yield call

    def add_call(self, call: JSON) -> None:
        """Append a call that just ended (its id above every other): history, the id index, the keyset order."""
        self.calls.append(call)
        self._call_index[call["id"]] = call
        if self._ascending_ids is not None:
            if self._ascending_ids and call["id"] <= self._ascending_ids[-1]:
                self._ascending_ids = None
            else:
                self._ascending_ids.append(call["id"])

    def call(self, call_id: int) -> JSON | None:
        """The call with this id, or None."""
        return self._call_index.get(call_id)

    def phone(self, phone_id: int) -> JSON | None:
        """The phone with this id, or None."""
        return next((p for p in self.phones if p["id"] == phone_id), None)

    def tag(self, tag_id: int) -> JSON | None:
        """The tag with this id, or None."""
        return next((t for t in self.tags if t["id"] == tag_id), None)

    def webhooks_enabled_events(self) -> list[JSON]:
        """The enabled webhook events in wire shape (``[{"event": name}]``, documented order)."""
        return [{"event": e} for e in WEBHOOK_EVENTS if e in self.webhooks_enabled]

    def employee(self, employee_id: int) -> JSON | None:
        """The employee with this id, or None."""
        return next((e for e in self.employees if e["id"] == employee_id), None)

    def copy(self) -> SandboxData:
        """An independent copy: changing one never shows in the other (about ten times cheaper than a build)."""
        public = [f.name for f in fields(self) if not f.name.startswith("_")]  # the indexes are rebuilt
        return replace(self, **{name: _copied(getattr(self, name)) for name in public})


def _copied(value: Any) -> Any:
    """A deep copy of wire-shaped data (dicts and lists of immutable values)."""
    kind = type(value)
    if kind is dict:
        return {key: _copied(item) for key, item in value.items()}
    if kind is list:
        return [_copied(item) for item in value]
    return value


def iso(dt: datetime) -> str:
    """ISO 8601 UTC with ``Z``, seconds precision."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def paris_tz() -> tzinfo:
    """Europe/Paris, or a fixed UTC+1 when no tz database is available."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Europe/Paris")
    except Exception:
        return timezone(timedelta(hours=1), "CET")


def start_of_day(moment: datetime) -> datetime:
    """Midnight (Paris time, the account's zone) of the day `moment` falls in, in UTC: where a data set
    without an explicit anchor ends, so every launch on one day serves the same ids and numbers."""
    tz = paris_tz()
    local = moment.astimezone(tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz).astimezone(timezone.utc)


# --------------------------------------------------------------------------- callers


@dataclass
class _Caller:
    number: str
    name: str | None
    vip: bool = False


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _make_number(rng: random.Random, country: str, used: set[str]) -> str:
    while True:
        if country == "FR":
            r = rng.random()
            if r < 0.55:
                num = "+336" + _digits(rng, 8)
            elif r < 0.72:
                num = "+337" + _digits(rng, 8)
            else:
                num = "+33" + str(rng.choice((1, 1, 2, 3, 4, 5))) + _digits(rng, 8)
        elif country == "DE":
            num = rng.choice(("+49151", "+49160", "+49170")) + _digits(rng, 8)
            if rng.random() < 0.4:
                num = rng.choice(("+4930", "+4989", "+4940")) + _digits(rng, 8)
        else:
            num = "+447" + _digits(rng, 9) if rng.random() < 0.7 else "+4420" + _digits(rng, 8)
        if num not in used:
            used.add(num)
            return num


def _make_name(rng: random.Random, country: str) -> str:
    if country == "DE":
        return f"{rng.choice(DE_FIRST)} {rng.choice(DE_LAST)}"
    if country == "UK":
        return f"{rng.choice(UK_FIRST)} {rng.choice(UK_LAST)}"
    if rng.random() < 0.2:
        return rng.choice(FR_BUSINESS).format(rng.choice(FR_LAST))
    return f"{rng.choice(FR_FIRST)} {rng.choice(FR_LAST)}"


def _callers(rng: random.Random) -> tuple[list[_Caller], list[_Caller]]:
    """General pool (FR + UK, Zipf rank = index) and German pool."""
    used: set[str] = set()
    general: list[_Caller] = [
        _Caller("+33" + "6" + _digits(rng, 8), "Jean-Pierre Rousseau"),
        _Caller("+33" + "1" + _digits(rng, 8), "Cabinet Mercier & Associés", vip=True),
        _Caller("+33" + "7" + _digits(rng, 8), "Isabelle Faure", vip=True),
    ]
    used.update(c.number for c in general)
    for _ in range(337):
        country = "UK" if rng.random() < 0.06 else "FR"
        num = _make_number(rng, country, used)
        general.append(_Caller(num, _make_name(rng, country) if rng.random() < 0.6 else None))
    german = [_Caller(_make_number(rng, "DE", used), "Weber Maschinenbau GmbH", vip=True)]
    for _ in range(59):
        german.append(_Caller(_make_number(rng, "DE", used), _make_name(rng, "DE") if rng.random() < 0.6 else None))
    return general, german


def _cum(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


# --------------------------------------------------------------------------- calls

_HOUR_WEIGHTS = {8: 5, 9: 9, 10: 11, 11: 10, 12: 5, 13: 6, 14: 10, 15: 10, 16: 9, 17: 8, 18: 5}
_HOURS = list(_HOUR_WEIGHTS)
_HOURS_CUM = _cum([float(w) for w in _HOUR_WEIGHTS.values()])
_OFF_HOURS = [7, 19, 19, 20, 20, 21, 22, 23, 0, 1, 5, 6]
_NIGHT_HOURS = [19, 20, 21, 22, 23, 0, 1, 2, 3, 5, 6, 7]

_INBOUND_LINES = [103, 101, 104, 105, 106]
_INBOUND_CUM = _cum([0.40, 0.27, 0.19, 0.10, 0.04])
_OUTGOING_LINES = [101, 103, 102, 105, 104]
_OUTGOING_CUM = _cum([0.36, 0.26, 0.14, 0.14, 0.10])


@dataclass
class _Gen:
    rng: random.Random
    tz: tzinfo
    start: datetime
    end: datetime
    dates: list[date]
    dates_cum: list[float]

    def when(self, night: bool) -> datetime:
        """A random start time inside (start, end], Paris business hours mostly."""
        rng = self.rng
        for _ in range(100):
            day = rng.choices(self.dates, cum_weights=self.dates_cum)[0]
            if night:
                hour = rng.choice(_NIGHT_HOURS)
            elif rng.random() < 0.93:
                hour = rng.choices(_HOURS, cum_weights=_HOURS_CUM)[0]
            else:
                hour = rng.choice(_OFF_HOURS)
            local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60))
            utc = local.replace(tzinfo=self.tz).astimezone(timezone.utc)
            if self.start < utc <= self.end:
                return utc
        return self.end


def _employee_picker() -> dict[int, tuple[list[int], list[float]]]:
    by_line: dict[int, tuple[list[int], list[float]]] = {}
    for eid, _name, lines in EMPLOYEES:
        for line in lines:
            ids, weights = by_line.setdefault(line, ([], []))
            ids.append(eid)
            weights.append(1.0 / len(ids) ** 0.6)
    return {line: (ids, _cum(w)) for line, (ids, w) in by_line.items()}


def tag_ref(tag: JSON) -> JSON:
    """A tag as calls embed it: id, name and colour."""
    return {"id": tag["id"], "name": tag["name"], "color": tag["color"]}


def _choose_tags(rng: random.Random, call: JSON, caller: _Caller, line: int) -> list[int]:
    ids: list[int] = []
    answered = call["status"] == "ANSWER"
    if caller.vip and rng.random() < 0.7:
        ids.append(1)
    if line == 103 and answered and rng.random() < 0.16:
        ids.append(4)
    if line in (101, 102) and answered and rng.random() < 0.25:
        ids.append(5)
    if call["call_type"] == "missed" and caller.name is None and call["wait_time"] < 25 and rng.random() < 0.6:
        ids.append(6)
    follow_up = 0.18 if call["call_type"] in ("missed", "voicemail") else (0.04 if answered else 0.0)
    if rng.random() < follow_up:
        ids.append(3)
    if rng.random() < 0.03:
        ids.append(2)
    if len(ids) > 2:
        ids = sorted(rng.sample(ids, 2))
    return sorted(set(ids))


def _make_call(
    g: _Gen,
    general: tuple[list[_Caller], list[float]],
    german: tuple[list[_Caller], list[float]],
    staff: dict[int, tuple[list[int], list[float]]],
    phones: dict[int, JSON],
) -> tuple[JSON, _Caller, int]:
    rng = g.rng
    inbound = rng.random() < 0.6
    if inbound:
        if rng.random() < 0.11:
            caller = rng.choices(german[0], cum_weights=german[1])[0]
            line = 102 if rng.random() < 0.85 else 101
        else:
            caller = rng.choices(general[0], cum_weights=general[1])[0]
            line = rng.choices(_INBOUND_LINES, cum_weights=_INBOUND_CUM)[0]
            if caller.vip and rng.random() < 0.7:
                line = 101
    else:
        line = rng.choices(_OUTGOING_LINES, cum_weights=_OUTGOING_CUM)[0]
        pool = german if line == 102 else general
        caller = rng.choices(pool[0], cum_weights=pool[1])[0]
    start = g.when(night=line == 106)
    local_hour = start.astimezone(g.tz).hour
    off_hours = local_hour < 8 or local_hour >= 19 or start.astimezone(g.tz).weekday() >= 5
    phone = phones[line]
    employee: int | None = None
    voicemail = False
    if inbound:
        answered = rng.random() < (0.36 if off_hours else 0.78)
        if answered:
            call_type, status = "inbound", "ANSWER"
            wait = int(rng.triangular(2, 35, 6))
        else:
            allow_vm = phone["voicemail_setting"]["allow_voicemail"]
            voicemail = allow_vm and rng.random() < 0.3
            if voicemail:
                call_type, status, wait = "voicemail", "MISSED", rng.randint(20, 45)
            else:
                call_type = "missed"
                r = rng.random()
                status = "MISSED" if r < 0.8 else ("NOANSWER" if r < 0.92 else "BUSY")
                wait = rng.randint(0, 4) if status == "BUSY" else int(rng.triangular(3, 60, 20))
    else:
        call_type = "outgoing"
        r = rng.random()
        status = "ANSWER" if r < 0.7 else ("NOANSWER" if r < 0.92 else "BUSY")
        answered = status == "ANSWER"
        if status == "ANSWER":
            wait = int(rng.triangular(3, 25, 8))
        else:
            wait = rng.randint(30, 60) if status == "NOANSWER" else rng.randint(0, 3)
    if answered or not inbound:
        ids, cum = staff[line]
        employee = rng.choices(ids, cum_weights=cum)[0]
    duration = min(1800, max(20, int(rng.lognormvariate(4.7, 0.9)))) if answered else 0
    answer_time = start + timedelta(seconds=wait) if answered else None
    end = start + timedelta(seconds=wait + duration + (rng.randint(8, 60) if voicemail else 0))
    pbx = f"call_{rng.getrandbits(32):08x}"
    rec = phone["record_setting"]["record_inbound_call" if inbound else "record_outbound_call"]
    outbound_number = phone["outbound_setting"]["outbound_number"]
    call: JSON = {
        "id": 0,
        "pbx_id": pbx,
        "direction": "inbound" if inbound else "outgoing",
        "call_type": call_type,
        "status": status,
        "start_time": iso(start),
        "answer_time": iso(answer_time) if answer_time else None,
        "end_time": iso(end),
        "duration": duration,
        "wait_time": wait,
        "caller_number": caller.number if inbound else outbound_number,
        "caller_name": caller.name if inbound else None,
        "receiver_number": phone["number"] if inbound else caller.number,
        "phone_id": line,
        "phone_name": phone["name"],
        "employee_id": employee,
        "employee_name": None,
        "tags": [],
        "recording_url": f"https://app.sipsim.com/recordings/{pbx}.mp3" if answered and rec else None,
        "voicemail_url": f"https://app.sipsim.com/voicemails/{pbx}.mp3" if voicemail else None,
    }
    return call, caller, line


def _zipf(pool: list[_Caller], s: float, offset: float, boost: float) -> tuple[list[_Caller], list[float]]:
    """Zipf-like weights by rank (index), the top one boosted to stand out."""
    weights = [1.0 / (i + offset) ** s for i in range(len(pool))]
    weights[0] *= boost
    return pool, _cum(weights)


def build_dataset(config: SandboxConfig) -> SandboxData:
    """The seeded data set described by ``config`` (deterministic): built once per process for each
    distinct config, then copied, so many simulators of one config (tests, benchmarks) start fast."""
    anchor = config.anchor or start_of_day(datetime.now(timezone.utc))
    if anchor.tzinfo is None:
        raise ValueError("SandboxConfig.anchor must be an aware datetime")
    anchor = anchor.astimezone(timezone.utc).replace(microsecond=0)
    return _seeded(config.seed, config.calls, config.days, anchor, config.webhook_url).copy()


@lru_cache(maxsize=8)
def _seeded(seed: int, n_calls: int, days: int, anchor: datetime, webhook_url: str | None) -> SandboxData:
    """The pristine data set of these knobs; never handed out (only copies of it are)."""
    rng = random.Random(seed)
    tz = paris_tz()
    start = anchor - timedelta(days=days)

    phones = phone_rows()
    for i, p in enumerate(phones):
        p["created_at"] = iso(start - timedelta(days=420 - 35 * i, hours=3 * i))
        p["updated_at"] = iso(start - timedelta(days=40 - 4 * i, hours=2 * i))
    by_id = {p["id"]: p for p in phones}
    employees = [{"id": eid, "name": name} for eid, name, _ in EMPLOYEES]
    names = {e["id"]: e["name"] for e in employees}
    tags = [dict(t) for t in TAGS]

    first = start.astimezone(tz).date()
    n_days = (anchor.astimezone(tz).date() - first).days + 1
    dates = [first + timedelta(days=i) for i in range(n_days)]
    weights = [(1.0, 1.0, 1.0, 1.0, 0.95, 0.22, 0.08)[d.weekday()] for d in dates]
    gen = _Gen(rng, tz, start, anchor, dates, _cum(weights))

    general, german = _callers(rng)
    zg, zd = _zipf(general, 1.05, 4.0, 1.35), _zipf(german, 1.0, 1.5, 1.0)
    staff = _employee_picker()
    raw: list[tuple[JSON, _Caller, int]] = [_make_call(gen, zg, zd, staff, by_id) for _ in range(n_calls)]
    raw.sort(key=lambda r: r[0]["start_time"])
    used_pbx: set[str] = set()
    calls: list[JSON] = []
    for i, (call, caller, line) in enumerate(raw):
        call["id"] = FIRST_CALL_ID + i
        while call["pbx_id"] in used_pbx:
            call["pbx_id"] = f"call_{rng.getrandbits(32):08x}"
            if call["recording_url"]:
                call["recording_url"] = f"https://app.sipsim.com/recordings/{call['pbx_id']}.mp3"
            if call["voicemail_url"]:
                call["voicemail_url"] = f"https://app.sipsim.com/voicemails/{call['pbx_id']}.mp3"
        used_pbx.add(call["pbx_id"])
        call["employee_name"] = names.get(call["employee_id"]) if call["employee_id"] else None
        call["tags"] = [tag_ref(tags[t - 1]) for t in _choose_tags(rng, call, caller, line)]
        calls.append(call)

    transcriptions: dict[int, JSON] = {}
    summaries: dict[int, JSON] = {}
    cutoff = iso(anchor - timedelta(days=7))
    account = {
        "id": 12345,
        "company_name": "Acme Corporation",
        "email": "admin@acme.com",
        "timezone": "Europe/Paris",
        "country": "FR",
        "plan": "business",
        "created_at": iso(start - timedelta(days=512, hours=5, minutes=17)),
    }
    for call in calls:
        if call["recording_url"] and call["start_time"] < cutoff and rng.random() < 0.12:
            transcriptions[call["id"]] = {
                "call_id": call["id"],
                "speech_state": "speech_recognized",
                "payload": make_transcript(call, str(account["company_name"])),
                "ready_at": 0.0,
            }
            if rng.random() < 0.5:
                sid = len(summaries) + 1
                end = datetime.strptime(call["end_time"], "%Y-%m-%dT%H:%M:%SZ")
                summaries[call["id"]] = {
                    "id": sid,
                    "call_id": call["id"],
                    "summary": make_summary(call),
                    "status": "done",
                    "created_at": iso(end.replace(tzinfo=timezone.utc) + timedelta(minutes=3)),
                    "ready_at": 0.0,
                }

    return SandboxData(
        anchor=anchor,
        account=account,
        groups=[dict(g) for g in GROUPS],
        phones=phones,
        employees=employees,
        employee_phones={eid: list(lines) for eid, _, lines in EMPLOYEES},
        tags=tags,
        calls=calls,
        transcriptions=transcriptions,
        summaries=summaries,
        webhook_url=webhook_url,
        webhooks_enabled=["incoming_call_start", "incoming_call_end"] if webhook_url else [],
        next_tag_id=len(tags) + 1,
        next_summary_id=len(summaries) + 1,
        next_call_id=FIRST_CALL_ID + len(calls),
    )
