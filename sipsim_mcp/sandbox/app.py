"""Starlette app of the SIPSIM sandbox: the OAuth token endpoint, ``/api/v2``, faults and the log.

All requests go through one catch-all route so that routing errors (404/405), fault injection and
the request log use the same code path as the real endpoints.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .dataset import (
    ALL_SCOPES,
    JSON,
    WEBHOOK_EVENTS,
    SandboxConfig,
    SandboxData,
    build_dataset,
    iso,
    make_summary,
    make_transcript,
)

logger = logging.getLogger("sipsim_mcp.sandbox")

API_PREFIX = "/api/v2"
TOKEN_PATH = "/oauth/token"
E164 = re.compile(r"\+[1-9]\d{6,14}")
HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
CALL_TYPES = ("inbound", "outgoing", "missed", "voicemail")
PHONE_STATUSES = ("not_activated", "active", "inactive")
CLIENT_CLOSED_REQUEST = 499
MALFORMED_BODY = b'{"status": 200, "data": [{"id": 1, "caller_number": "+3361'


@dataclass
class Fault:
    """A scripted failure: the next ``times`` matching requests get it."""

    method: str | None = None
    path: str = ""
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    malformed: bool = False
    errors: list[str] | None = None
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        """Unspent, same method (or any) and path prefix."""
        return self.times > 0 and (self.method is None or self.method.upper() == method) and path.startswith(self.path)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the sandbox saw and answered it."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: Any
    token_scopes: tuple[str, ...] | None
    status: int


@dataclass
class IssuedToken:
    """An access token handed out by the token endpoint (or ``issue_token``)."""

    client_id: str
    scopes: tuple[str, ...]
    created_at: float
    expires_at: float


class ApiError(Exception):
    """An error answered with the API error envelope."""

    def __init__(self, status: int, *errors: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = list(errors)
        self.headers = dict(headers or {})


class Ok(NamedTuple):
    """A handler's success: ``data`` and, for lists, ``pagination``."""

    data: Any
    status: int = 200
    pagination: JSON | None = None


