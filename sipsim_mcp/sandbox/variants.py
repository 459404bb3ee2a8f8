"""Shape variants: the same seeded data served in another plausible shape of what the SIPSIM docs leave
INFERRED or UNKNOWN (string ids, tags as ids or names, other letter case, naive or epoch times, string
durations, a minimal Call, looser pagination, other token and write answers).

A variant only changes how answers look on the wire, never the data behind them, so every tool must give
the same answer against each one (or say which field it could not read). ``SandboxConfig.variant`` names
one or several (comma-separated), applied in order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from starlette.responses import Response

from .config import JSON
from .wire import Ok, envelope_response, json_response, parse_instant

Shape = Callable[[JSON], JSON]

#: What each handler answers, by handler name: the kind of object in its ``data``.
KINDS: dict[str, str] = {
    "h_account": "account",
    "h_list_calls": "call",
    "h_get_call": "call",
    "h_add_call_tag": "call",
    "h_remove_call_tag": "call",
    "h_create_call": "initiated",
    "h_get_transcription": "transcription",
    "h_create_transcription": "transcription",
    "h_get_summary": "summary",
    "h_create_summary": "summary",
    "h_list_phones": "phone",
    "h_get_phone": "phone",
    "h_patch_phone": "phone",
    "h_list_tags": "tag",
    "h_create_tag": "tag",
    "h_patch_tag": "tag",
    "h_delete_tag": "deleted",
}

TIME_FIELDS = ("start_time", "answer_time", "end_time", "created_at", "updated_at")
DOCUMENTED_CALL_FIELDS = ("id", "direction", "caller_number", "receiver_number")


@dataclass(frozen=True)
class Variant:
    """One shape difference: how objects of each kind, the pagination block, write answers and the token
    response are rewritten."""

    name: str
    description: str
    objects: dict[str, Shape] = field(default_factory=dict)
    pagination: Callable[[JSON, list[Any]], JSON | None] | None = None
    write: Callable[[Ok], Response] | None = None
    token: Shape | None = None


# --------------------------------------------------------------------------- field rewrites


def _prefixed(prefix: str, value: Any) -> Any:
    return f"{prefix}_{value}" if isinstance(value, int) and not isinstance(value, bool) else value


def _string_ids(prefixes: dict[str, str]) -> Shape:
    def shape(obj: JSON) -> JSON:
        out = dict(obj)
        for key, prefix in prefixes.items():
            if key in out:
                out[key] = _prefixed(prefix, out[key])
        if isinstance(out.get("tags"), list):
            out["tags"] = [{**t, "id": _prefixed("tag", t.get("id"))} for t in out["tags"] if isinstance(t, dict)]
        if isinstance(out.get("group"), dict):
            out["group"] = {**out["group"], "group_id": _prefixed("grp", out["group"].get("group_id"))}
        if isinstance(out.get("outbound_setting"), dict):
            setting = out["outbound_setting"]
            out["outbound_setting"] = {
                **setting,
                "outbound_number_phone_id": _prefixed("ph", setting.get("outbound_number_phone_id")),
            }
        return out

    return shape


def _times(render: Callable[[str, datetime], Any]) -> Shape:
    def shape(obj: JSON) -> JSON:
        out = dict(obj)
        for key in TIME_FIELDS:
            if isinstance(out.get(key), str) and (moment := parse_instant(out[key])) is not None:
                out[key] = render(key, moment)
        return out

    return shape


def _naive(key: str, moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _epoch(key: str, moment: datetime) -> int:
    seconds = int(moment.timestamp())
    return seconds * 1000 if key == "answer_time" else seconds  # milliseconds on one field, seconds on the rest


def _clock(seconds: Any) -> Any:
    if not isinstance(seconds, int):
        return seconds
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _string_durations(obj: JSON) -> JSON:
    out = dict(obj)
    out["duration"] = _clock(out.get("duration"))
    if isinstance(out.get("wait_time"), int):
        out["wait_time"] = f"{out['wait_time']}.0"
    return out


def _mixed_case(obj: JSON) -> JSON:
    out = dict(obj)
    if isinstance(out.get("status"), str):
        out["status"] = out["status"].lower()
    for key in ("call_type", "direction"):
        if isinstance(out.get(key), str):
            out[key] = out[key].upper()
    return out


def _no_plus(obj: JSON) -> JSON:
    out = dict(obj)
    for key in ("caller_number", "receiver_number", "number"):
        if isinstance(out.get(key), str):
            out[key] = out[key].removeprefix("+")
    return out


def _tags_as(pick: str, empty: Any) -> Shape:
    def shape(obj: JSON) -> JSON:
        out = dict(obj)
        if isinstance(out.get("tags"), list):
            out["tags"] = [t[pick] if isinstance(t, dict) else t for t in out["tags"]] or empty
        return out

    return shape


def _minimal(obj: JSON) -> JSON:
    return {key: obj[key] for key in DOCUMENTED_CALL_FIELDS if key in obj}


# --------------------------------------------------------------------------- pagination rewrites


def _no_pagination_on_last(pagination: JSON, items: list[Any]) -> JSON | None:
    return pagination if pagination.get("has_more") else None


def _loose_pagination(pagination: JSON, items: list[Any]) -> JSON | None:
    """A numeric token (the last id) whenever the page is full, `has_more` null."""
    full = pagination.get("has_more")
    last = items[-1].get("id") if full and items and isinstance(items[-1], dict) else None
    return {"count": pagination.get("count"), "page": last, "has_more": None}


# --------------------------------------------------------------------------- write answers


def _bare(body: Any) -> Callable[[Ok], Response]:
    return lambda result: json_response(body, result.status)


def _enveloped(**fields: Any) -> Callable[[Ok], Response]:
    def answer(result: Ok) -> Response:
        return json_response({"status": result.status, "request_id": str(uuid.uuid4()), **fields}, result.status)

    return answer


def _no_content(result: Ok) -> Response:
    return Response(status_code=204)


# --------------------------------------------------------------------------- token answer


def _loose_token(body: JSON) -> JSON:
    return {
        **body,
        "scope": ",".join(str(body.get("scope", "")).split()),
        "expires_in": str(body.get("expires_in")),
        "created_at": "not a time",
    }


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("standard", "the shape the docs show, with our guesses for what they do not"),
        Variant(
            "string_ids",
            "string ids everywhere (call_100001, ph_101, tag_1, acc_12345, emp_3)",
            objects={
                "call": _string_ids({"id": "call", "phone_id": "ph", "employee_id": "emp"}),
                "phone": _string_ids({"id": "ph"}),
                "tag": _string_ids({"id": "tag"}),
                "account": _string_ids({"id": "acc"}),
                "deleted": _string_ids({"id": "tag"}),
                "initiated": _string_ids({"id": "call", "phone_id": "ph"}),
                "transcription": _string_ids({"call_id": "call"}),
                "summary": _string_ids({"id": "sum", "call_id": "call"}),
            },
        ),
        Variant("tags_as_ids", "a call's tags as a list of tag ids", objects={"call": _tags_as("id", [])}),
        Variant(
            "tags_as_names",
            "a call's tags as a list of tag names, null when there are none",
            objects={"call": _tags_as("name", None)},
        ),
        Variant(
            "mixed_case",
            "lowercase statuses (answer, missed), uppercase call types and directions",
            objects={"call": _mixed_case},
        ),
        Variant(
            "naive_times",
            "timestamps without a zone, with a space for the T (UTC)",
            objects={kind: _times(_naive) for kind in ("call", "phone", "initiated", "summary")},
        ),
        Variant(
            "epoch_times",
            "call times as epoch seconds, answer_time in epoch milliseconds",
            objects={"call": _times(_epoch)},
        ),
        Variant(
            "string_durations",
            "duration as H:MM:SS, wait_time as a numeric string",
            objects={"call": _string_durations},
        ),
        Variant(
            "no_plus_numbers",
            "phone numbers in E.164 without the leading +",
            objects={"call": _no_plus, "phone": _no_plus, "initiated": _no_plus},
        ),
        Variant(
            "minimal_call",
            "a Call with only the documented fields: id, direction, caller_number, receiver_number",
            objects={"call": _minimal},
        ),
        Variant("no_pagination", "no pagination block on single and last pages", pagination=_no_pagination_on_last),
        Variant(
            "never_paginated",
            "no pagination block at all, not even when more pages exist (only the first page can be read)",
            pagination=lambda pagination, items: None,
        ),
        Variant(
            "loose_pagination",
            "the next-page token is a number (the last id), has_more is null",
            pagination=_loose_pagination,
        ),
        Variant("write_true", "writes answer a bare true", write=_bare(True)),
        Variant("write_null", "writes answer an envelope with data null", write=_enveloped(data=None)),
        Variant("write_message", "writes answer a message and no data", write=_enveloped(message="OK")),
        Variant("write_empty", "writes answer {}", write=_bare({})),
        Variant("write_204", "writes answer 204 No Content", write=_no_content),
        Variant(
            "loose_token",
            "token answer with comma-separated scopes, expires_in as a string and an unreadable created_at",
            token=_loose_token,
        ),
    )
}


def parse_variants(names: str) -> tuple[Variant, ...]:
    """The variants named in ``names`` (comma-separated); ValueError naming the known ones."""
    chosen = [name.strip() for name in names.split(",") if name.strip()] or ["standard"]
    unknown = [name for name in chosen if name not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    return tuple(VARIANTS[name] for name in chosen)


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def respond(variants: tuple[Variant, ...], handler: str, method: str, result: Ok) -> Response:
    """A handler's result on the wire, in the shape the variants give it."""
    if method != "GET":
        for variant in variants:
            if variant.write is not None:
                return variant.write(result)
    kind = KINDS.get(handler)
    shapes = [variant.objects[kind] for variant in variants if kind in variant.objects]
    data, pagination = result.data, result.pagination
    if shapes:
        data = _copy(data)
        for shape in shapes:
            data = [shape(item) for item in data] if isinstance(data, list) else shape(data)
    for variant in variants:
        if variant.pagination is not None and pagination is not None:
            pagination = variant.pagination(pagination, result.data if isinstance(result.data, list) else [])
    return envelope_response(Ok(data, result.status, pagination))


def token_body(variants: tuple[Variant, ...], body: JSON) -> JSON:
    """The token endpoint's success body in the variants' shape."""
    for variant in variants:
        if variant.token is not None:
            body = variant.token(body)
    return body
