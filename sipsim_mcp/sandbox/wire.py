"""Wire format of the sandbox: JSON, envelope, error and OAuth-error responses, query and path
parsing (instants, id lists, limit) and keyset pagination."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple

from starlette.responses import Response

from .config import JSON
from .dataset import iso


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


# --------------------------------------------------------------------------- responses


def now_iso() -> str:
    """Current time, ISO 8601 UTC with ``Z``."""
    return iso(datetime.now(timezone.utc))


def json_response(payload: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    """``payload`` as UTF-8 JSON (non-ASCII kept as is)."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json", headers=dict(headers or {}))


def error_response(status: int, errors: list[str], path: str, headers: Mapping[str, str] | None = None) -> Response:
    """The API error envelope: status, errors, request id and path."""
    payload = {"status": status, "errors": errors, "request_id": str(uuid.uuid4()), "path": path}
    return json_response(payload, status, headers)


def oauth_error(status: int, error: str, description: str, headers: Mapping[str, str] | None = None) -> Response:
    """An RFC 6749 error of the token endpoint (never cached)."""
    merged = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    return json_response({"error": error, "error_description": description}, status, merged)


def envelope_response(result: Ok) -> Response:
    """A handler's success in the API envelope: status, request id, timestamp, data (+ pagination)."""
    payload: JSON = {
        "status": result.status,
        "request_id": str(uuid.uuid4()),
        "timestamp": now_iso(),
        "data": result.data,
    }
    if result.pagination is not None:
        payload["pagination"] = result.pagination
    return json_response(payload, result.status)


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


def is_int(value: Any) -> bool:
    """A JSON integer (``bool`` excluded)."""
    return isinstance(value, int) and not isinstance(value, bool)


_ID = re.compile(r"(?:[A-Za-z]+_)?(\d{1,18})")


def as_id(value: Any) -> int | None:
    """An id as a JSON integer, digits or a prefixed string (``tag_3``, as the string_ids variant gives
    them); else None."""
    if is_int(value):
        return value
    m = _ID.fullmatch(value) if isinstance(value, str) else None
    return int(m.group(1)) if m else None


def path_id(raw: str, what: str) -> int:
    """A numeric id from the URL path; 400 if it is not one."""
    value = as_id(raw)
    if value is None:
        raise ApiError(400, f"Invalid {what} id")
    return value


def id_list(query: Mapping[str, str], name: str, errors: list[str]) -> set[int] | None:
    """The comma-separated ids of query parameter ``name``; None if absent (or invalid: error appended)."""
    raw = query.get(name)
    if raw is None or not raw.strip():
        return None
    ids = [as_id(p.strip()) for p in raw.split(",")]
    if None in ids:
        errors.append(f"{name} must be comma-separated integer ids")
        return None
    return {i for i in ids if i is not None}


def parse_limit(query: Mapping[str, str], errors: list[str]) -> int:
    """The ``limit`` query parameter (20..1000, default 1000); an error is appended when invalid."""
    raw = query.get("limit")
    if raw is None:
        return 1000
    value = raw.strip()
    if not value.isdigit() or not 20 <= int(value) <= 1000:
        errors.append("limit must be between 20 and 1000")
        return 1000
    return int(value)


# --------------------------------------------------------------------------- pagination


def encode_page(last_id: int) -> str:
    """Page token: standard base64 of ``{"id": last_id}``."""
    return base64.b64encode(json.dumps({"id": last_id}, separators=(",", ":")).encode()).decode()


def page_after(query: Mapping[str, str]) -> int | None:
    """The last id of the previous page, from the ``page`` token; 400 if the token is invalid."""
    raw = query.get("page")
    if raw is None or raw == "":
        return None
    if raw.isdigit() and len(raw) <= 18:  # a bare last id (the loose_pagination variant's token)
        return int(raw)
    try:
        decoded = json.loads(base64.b64decode(raw, validate=True))
        last = decoded["id"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise ApiError(400, "Invalid page token") from None
    if not is_int(last):
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


def list_page(query: Mapping[str, str], items: list[JSON], descending: bool = False) -> Ok:
    """The page of ``items`` the ``limit`` and ``page`` query parameters ask for."""
    errors: list[str] = []
    limit = parse_limit(query, errors)
    if errors:
        raise ApiError(422, *errors)
    return paginate(items, limit, page_after(query), descending)