class SandboxState:
    """Config, live data, tokens, faults and the request log of one sandbox."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.data: SandboxData = build_dataset(self.config)
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.tokens: dict[str, IssuedToken] = {}
        self.lock = threading.RLock()

    def add_fault(self, fault: Fault) -> None:
        """Queue a fault; faults are tried in the order they were added."""
        with self.lock:
            self.faults.append(fault)

    def clear_log(self) -> None:
        """Forget the logged requests."""
        with self.lock:
            self.requests.clear()

    def issue_token(self, scopes: Iterable[str] | None = None, client_id: str | None = None) -> str:
        """Mint a token directly (no HTTP); default: the first client with all its scopes."""
        client = next((c for c in self.config.clients if c.client_id == client_id), None)
        if client is None and self.config.clients and client_id is None:
            client = self.config.clients[0]
        granted = tuple(scopes) if scopes is not None else _ordered(client.scopes if client else ALL_SCOPES)
        unknown = [s for s in granted if s not in ALL_SCOPES]
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return self._mint(client.client_id if client else (client_id or "sandbox"), granted)[0]

    def issued_tokens(self) -> list[str]:
        """Every access token issued so far (expired ones included), oldest first."""
        with self.lock:
            return list(self.tokens)

    def expire_tokens(self) -> None:
        """Make every token issued so far expired."""
        with self.lock:
            past = time.time() - 1
            for token in self.tokens.values():
                token.expires_at = min(token.expires_at, past)

    def _mint(self, client_id: str, scopes: tuple[str, ...]) -> tuple[str, IssuedToken]:
        now = time.time()
        value = secrets.token_urlsafe(32)
        issued = IssuedToken(client_id, scopes, now, now + self.config.token_ttl)
        with self.lock:
            self.tokens[value] = issued
        return value, issued

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def _log(self, entry: LoggedRequest) -> None:
        with self.lock:
            self.requests.append(entry)


# --------------------------------------------------------------------------- helpers


def now_iso() -> str:
    """Current time, ISO 8601 UTC with ``Z``."""
    return iso(datetime.now(timezone.utc))


def _ordered(scopes: Iterable[str]) -> tuple[str, ...]:
    wanted = set(scopes)
    return tuple(s for s in ALL_SCOPES if s in wanted)


def _json_response(payload: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json", headers=dict(headers or {}))


def _error_response(status: int, errors: list[str], path: str, headers: Mapping[str, str] | None = None) -> Response:
    payload = {"status": status, "errors": errors, "request_id": str(uuid.uuid4()), "path": path}
    return _json_response(payload, status, headers)


def _oauth_error(status: int, error: str, description: str, headers: Mapping[str, str] | None = None) -> Response:
    merged = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return _json_response({"error": error, "error_description": description}, status, merged)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _path_id(raw: str, what: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(400, f"Invalid {what} id")
    return int(raw)


def _redact(body: Any) -> Any:
    if isinstance(body, dict) and "client_secret" in body:
        return {**body, "client_secret": "[redacted]"}
    return body


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _log_body(raw: bytes, content_type: str | None) -> Any:
    if not raw:
        return None
    if _media_type(content_type) == "application/x-www-form-urlencoded":
        return _redact(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
    try:
        return _redact(json.loads(raw))
    except ValueError:
        return None


# --------------------------------------------------------------------------- parsing

_INSTANT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)"
)


def parse_instant(text: str) -> datetime | None:
    """An ISO 8601 date-time with ``Z`` or an offset, or None."""
    m = _INSTANT.fullmatch(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        if zone in ("Z", "z"):
            tz = timezone.utc
        else:
            digits = zone[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
            tz = timezone(-delta if zone[0] == "-" else delta)
        micro = int((frac or "0")[:6].ljust(6, "0"))
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=tz
        ).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _id_list(query: Mapping[str, str], name: str, errors: list[str]) -> set[int] | None:
    raw = query.get(name)
    if raw is None or not raw.strip():
        return None
    parts = [p.strip() for p in raw.split(",")]
    if not all(p.isdigit() and len(p) <= 18 for p in parts):
        errors.append(f"{name} must be comma-separated integer ids")
        return None
    return {int(p) for p in parts}


def _limit(query: Mapping[str, str], errors: list[str]) -> int:
    raw = query.get("limit")
    if raw is None:
        return 1000
    value = raw.strip()
    if not value.isdigit() or not 20 <= int(value) <= 1000:
        errors.append("limit must be between 20 and 1000")
        return 1000
    return int(value)


def encode_page(last_id: int) -> str:
    """Page token: standard base64 of ``{"id": last_id}``."""
    return base64.b64encode(json.dumps({"id": last_id}, separators=(",", ":")).encode()).decode()


def _page_after(query: Mapping[str, str]) -> int | None:
    raw = query.get("page")
    if raw is None or raw == "":
        return None
    try:
        decoded = json.loads(base64.b64decode(raw, validate=True))
        last = decoded["id"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise ApiError(400, "Invalid page token") from None
    if not _is_int(last):
        raise ApiError(400, "Invalid page token")
    return last


def paginate(items: list[JSON], limit: int, after: int | None, descending: bool) -> Ok:
    """Keyset page of ``items`` (already in list order) continuing strictly after ``after``."""
    if after is not None:
        items = [i for i in items if (i["id"] < after if descending else i["id"] > after)]
    page = items[:limit]
    has_more = len(items) > limit
    pagination: JSON = {"count": len(page), "limit": limit, "has_more": has_more}
    if has_more:
        pagination["page"] = encode_page(page[-1]["id"])
    return Ok(page, 200, pagination)


def _list_page(query: Mapping[str, str], items: list[JSON], descending: bool = False) -> Ok:
    errors: list[str] = []
    limit = _limit(query, errors)
    if errors:
        raise ApiError(422, *errors)
    return paginate(items, limit, _page_after(query), descending)


def _search_matcher(text: str) -> Callable[[JSON], bool]:
    needle = text.strip().casefold()
    digits = ""
    if re.fullmatch(r"\+?[\d\s.\-()/]+", text.strip()):
        all_digits = re.sub(r"\D", "", text)
        if len(all_digits) >= 6:
            digits = all_digits.lstrip("0")

    def match(call: JSON) -> bool:
        name = call["caller_name"] or ""
        if (
            needle in call["caller_number"].casefold()
            or needle in call["receiver_number"].casefold()
            or needle in name.casefold()
        ):
            return True
        return bool(digits) and (
            re.sub(r"\D", "", call["caller_number"]).endswith(digits)
            or re.sub(r"\D", "", call["receiver_number"]).endswith(digits)
        )

    return match


# --------------------------------------------------------------------------- handlers


@dataclass
class Ctx:
    """What a handler gets."""

    state: SandboxState
    params: dict[str, str]
    query: Mapping[str, str]
    body: Any

    @property
    def data(self) -> SandboxData:
        return self.state.data

    def obj(self) -> JSON:
        """The JSON body as an object (empty body: ``{}``)."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, "Request body must be a JSON object")
        return self.body

    def call(self) -> JSON:
        call = self.data.call(_path_id(self.params["call_id"], "call"))
        if call is None:
            raise ApiError(404, "Call not found")
        return call


