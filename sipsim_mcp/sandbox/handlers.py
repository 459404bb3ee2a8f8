"""The ``/api/v2`` endpoint handlers and the route table (method, path, handler, accepted scopes)."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple

from .config import JSON, WEBHOOK_EVENTS
from .dataset import SandboxData, iso, tag_ref
from .state import SandboxState
from .transcripts import make_summary, make_transcript
from .wire import (
    ApiError,
    Ok,
    as_id,
    id_list,
    is_int,
    list_page,
    now_iso,
    page_after,
    paginate,
    parse_instant,
    parse_limit,
    path_id,
)

E164 = re.compile(r"\+[1-9]\d{6,14}")
HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
CALL_TYPES = ("inbound", "outgoing", "missed", "voicemail")
PHONE_STATUSES = ("not_activated", "active", "inactive")


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
        call = self.data.call(path_id(self.params["call_id"], "call"))
        if call is None:
            raise ApiError(404, "Call not found")
        return call


def h_account(ctx: Ctx) -> Ok:
    return Ok(dict(ctx.data.account))


# calls ------------------------------------------------------------------------


def _search_matcher(text: str) -> Callable[[JSON], bool]:
    """The ``search`` filter of GET /calls: part of a number or of the caller name; 6+ digits also
    match the end of a number."""
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
        # "now"; a data set anchored in the future is never hidden by the simulator's clock.
        end = max(ctx.state.clock(), ctx.data.anchor)
    elif (end := parse_instant(raw_end)) is None:
        errors.append("end_time must be an ISO 8601 date-time")
    if start and end and end < start:
        errors.append("end_time must be after start_time")
    employees = id_list(q, "employees", errors)
    tags = id_list(q, "tags", errors)
    types: set[str] | None = None
    if (raw_types := q.get("call_types")) is not None and raw_types.strip():
        types = {t.strip() for t in raw_types.split(",")}
        if not types <= set(CALL_TYPES):
            errors.append("call_types must be a comma-separated subset of inbound, outgoing, missed, voicemail")
    limit = parse_limit(q, errors)
    if errors:
        raise ApiError(422, *errors)
    after = page_after(q)
    assert start is not None and end is not None
    if start.microsecond:
        start = start.replace(microsecond=0) + timedelta(seconds=1)
    lo, hi = iso(start), iso(end.replace(microsecond=0))
    search = q.get("search", "").strip()
    matcher = _search_matcher(search) if search else None
    out: list[JSON] = []
    for call in ctx.data.calls_before(after):
        if len(out) > limit:  # one more than a page says whether there are more
            break
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
    return paginate(out, limit, None, descending=True)


def h_get_call(ctx: Ctx) -> Ok:
    return Ok(ctx.call())


def h_create_call(ctx: Ctx) -> Ok:
    body, errors = ctx.obj(), []
    phone_id, number = as_id(body.get("phone_id")), body.get("number")
    if phone_id is None:
        errors.append("phone_id is required")
    if not isinstance(number, str) or not E164.fullmatch(number):
        errors.append("number must be an E.164 phone number, e.g. +33612345678")
    if errors or phone_id is None:
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


def h_add_call_tag(ctx: Ctx) -> Ok:
    call = ctx.call()
    tag_id = as_id(ctx.obj().get("tag_id"))
    if tag_id is None:
        raise ApiError(422, "tag_id is required")
    tag = ctx.data.tag(tag_id)
    if tag is None:
        raise ApiError(404, "Tag not found")
    if all(t["id"] != tag_id for t in call["tags"]):
        call["tags"].append(tag_ref(tag))
    return Ok(call)


def h_remove_call_tag(ctx: Ctx) -> Ok:
    call = ctx.call()
    tag_id = path_id(ctx.params["tag_id"], "tag")
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
        return None if value is None or is_int(value) else f"{path} must be an integer or null"
    if rule == "phone_ref":
        ok = value is None or ((ref := as_id(value)) is not None and data.phone(ref) is not None)
        return None if ok else f"{path} must be the id of an existing phone or null"
    # timeout
    ok = is_int(value) and 5 <= value <= 120
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
    phone = ctx.data.phone(path_id(ctx.params["phone_id"], "phone"))
    if phone is None:
        raise ApiError(404, "Phone not found")
    return phone


def h_list_phones(ctx: Ctx) -> Ok:
    status = ctx.query.get("status")
    if status is not None and status not in PHONE_STATUSES:
        raise ApiError(422, "status must be one of not_activated, active, inactive")
    phones = [p for p in ctx.data.phones if status is None or p["status"] == status]
    return list_page(ctx.query, sorted(phones, key=lambda p: p["id"]))


def h_get_phone(ctx: Ctx) -> Ok:
    return Ok(_phone_or_404(ctx))


def h_patch_phone(ctx: Ctx) -> Ok:
    phone = _phone_or_404(ctx)
    patch, errors = ctx.obj(), list[str]()
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
    fields: JSON = {}
    errors: list[str] = []
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
    tag = ctx.data.tag(path_id(ctx.params["tag_id"], "tag"))
    if tag is None:
        raise ApiError(404, "Tag not found")
    return tag


def _check_unique(data: SandboxData, name: str | None, own_id: int | None) -> None:
    if name is not None and any(t["name"].casefold() == name.casefold() and t["id"] != own_id for t in data.tags):
        raise ApiError(409, "Tag with this name already exists")


def h_list_tags(ctx: Ctx) -> Ok:
    return list_page(ctx.query, sorted(ctx.data.tags, key=lambda t: t["id"]))


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
                ref.update(tag_ref(tag))
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
    """A row of the route table; any one of ``scopes`` grants access."""

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
