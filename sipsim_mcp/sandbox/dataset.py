"""Configuration and the seeded, deterministic data set of the SIPSIM sandbox.

Everything is kept as plain JSON-ready dicts in the wire shape of the API, so tests can
compute expected answers by brute force over ``SandboxData.calls``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
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

FIRST_CALL_ID = 100001


@dataclass
class ClientSpec:
    """An API integration (OAuth client) known to the sandbox."""

    client_id: str
    client_secret: str
    scopes: frozenset[str] = frozenset(ALL_SCOPES)
    narrow_scopes: bool = False
    grant_types: frozenset[str] = frozenset({"client_credentials"})


@dataclass
class SandboxConfig:
    """Knobs of a sandbox instance; identical configs give identical data sets."""

    seed: int = 7
    calls: int = 5000
    days: int = 180
    anchor: datetime | None = None
    clients: list[ClientSpec] = field(default_factory=lambda: [ClientSpec("demo", "demo-secret")])
    token_ttl: int = 7200
    transcription_delay: float = 0.0
    summary_delay: float = 0.0
    webhook_url: str | None = "https://hooks.example.com/sipsim"


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

    def __post_init__(self) -> None:
        self._call_index = {c["id"]: c for c in self.calls}

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


# --------------------------------------------------------------------------- static


GROUPS: list[JSON] = [
    {"group_id": 5, "group_title": "Sales Team"},
    {"group_id": 6, "group_title": "Support Team"},
    {"group_id": 7, "group_title": "Front Office"},
    {"group_id": 8, "group_title": "Finance"},
]

TAGS: list[JSON] = [
    {"id": 1, "name": "VIP", "color": "#8B5CF6", "description": "Key customer accounts"},
    {"id": 2, "name": "Important", "color": "#FF0000", "description": None},
    {"id": 3, "name": "Follow-up", "color": "#F59E0B", "description": "Needs a call back"},
    {"id": 4, "name": "Complaint", "color": "#EF4444", "description": "Customer complaint to handle"},
    {"id": 5, "name": "Lead", "color": "#22C55E", "description": "New sales opportunity"},
    {"id": 6, "name": "Spam", "color": "#6B7280", "description": None},
]

EMPLOYEES: list[tuple[int, str, list[int]]] = [
    (1, "Marie Dupont", [101, 104]),
    (2, "Thomas Martin", [101]),
    (3, "Julien Bernard", [103]),
    (4, "Camille Leroy", [103]),
    (5, "Nicolas Petit", [103, 106]),
    (6, "Marie Lambert", [104, 105]),
    (7, "Sophie Moreau", [105]),
    (8, "Lukas Schneider", [102]),
    (9, "Antoine Girard", [101, 102]),
    (10, "Chloé Fontaine", [103]),
]


def _phone(
    pid: int,
    name: str,
    status: str,
    internal: int,
    number: str,
    group: int | None,
    *,
    record: tuple[bool, bool],
    voicemail: int | bool,
    forced: str | None = None,
    forced_on: bool = False,
    conditional: tuple[bool, int, str | None] = (False, 20, None),
    outbound: tuple[str, int] | None = None,
    audio: tuple[int | None, int | None, int | None, int] = (None, None, None, 0),
) -> JSON:
    grp = next(g for g in GROUPS if g["group_id"] == group)
    return {
        "id": pid,
        "name": name,
        "status": status,
        "internal_number": internal,
        "number": number,
        "created_at": "",
        "updated_at": "",
        "group": dict(grp),
        "outbound_setting": {
            "outbound_number": outbound[0] if outbound else number,
            "use_different_outbound_number": outbound is not None,
            "outbound_number_phone_id": outbound[1] if outbound else None,
        },
        "record_setting": {"record_inbound_call": record[0], "record_outbound_call": record[1]},
        "voicemail_setting": {
            "allow_voicemail": voicemail is not False,
            "voicemail_file_id": None if isinstance(voicemail, bool) else voicemail,
        },
        "forwarding_setting": {
            "forced": {"enabled": forced_on, "forward_number": forced},
            "conditional": {
                "enabled": conditional[0],
                "timeout_seconds": conditional[1],
                "forward_number": conditional[2],
            },
        },
        "audio_setting": {
            "inbound_call_preroll_id": audio[0],
            "outbound_call_preroll_id": audio[1],
            "no_answer_file_id": audio[2],
            "wait_preroll_dial": audio[3],
        },
    }


def _phones() -> list[JSON]:
    return [
        _phone(101, "Sales", "active", 101, "+33184880101", 5, record=(True, True), voicemail=31,
               audio=(11, None, 12, 0)),
        _phone(102, "Sales Germany", "active", 102, "+493012345601", 5, record=(False, False),
               voicemail=32),
        _phone(103, "Support", "active", 200, "+33184880202", 6, record=(True, True), voicemail=True,
               conditional=(True, 25, "+33184880303"), audio=(21, None, None, 1)),
        _phone(104, "Reception", "active", 300, "+33184880303", 7, record=(True, False), voicemail=33,
               forced="+33612004578"),
        _phone(105, "Billing", "active", 400, "+33184880404", 8, record=(True, True), voicemail=False,
               outbound=("+33184880303", 104)),
        _phone(106, "Night Line", "inactive", 500, "+33184880505", 7, record=(False, False),
               voicemail=True, forced="+33612009988", forced_on=True),
        _phone(107, "Warehouse", "not_activated", 600, "+33184880606", 7, record=(False, False),
               voicemail=False),
    ]  # fmt: skip


# --------------------------------------------------------------------------- callers

FR_FIRST = (
    "Jean", "Pierre", "Sophie", "Isabelle", "Nathalie", "Philippe", "Laurent", "Céline", "Julie",
    "François", "Élodie", "Mathieu", "Aurélie", "Olivier", "Sandrine", "Guillaume", "Émilie",
    "Stéphane", "Valérie", "Hélène", "Patrick", "Caroline", "Sébastien", "Léa", "Hugo", "Manon",
    "Lucas", "Inès", "Louis", "Claire",
)  # fmt: skip
FR_LAST = (
    "Rousseau", "Lefèvre", "Mercier", "Blanc", "Guérin", "Faure", "André", "Chevalier", "Roux",
    "Vincent", "Muller", "Gauthier", "Perrin", "Morel", "Fournier", "Bonnet", "Lambert", "Fontaine",
    "Giraud", "Durand", "Lemoine", "Masson", "Boyer", "Denis", "Garnier", "Chevallier", "Clément",
    "Robin", "Aubert", "Barbier",
)  # fmt: skip
FR_BUSINESS = (
    "Boulangerie {}", "Garage {}", "Cabinet {} & Associés", "SARL {} Transports", "Pharmacie {}",
    "Hôtel {}", "Atelier {}", "{} Immobilier",
)  # fmt: skip
DE_FIRST = ("Jonas", "Anna", "Felix", "Lena", "Maximilian", "Sarah", "Paul", "Laura", "Leon", "Julia")
DE_LAST = ("Müller", "Schmidt", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter")
UK_FIRST = ("James", "Oliver", "Emily", "Charlotte", "Harry", "Amelia", "George", "Sophie")
UK_LAST = ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Walker")


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


def _tag_ref(tag: JSON) -> JSON:
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
    """Build the seeded data set described by ``config`` (deterministic)."""
    anchor = config.anchor or datetime.now(timezone.utc)
    if anchor.tzinfo is None:
        raise ValueError("SandboxConfig.anchor must be an aware datetime")
    anchor = anchor.astimezone(timezone.utc).replace(microsecond=0)
    rng = random.Random(config.seed)
    tz = paris_tz()
    start = anchor - timedelta(days=config.days)

    phones = _phones()
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
    raw: list[tuple[JSON, _Caller, int]] = [_make_call(gen, zg, zd, staff, by_id) for _ in range(config.calls)]
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
        call["tags"] = [_tag_ref(tags[t - 1]) for t in _choose_tags(rng, call, caller, line)]
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
                "payload": make_transcript(call, account["company_name"]),
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
        webhook_url=config.webhook_url,
        webhooks_enabled=["incoming_call_start", "incoming_call_end"] if config.webhook_url else [],
        next_tag_id=len(tags) + 1,
        next_summary_id=len(summaries) + 1,
        next_call_id=FIRST_CALL_ID + len(calls),
    )


# --------------------------------------------------------------------------- AI text

_TOPICS: dict[int, list[tuple[str, str, str, str]]] = {
    101: [
        ("d'un devis pour l'offre professionnelle", "a quote for the business plan",
         "je vous prépare le devis aujourd'hui", "I will prepare the quote today"),
        ("de l'ajout de trois lignes au contrat", "adding three lines to the contract",
         "l'avenant part en signature cet après-midi", "the amendment goes out for signature this afternoon"),
    ],
    102: [
        ("d'un devis pour l'offre professionnelle", "a quote for the business plan",
         "je vous prépare le devis aujourd'hui", "I will prepare the quote today"),
        ("d'une démonstration de la plateforme", "a demo of the platform",
         "la démonstration est planifiée jeudi", "the demo is booked for Thursday"),
    ],
    103: [
        ("d'un problème de connexion sur la ligne", "a connection problem on the line",
         "je relance le service de votre côté", "I am resetting the service on our side"),
        ("d'appels qui coupent en pleine conversation", "calls dropping in the middle of a conversation",
         "un ticket est ouvert auprès de l'équipe technique", "a ticket is open with the technical team"),
    ],
    104: [
        ("d'un rendez-vous la semaine prochaine", "an appointment next week",
         "le rendez-vous est confirmé", "the appointment is confirmed"),
        ("d'une livraison attendue", "an expected delivery",
         "je transmets votre message au service concerné", "I am passing your message to the right team"),
    ],
    105: [
        ("de la dernière facture", "the latest invoice",
         "la facture a été corrigée", "the invoice has been corrected"),
        ("d'un changement de moyen de paiement", "a change of payment method",
         "le prélèvement est mis à jour", "the direct debit has been updated"),
    ],
    106: [
        ("d'une intervention urgente", "an urgent intervention",
         "un technicien vous rappelle demain matin", "a technician will call you back tomorrow morning"),
    ],
}  # fmt: skip


def _external(call: JSON) -> str:
    return call["caller_number"] if call["direction"] == "inbound" else call["receiver_number"]


def _topic(call: JSON) -> tuple[bool, str, str]:
    """(french?, topic, outcome) for a call, deterministic from its id."""
    options = _TOPICS.get(call["phone_id"], _TOPICS[104])
    fr_t, en_t, fr_d, en_d = options[random.Random(call["id"]).randrange(len(options))]
    french = _external(call).startswith("+33")
    return french, (fr_t if french else en_t), (fr_d if french else en_d)


def _de(company: str) -> str:
    return ("d'" if company[:1].lower() in "aeiouyéh" else "de ") + company


def _national(number: str) -> str:
    if number.startswith("+33") and len(number) == 12:
        d = "0" + number[3:]
        return " ".join(d[i : i + 2] for i in range(0, 10, 2))
    return number


def make_transcript(call: JSON, company: str) -> list[JSON]:
    """A short plausible dialogue for ``call`` (channel 0 = caller, 1 = receiver)."""
    french, topic, outcome = _topic(call)
    emp = (call["employee_name"] or ("Marie" if french else "Alex")).split()[0]
    name = call["caller_name"]
    external = _national(_external(call)) if french else _external(call)
    if call["direction"] == "inbound":
        lines_fr = [
            (1, f"Bonjour, {company}, service {call['phone_name']}, {emp} à l'appareil. Que puis-je faire pour vous ?"),
            (
                0,
                f"Bonjour, ici {name}. Je vous appelle au sujet {topic}."
                if name
                else f"Bonjour, je vous appelle au sujet {topic}.",
            ),
            (1, "Bien sûr. Pouvez-vous me confirmer votre numéro, s'il vous plaît ?"),
            (0, f"Oui, c'est le {external}."),
            (1, f"Merci. Je vois votre dossier, {outcome}."),
            (0, "Très bien, merci beaucoup."),
            (1, "Je vous envoie une confirmation par e-mail. Bonne journée !"),
            (0, "Merci, au revoir."),
        ]
        lines_en = [
            (1, f"Hello, {company}, {call['phone_name']} line, {emp} speaking. How can I help you?"),
            (0, f"Hi, this is {name}. I'm calling about {topic}." if name else f"Hi, I'm calling about {topic}."),
            (1, "Of course. Could you confirm your phone number, please?"),
            (0, f"Yes, it's {external}."),
            (1, f"Thank you. I have your file here, {outcome}."),
            (0, "Great, thank you very much."),
            (1, "I'll send you a confirmation by e-mail. Have a nice day!"),
            (0, "Thanks, goodbye."),
        ]
    else:
        greet = f", {name}" if name else ""
        lines_fr = [
            (1, "Allô ?"),
            (0, f"Bonjour{greet}, {emp} {_de(company)}. Je vous rappelle au sujet {topic}."),
            (1, "Ah oui, merci de me rappeler."),
            (0, f"Alors, {outcome}."),
            (1, "Parfait, merci."),
            (0, "Je vous envoie un récapitulatif par e-mail. Bonne journée !"),
            (1, "Merci, au revoir."),
        ]
        lines_en = [
            (1, "Hello?"),
            (0, f"Hello{greet}, this is {emp} from {company}. I'm calling you back about {topic}."),
            (1, "Oh yes, thanks for calling back."),
            (0, f"So, {outcome}."),
            (1, "Perfect, thank you."),
            (0, "I'll send you a summary by e-mail. Have a nice day!"),
            (1, "Thanks, goodbye."),
        ]  # fmt: skip
    lines = lines_fr if french else lines_en
    spans: list[tuple[float, float]] = []
    t = 0.8
    for _, text in lines:
        length = max(1.2, 0.33 * len(text.split()))
        spans.append((t, t + length))
        t += length + 0.6
    scale = min(1.0, max(call["duration"] - 1, 5) / t)
    return [
        {"channel": ch, "start": round(s * scale, 2), "end": round(e * scale, 2), "text": text}
        for (ch, text), (s, e) in zip(lines, spans, strict=True)
    ]


def make_summary(call: JSON) -> str:
    """A one-paragraph summary of ``call`` consistent with its transcript."""
    french, topic, outcome = _topic(call)
    emp = call["employee_name"] or ("un conseiller" if french else "an agent")
    who = call["caller_name"] or _external(call)
    if call["direction"] == "inbound":
        if french:
            return (
                f"{who} a appelé la ligne {call['phone_name']} au sujet {topic}. "
                f"{emp} a pris en charge la demande : {outcome}. Une confirmation sera envoyée par e-mail."
            )
        return (
            f"{who} called the {call['phone_name']} line about {topic}. "
            f"{emp} handled the request: {outcome}. A confirmation will be sent by e-mail."
        )
    if french:
        return f"{emp} a rappelé {who} au sujet {topic} : {outcome}. Un récapitulatif sera envoyé par e-mail."
    return f"{emp} called {who} back about {topic}: {outcome}. A summary will be sent by e-mail."