def h_account(ctx: Ctx) -> Ok:
    return Ok(dict(ctx.data.account))


def h_list_calls(ctx: Ctx) -> Ok:
    q, errors = ctx.query, []
    start = end = None
    raw_start = q.get("start_time")
    if raw_start is None or not raw_start.strip():
        errors.append("start_time is required")
    elif (start := parse_instant(raw_start)) is None:
        errors.append("start_time must be an ISO 8601 date-time")
    raw_end = q.get("end_time")
    if raw_end is None or not raw_end.strip():
        # "now"; a data set anchored in the future is never hidden by the real clock.
        end = max(datetime.now(timezone.utc), ctx.data.anchor)
    elif (end := parse_instant(raw_end)) is None:
        errors.append("end_time must be an ISO 8601 date-time")
    if start and end and end < start:
        errors.append("end_time must be after start_time")
    employees = _id_list(q, "employees", errors)
    tags = _id_list(q, "tags", errors)
    types: set[str] | None = None
    if (raw_types := q.get("call_types")) is not None and raw_types.strip():
        types = {t.strip() for t in raw_types.split(",")}
        if not types <= set(CALL_TYPES):
            errors.append("call_types must be a comma-separated subset of inbound, outgoing, missed, voicemail")
    limit = _limit(q, errors)
    if errors:
        raise ApiError(422, *errors)
    after = _page_after(q)
    assert start is not None and end is not None
    if start.microsecond:
        start = start.replace(microsecond=0) + timedelta(seconds=1)
    lo, hi = iso(start), iso(end.replace(microsecond=0))
    search = q.get("search", "").strip()
    matcher = _search_matcher(search) if search else None
    out = []
    for call in reversed(ctx.data.calls):
        if not lo <= call["start_time"] <= hi:
            continue
        if employees is not None and call["employee_id"] not in employees:
            continue
        if tags is not None and not any(t["id"] in tags for t in call["tags"]):
            continue
        if types is not None and call["call_type"] not in types:
            continue
        if matcher and not matcher(call):
            continue
        out.append(call)
    return paginate(out, limit, after, descending=True)


def h_get_call(ctx: Ctx) -> Ok:
    return Ok(ctx.call())


def h_create_call(ctx: Ctx) -> Ok:
    body, errors = ctx.obj(), []
    phone_id, number = body.get("phone_id"), body.get("number")
    if not _is_int(phone_id):
        errors.append("phone_id is required")
    if not isinstance(number, str) or not E164.fullmatch(number):
        errors.append("number must be an E.164 phone number, e.g. +33612345678")
    if errors:
        raise ApiError(422, *errors)
    phone = ctx.data.phone(phone_id)
    if phone is None:
        raise ApiError(404, "Phone not found")
    if phone["status"] != "active":
        raise ApiError(422, "Phone is not active")
    data = ctx.data
    record = {
        "id": data.next_call_id,
        "pbx_id": f"call_{secrets.token_hex(4)}",
        "status": "initiated",
        "phone_id": phone_id,
        "number": number,
        "created_at": now_iso(),
    }
    data.next_call_id += 1
    data.initiated_calls.append(record)
    return Ok(dict(record), 201)


def _tag_ref(tag: JSON) -> JSON:
    return {"id": tag["id"], "name": tag["name"], "color": tag["color"]}


def h_add_call_tag(ctx: Ctx) -> Ok:
    call = ctx.call()
    tag_id = ctx.obj().get("tag_id")
    if not _is_int(tag_id):
        raise ApiError(422, "tag_id is required")
    tag = ctx.data.tag(tag_id)
    if tag is None:
        raise ApiError(404, "Tag not found")
    if all(t["id"] != tag_id for t in call["tags"]):
        call["tags"].append(_tag_ref(tag))
    return Ok(call)


def h_remove_call_tag(ctx: Ctx) -> Ok:
    call = ctx.call()
    tag_id = _path_id(ctx.params["tag_id"], "tag")
    if all(t["id"] != tag_id for t in call["tags"]):
        if ctx.data.tag(tag_id) is None:
            raise ApiError(404, "Tag not found")
        raise ApiError(404, "Call does not have this tag")
    call["tags"] = [t for t in call["tags"] if t["id"] != tag_id]
    return Ok(call)


def _refresh_ai(ctx: Ctx, call: JSON) -> None:
    """Finish the transcription / summary of ``call`` once their delay has passed."""
    now = time.monotonic()
    data = ctx.data
    tr = data.transcriptions.get(call["id"])
    if tr and tr["speech_state"] == "speech_sent_to_recognition" and now >= tr["ready_at"]:
        tr["payload"] = make_transcript(call, data.account["company_name"])
        tr["speech_state"] = "speech_recognized"
    sm = data.summaries.get(call["id"])
    if sm and sm["status"] == "processing" and now >= sm["ready_at"]:
        sm["summary"] = make_summary(call)
        sm["status"] = "done"


def _transcription_out(tr: JSON) -> JSON:
    return {"call_id": tr["call_id"], "speech_state": tr["speech_state"], "payload": list(tr["payload"])}


def _summary_out(sm: JSON) -> JSON:
    return {k: sm[k] for k in ("id", "call_id", "summary", "status", "created_at")}


def h_get_transcription(ctx: Ctx) -> Ok:
    call = ctx.call()
    _refresh_ai(ctx, call)
    tr = ctx.data.transcriptions.get(call["id"])
    if tr is None:
        raise ApiError(404, "Transcription not found")
    return Ok(_transcription_out(tr))


def h_create_transcription(ctx: Ctx) -> Ok:
    call = ctx.call()
    _refresh_ai(ctx, call)
    tr = ctx.data.transcriptions.get(call["id"])
    if tr is not None and tr["speech_state"] == "speech_recognized":
        return Ok(_transcription_out(tr))
    if call["recording_url"] is None:
        raise ApiError(422, "Call has no recording to transcribe")
    if tr is None:
        tr = {
            "call_id": call["id"],
            "speech_state": "speech_sent_to_recognition",
            "payload": [],
            "ready_at": time.monotonic() + ctx.state.config.transcription_delay,
        }
        ctx.data.transcriptions[call["id"]] = tr
    return Ok({"call_id": call["id"], "speech_state": tr["speech_state"]}, 201)


def h_get_summary(ctx: Ctx) -> Ok:
    call = ctx.call()
    _refresh_ai(ctx, call)
    sm = ctx.data.summaries.get(call["id"])
    if sm is None:
        raise ApiError(404, "Summary not found")
    return Ok(_summary_out(sm))


def h_create_summary(ctx: Ctx) -> Ok:
    call = ctx.call()
    _refresh_ai(ctx, call)
    data = ctx.data
    sm = data.summaries.get(call["id"])
    if sm is not None:
        return Ok(_summary_out(sm), 200 if sm["status"] == "done" else 201)
    tr = data.transcriptions.get(call["id"])
    if tr is None or tr["speech_state"] != "speech_recognized":
        raise ApiError(422, "Call has no transcription yet: request one first")
    sm = {
        "id": data.next_summary_id,
        "call_id": call["id"],
        "summary": None,
        "status": "processing",
        "created_at": now_iso(),
        "ready_at": time.monotonic() + ctx.state.config.summary_delay,
    }
    data.next_summary_id += 1
    data.summaries[call["id"]] = sm
    _refresh_ai(ctx, call)
    return Ok(_summary_out(sm), 201)


# phones -----------------------------------------------------------------------

_PHONE_SCHEMA: JSON = {
    "name": "name",
    "outbound_setting": {
        "outbound_number": "e164",
        "use_different_outbound_number": "bool",
        "outbound_number_phone_id": "phone_ref",
    },
    "record_setting": {"record_inbound_call": "bool", "record_outbound_call": "bool"},
    "voicemail_setting": {"allow_voicemail": "bool", "voicemail_file_id": "int_or_null"},
    "forwarding_setting": {
        "forced": {"enabled": "bool", "forward_number": "e164_or_null"},
        "conditional": {"enabled": "bool", "timeout_seconds": "timeout", "forward_number": "e164_or_null"},
    },
}


def _check_value(rule: str, value: Any, path: str, data: SandboxData) -> str | None:
    if rule == "name":
        ok = isinstance(value, str) and bool(value.strip())
        return None if ok else "name must be a non-empty string"
    if rule == "bool":
        return None if isinstance(value, bool) else f"{path} must be a boolean"
    if rule in ("e164", "e164_or_null"):
        if value is None and rule == "e164_or_null":
            return None
        ok = isinstance(value, str) and E164.fullmatch(value) is not None
        return None if ok else f"{path} must be an E.164 phone number"
    if rule == "int_or_null":
        return None if value is None or _is_int(value) else f"{path} must be an integer or null"
    if rule == "phone_ref":
        ok = value is None or (_is_int(value) and data.phone(value) is not None)
        return None if ok else f"{path} must be the id of an existing phone or null"
    # timeout
    ok = _is_int(value) and 5 <= value <= 120
    return None if ok else f"{path} must be an integer between 5 and 120"


def _validate_patch(patch: JSON, schema: JSON, prefix: str, data: SandboxData, errors: list[str]) -> None:
    for key, value in patch.items():
        path = f"{prefix}{key}"
        rule = schema.get(key)
        if rule is None:
            errors.append(f"Unknown field: {path}")
        elif isinstance(rule, dict):
            if isinstance(value, dict):
                _validate_patch(value, rule, path + ".", data, errors)
            else:
                errors.append(f"{path} must be an object")
        elif (msg := _check_value(rule, value, path, data)) is not None:
            errors.append(msg)


def _deep_merge(target: JSON, patch: JSON) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value.strip() if key == "name" and isinstance(value, str) else value


def _phone_or_404(ctx: Ctx) -> JSON:
    phone = ctx.data.phone(_path_id(ctx.params["phone_id"], "phone"))
    if phone is None:
        raise ApiError(404, "Phone not found")
    return phone


def h_list_phones(ctx: Ctx) -> Ok:
    status = ctx.query.get("status")
    if status is not None and status not in PHONE_STATUSES:
        raise ApiError(422, "status must be one of not_activated, active, inactive")
    phones = [p for p in ctx.data.phones if status is None or p["status"] == status]
    return _list_page(ctx.query, sorted(phones, key=lambda p: p["id"]))


def h_get_phone(ctx: Ctx) -> Ok:
    return Ok(_phone_or_404(ctx))


def h_patch_phone(ctx: Ctx) -> Ok:
    phone = _phone_or_404(ctx)
    patch, errors = ctx.obj(), []
    _validate_patch(patch, _PHONE_SCHEMA, "", ctx.data, errors)
    if errors:
        raise ApiError(422, *errors)
    merged = json.loads(json.dumps(phone))
    _deep_merge(merged, patch)
    for kind in ("forced", "conditional"):
        rule = merged["forwarding_setting"][kind]
        if rule["enabled"] and not rule["forward_number"]:
            errors.append(f"forwarding_setting.{kind}.forward_number is required when forwarding is enabled")
    if errors:
        raise ApiError(422, *errors)
    merged["updated_at"] = now_iso()
    phone.clear()
    phone.update(merged)
    for call in ctx.data.calls:
        if call["phone_id"] == phone["id"]:
            call["phone_name"] = phone["name"]
    return Ok(phone)


# tags -------------------------------------------------------------------------


def _tag_fields(body: JSON, creating: bool) -> tuple[JSON, list[str]]:
    fields, errors = {}, []
    if creating or "name" in body:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            errors.append("name is required")
        else:
            fields["name"] = name.strip()
    if "color" in body:
        color = body["color"]
        if not isinstance(color, str) or not HEX_COLOUR.fullmatch(color):
            errors.append("color must be a hex colour like #22C55E")
        else:
            fields["color"] = color
    if "description" in body:
        description = body["description"]
        if description is not None and not isinstance(description, str):
            errors.append("description must be a string or null")
        else:
            fields["description"] = description
    return fields, errors


def _tag_or_404(ctx: Ctx) -> JSON:
    tag = ctx.data.tag(_path_id(ctx.params["tag_id"], "tag"))
    if tag is None:
        raise ApiError(404, "Tag not found")
    return tag


def _check_unique(data: SandboxData, name: str | None, own_id: int | None) -> None:
    if name is not None and any(t["name"].casefold() == name.casefold() and t["id"] != own_id for t in data.tags):
        raise ApiError(409, "Tag with this name already exists")


def h_list_tags(ctx: Ctx) -> Ok:
    return _list_page(ctx.query, sorted(ctx.data.tags, key=lambda t: t["id"]))


def h_create_tag(ctx: Ctx) -> Ok:
    fields, errors = _tag_fields(ctx.obj(), creating=True)
    if errors:
        raise ApiError(422, *errors)
    data = ctx.data
    _check_unique(data, fields["name"], None)
    tag = {
        "id": data.next_tag_id,
        "name": fields["name"],
        "color": fields.get("color", "#6B7280"),
        "description": fields.get("description"),
    }
    data.next_tag_id += 1
    data.tags.append(tag)
    return Ok(dict(tag), 201)


def h_patch_tag(ctx: Ctx) -> Ok:
    tag = _tag_or_404(ctx)
    fields, errors = _tag_fields(ctx.obj(), creating=False)
    if errors:
        raise ApiError(422, *errors)
    _check_unique(ctx.data, fields.get("name"), tag["id"])
    tag.update(fields)
    for call in ctx.data.calls:
        for ref in call["tags"]:
            if ref["id"] == tag["id"]:
                ref.update(_tag_ref(tag))
    return Ok(dict(tag))


def h_delete_tag(ctx: Ctx) -> Ok:
    tag = _tag_or_404(ctx)
    data = ctx.data
    data.tags.remove(tag)
    for call in data.calls:
        if any(t["id"] == tag["id"] for t in call["tags"]):
            call["tags"] = [t for t in call["tags"] if t["id"] != tag["id"]]
    return Ok({"id": tag["id"], "deleted": True})


# webhooks ---------------------------------------------------------------------


def _events(names: Iterable[str]) -> list[JSON]:
    wanted = set(names)
    return [{"event": e} for e in WEBHOOK_EVENTS if e in wanted]


def h_webhooks_available(ctx: Ctx) -> Ok:
    return Ok(_events(WEBHOOK_EVENTS))


def h_webhooks_enabled(ctx: Ctx) -> Ok:
    return Ok(_events(ctx.data.webhooks_enabled))


def _webhook_change(ctx: Ctx, enable: bool) -> Ok:
    event, data = ctx.params["event"], ctx.data
    if event not in WEBHOOK_EVENTS:
        raise ApiError(404, f"Unknown webhook event: {event}")
    if data.webhook_url is None:
        raise ApiError(422, "Webhooks integration is not configured: set a webhook URL in the SIPSIM dashboard")
    enabled = [e for e in data.webhooks_enabled if e != event]
    if enable:
        enabled.append(event)
    data.webhooks_enabled[:] = [e["event"] for e in _events(enabled)]
    return Ok({"url": data.webhook_url, "events": _events(data.webhooks_enabled)})


def h_webhook_enable(ctx: Ctx) -> Ok:
    return _webhook_change(ctx, True)


def h_webhook_disable(ctx: Ctx) -> Ok:
    return _webhook_change(ctx, False)


# --------------------------------------------------------------------------- routing


class ApiRoute(NamedTuple):
    method: str
    regex: re.Pattern[str]
    handler: Callable[[Ctx], Ok]
    scopes: tuple[str, ...]


def _route(method: str, path: str, handler: Callable[[Ctx], Ok], *scopes: str) -> ApiRoute:
    regex = re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path))
    return ApiRoute(method, regex, handler, scopes)


CALL_WRITE = ("calls.create", "calls.write")
TAG_CALL = ("calls.tags.write", "calls.write")

ROUTES: tuple[ApiRoute, ...] = (
    _route("GET", "/account", h_account, "account.read"),
    _route("GET", "/calls", h_list_calls, "calls.read"),
    _route("POST", "/calls", h_create_call, *CALL_WRITE),
    _route("GET", "/calls/{call_id}", h_get_call, "calls.read"),
    _route("POST", "/calls/{call_id}/tags", h_add_call_tag, *TAG_CALL),
    _route("DELETE", "/calls/{call_id}/tags/{tag_id}", h_remove_call_tag, *TAG_CALL),
    _route("GET", "/calls/{call_id}/transcription", h_get_transcription, "calls.transcription.read"),
    _route("POST", "/calls/{call_id}/transcription", h_create_transcription, "calls.transcription.write"),
    _route("GET", "/calls/{call_id}/summary", h_get_summary, "calls.summary.read"),
    _route("POST", "/calls/{call_id}/summary", h_create_summary, "calls.summary.write"),
    _route("GET", "/phones", h_list_phones, "phones.read"),
    _route("GET", "/phones/{phone_id}", h_get_phone, "phones.read"),
    _route("PATCH", "/phones/{phone_id}", h_patch_phone, "phones.write"),
    _route("GET", "/tags", h_list_tags, "tags.read"),
    _route("POST", "/tags", h_create_tag, "tags.write"),
    _route("PATCH", "/tags/{tag_id}", h_patch_tag, "tags.write"),
    _route("DELETE", "/tags/{tag_id}", h_delete_tag, "tags.write"),
    _route("GET", "/webhooks/available", h_webhooks_available, "webhooks.read"),
    _route("GET", "/webhooks", h_webhooks_enabled, "webhooks.read"),
    _route("POST", "/webhooks/{event}", h_webhook_enable, "webhooks.write"),
    _route("DELETE", "/webhooks/{event}", h_webhook_disable, "webhooks.write"),
)

_INVALID_TOKEN = {"WWW-Authenticate": 'Bearer error="invalid_token"'}


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _token_scopes(state: SandboxState, request: Request) -> tuple[str, ...] | None:
    """Scopes of a valid, unexpired bearer token, else None."""
    value = _bearer(request)
    token = state.tokens.get(value) if value else None
    if token is None or time.time() >= token.expires_at:
        return None
    return token.scopes


def _authorize(state: SandboxState, request: Request, needed: tuple[str, ...]) -> None:
    value = _bearer(request)
    if value is None:
        raise ApiError(401, "Missing access token", headers=_INVALID_TOKEN)
    token = state.tokens.get(value)
    if token is None:
        raise ApiError(401, "Invalid access token", headers=_INVALID_TOKEN)
    if time.time() >= token.expires_at:
        raise ApiError(401, "Access token expired", headers=_INVALID_TOKEN)
    if needed and not any(s in token.scopes for s in needed):
        names = " or ".join(needed)
        header = f'Bearer error="insufficient_scope", scope="{" ".join(needed)}"'
        raise ApiError(403, f"Insufficient scope: {names} required", headers={"WWW-Authenticate": header})


def _api(state: SandboxState, request: Request, raw: bytes, path: str) -> Response:
    sub = path[len(API_PREFIX) :]
    sub = sub.rstrip("/") if sub != "/" else sub
    method = request.method
    candidates = [(r, m) for r in ROUTES if (m := r.regex.fullmatch(sub))]
    if not candidates:
        raise ApiError(404, "Not found")
    chosen = next(((r, m) for r, m in candidates if r.method == method), None)
    if chosen is None:
        allow = ", ".join(sorted({r.method for r, _ in candidates}))
        raise ApiError(405, "Method not allowed", headers={"Allow": allow})
    route, match = chosen
    _authorize(state, request, route.scopes)
    body = None
    if method in ("POST", "PATCH", "PUT") and raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Request body must be JSON") from None
    ctx = Ctx(state, match.groupdict(), request.query_params, body)
    with state.lock:
        result = route.handler(ctx)
        payload: JSON = {
            "status": result.status,
            "request_id": str(uuid.uuid4()),
            "timestamp": now_iso(),
            "data": result.data,
        }
        if result.pagination is not None:
            payload["pagination"] = result.pagination
        body_bytes = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(body_bytes, status_code=result.status, media_type="application/json")


# --------------------------------------------------------------------------- token endpoint


def _token(state: SandboxState, request: Request, raw: bytes) -> Response:
    if request.method != "POST":
        return _oauth_error(405, "invalid_request", "The token endpoint only accepts POST", {"Allow": "POST"})
    if _media_type(request.headers.get("content-type")) != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
    form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    basic = request.headers.get("authorization", "")
    if basic.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(basic[6:].strip()).decode().partition(":")
            form.setdefault("client_id", user)
            form.setdefault("client_secret", password)
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error(400, "invalid_request", "Malformed Basic authorization header")
    missing = [f for f in ("grant_type", "client_id", "client_secret") if not form.get(f)]
    if missing:
        return _oauth_error(400, "invalid_request", f"Missing required parameter: {', '.join(missing)}")
    if form["grant_type"] != "client_credentials":
        return _oauth_error(
            400, "unsupported_grant_type", f"The authorization grant type is not supported: {form['grant_type']}"
        )
    client = next((c for c in state.config.clients if c.client_id == form["client_id"]), None)
    if client is None or not secrets.compare_digest(client.client_secret, form["client_secret"]):
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    if "client_credentials" not in client.grant_types:
        return _oauth_error(400, "unauthorized_client", "The client is not authorized to use this grant type")
    requested = list(dict.fromkeys(form.get("scope", "").split()))
    if not requested:
        granted = _ordered(client.scopes)
    else:
        bad = [s for s in requested if s not in ALL_SCOPES or s not in client.scopes]
        granted = tuple(s for s in requested if s not in bad)
        if bad and not client.narrow_scopes:  # narrowing grants the intersection, even when it is empty
            return _oauth_error(
                400, "invalid_scope", f"The requested scope is invalid, unknown, or not allowed: {' '.join(bad)}"
            )
    value, issued = state._mint(client.client_id, granted)
    payload = {
        "access_token": value,
        "token_type": "Bearer",
        "expires_in": state.config.token_ttl,
        "scope": " ".join(granted),
        "created_at": int(issued.created_at),
    }
    return _json_response(payload, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"})


# --------------------------------------------------------------------------- app


def _fault_response(fault: Fault, path: str) -> Response:
    status = fault.status or 200
    if fault.malformed:
        return Response(MALFORMED_BODY, status_code=status, media_type="application/json", headers=fault.headers)
    if path.startswith(TOKEN_PATH):
        description = "; ".join(fault.errors or ["Simulated failure"])
        if status in (429, 503):
            error = "temporarily_unavailable"
        elif status >= 500:
            error = "server_error"
        else:
            error = "invalid_client" if status == 401 else "invalid_request"
        return _oauth_error(status, error, description, fault.headers)
    return _error_response(status, list(fault.errors or ["Simulated failure"]), path, fault.headers)


async def _client_left_during(request: Request, delay: float) -> bool:
    """Sleep ``delay`` seconds; True (at once) if the client disconnects meanwhile."""

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait({watcher}, timeout=delay)
    finally:
        watcher.cancel()
        await asyncio.wait({watcher})
    return bool(done)


async def _handle(state: SandboxState, request: Request) -> Response:
    arrived = time.monotonic()
    raw = await request.body()
    path, method = request.url.path, request.method
    extra_headers: dict[str, str] = {}
    response: Response | None = None
    fault = state._take_fault(method, path)
    if fault is not None:
        if fault.delay > 0 and await _client_left_during(request, fault.delay):
            # Gave up waiting (client timeout): log it as nginx does, 499 Client Closed Request.
            response = Response(b"", status_code=CLIENT_CLOSED_REQUEST)
        elif fault.status is not None or fault.malformed:
            response = _fault_response(fault, path)
        else:
            extra_headers = dict(fault.headers)
    if response is None:
        try:
            if path == TOKEN_PATH:
                response = _token(state, request, raw)
            elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                response = _api(state, request, raw, path)
            else:
                raise ApiError(404, "Not found")
        except ApiError as exc:
            response = _error_response(exc.status, exc.errors, path, exc.headers)
        except Exception:
            logger.exception("sandbox handler failed on %s %s", method, path)
            response = _error_response(500, ["Internal server error"], path)
        response.headers.update(extra_headers)
    content_type = request.headers.get("content-type")
    state._log(
        LoggedRequest(
            time=arrived,
            method=method,
            path=path,
            query=dict(request.query_params),
            content_type=content_type,
            body=_log_body(raw, content_type),
            token_scopes=_token_scopes(state, request),
            status=response.status_code,
        )
    )
    return response


def create_app(state: SandboxState) -> Starlette:
    """The Starlette app serving ``state`` (token endpoint + ``/api/v2``)."""

    async def endpoint(request: Request) -> Response:
        return await _handle(state, request)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
