"""`sipsim-mcp doctor --probe`: how a real account's answers compare with what the docs show and what we
inferred. Read-only: one page of each endpoint the scopes allow. It reports, per field, the JSON types seen,
how often it was missing, and the keys we did not expect: types and key names only, never values, so the
output can be pasted into a bug report without any caller data."""

from __future__ import annotations

import re
import types
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Field, SecretStr

from ..api import endpoints as ep
from ..api.client import ApiResponse, SipsimClient
from ..api.endpoints import Endpoint
from ..api.errors import SipsimError
from ..api.models import Account, Call, Expect, Phone, SipsimModel, Summary, Tag, Transcription, WebhookEvent

CALLS_SINCE = timedelta(days=90)
PAGE = 20

FieldState = Literal["as expected", "missing", "other type", "other values"]  # words: a vocabulary or a format


class FieldReport(BaseModel):
    name: str = Field(description="Dotted path; [] marks the items of a list")
    documented: bool
    expected: list[str] = Field(description="JSON types the docs show or we inferred (null is always accepted)")
    state: FieldState
    seen: dict[str, int] = Field(description="How many items had each JSON type, or missing")
    words: dict[str, int] | None = Field(None, description="For a field with a fixed vocabulary: the words seen")


class EndpointReport(BaseModel):
    method: str
    path: str
    status: int | None = None
    error: str | None = None
    items: int | None = Field(None, description="Objects read (a list endpoint's page, else 1)")
    envelope: dict[str, str] = Field(default_factory=dict, description="Envelope keys and their JSON types")
    pagination: dict[str, str] | None = None
    fields: list[FieldReport] = Field(default_factory=list)
    extra: dict[str, dict[str, int]] = Field(default_factory=dict, description="Keys we do not know: types seen")


class ProbeReport(BaseModel):
    note: str = "types and key names only, never values"
    endpoints: list[EndpointReport] = Field(default_factory=list)

    @property
    def differences(self) -> int:
        return sum(f.state != "as expected" for e in self.endpoints for f in e.fields) + sum(
            len(e.extra) for e in self.endpoints
        )


# --- types ----------------------------------------------------------------------------------------


def kind(value: Any) -> str:
    """The JSON type of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


_SCALARS: dict[Any, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    datetime: "string",
    SecretStr: "string",
}


def expected(annotation: Any) -> set[str]:
    """The JSON types a field's annotation stands for (an `Expect` mark wins); empty for Any."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *marks = get_args(annotation)
        found = [mark for mark in marks if isinstance(mark, Expect)]
        return set(found[-1].kinds) if found else expected(base)
    if origin in (Union, types.UnionType):
        return set().union(*(expected(arg) for arg in get_args(annotation) if arg is not type(None)))
    if origin in (list, tuple):
        return {"array"}
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return {"object"}
    return {_SCALARS[annotation]} if annotation in _SCALARS else set()


def nested(annotation: Any) -> tuple[type[SipsimModel] | None, bool]:
    """The model a field holds (and whether as a list of them), if any."""
    for arg in (annotation, *get_args(annotation)):
        if get_origin(arg) is Annotated:
            arg = get_args(arg)[0]
        if isinstance(arg, type) and issubclass(arg, SipsimModel):
            return arg, False
        if get_origin(arg) is list:
            item = get_args(arg)[0]
            if isinstance(item, type) and issubclass(item, SipsimModel):
                return item, True
    return None, False


_ISO_ZONED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)")
_ISO_NAIVE = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?")
#: The format of a text, never the text: what `Expect(form=...)` fields report, and what the docs show.
FORMS: dict[str, tuple[Callable[[str], str], str]] = {
    "time": (
        lambda text: (
            "ISO 8601 with zone"
            if _ISO_ZONED.fullmatch(text)
            else "ISO 8601 without zone"
            if _ISO_NAIVE.fullmatch(text)
            else "other text"
        ),
        "ISO 8601 with zone",
    ),
    "number": (
        lambda text: (
            "E.164"
            if re.fullmatch(r"\+[1-9]\d{6,14}", text)
            else "digits without +"
            if text.isdigit()
            else "other text"
        ),
        "E.164",
    ),
}


def _mark(model: type[SipsimModel], name: str) -> Expect | None:
    info = model.model_fields[name]
    marks = [mark for mark in info.metadata if isinstance(mark, Expect)]
    for arg in get_args(info.annotation):
        if get_origin(arg) is Annotated:
            marks += [mark for mark in get_args(arg)[1:] if isinstance(mark, Expect)]
    return marks[-1] if marks else None


def _field_kinds(model: type[SipsimModel], name: str) -> set[str]:
    mark = _mark(model, name)
    return set(mark.kinds) if mark else expected(model.model_fields[name].annotation)


class Survey:
    """Counts, over a set of objects, the JSON types of each known field and the unknown keys."""

    def __init__(self) -> None:
        self.fields: dict[str, tuple[bool, set[str], Counter[str]]] = {}
        self.extra: dict[str, Counter[str]] = {}
        self.words: dict[str, tuple[tuple[str, ...], Counter[str]]] = {}

    def add(self, model: type[SipsimModel], objects: list[Any], prefix: str = "") -> None:
        for obj in objects:
            if not isinstance(obj, dict):
                self._count(f"{prefix}(item)" if prefix else "(item)", True, {"object"}, kind(obj))
                continue
            for name in model.model_fields:
                documented = name in model.DOCUMENTED
                path = prefix + name
                if name not in obj:
                    self._count(path, documented, _field_kinds(model, name), "missing")
                    continue
                value = obj[name]
                self._count(path, documented, _field_kinds(model, name), kind(value))
                mark = _mark(model, name)
                if mark is not None and mark.form in FORMS and isinstance(value, str):
                    classify, documented_form = FORMS[mark.form]
                    self.words.setdefault(path, ((documented_form,), Counter()))[1][classify(value)] += 1
                elif mark is not None and mark.words and isinstance(value, str) and len(value) <= 30:
                    self.words.setdefault(path, (mark.words, Counter()))[1][value] += 1
                sub, many = nested(model.model_fields[name].annotation)
                if sub is not None and many and isinstance(value, list):
                    self._items(sub, value, f"{path}[]")
                elif sub is not None and isinstance(value, dict):
                    self.add(sub, [value], f"{path}.")
            for key in obj.keys() - model.model_fields.keys():
                self.extra.setdefault(prefix + key, Counter())[kind(obj[key])] += 1

    def _items(self, model: type[SipsimModel], items: list[Any], path: str) -> None:
        for item in items:
            self._count(path, False, {"object"}, kind(item))
        self.add(model, [item for item in items if isinstance(item, dict)], path + ".")

    def _count(self, path: str, documented: bool, kinds: set[str], seen: str) -> None:
        self.fields.setdefault(path, (documented, kinds, Counter()))[2][seen] += 1

    def report(self) -> tuple[list[FieldReport], dict[str, dict[str, int]]]:
        rows = []
        for path, (documented, kinds, seen) in self.fields.items():
            if seen.keys() == {"missing"}:
                state: FieldState = "missing"
            elif kinds and not seen.keys() <= kinds | {"null", "missing"}:
                state = "other type"
            else:
                state = "as expected"
            vocabulary, words = self.words.get(path, ((), Counter()))
            if state == "as expected" and not words.keys() <= set(vocabulary):
                state = "other values"
            rows.append(
                FieldReport(
                    name=path,
                    documented=documented,
                    expected=sorted(kinds),
                    state=state,
                    seen=dict(seen),
                    words=dict(words) if state == "other values" else None,
                )
            )
        return rows, {key: dict(counter) for key, counter in sorted(self.extra.items())}


# --- probing --------------------------------------------------------------------------------------


async def _probe(
    api: SipsimClient,
    endpoint: Endpoint,
    model: type[SipsimModel],
    *,
    path_params: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[EndpointReport, list[Any]]:
    report = EndpointReport(method=endpoint.method, path=endpoint.path)
    try:
        response: ApiResponse = await api.request(endpoint, path_params=path_params, params=params)
    except SipsimError as exc:  # described without SIPSIM's text, which may quote values
        report.status = getattr(exc, "status", None)
        what = f"HTTP {report.status}" if report.status is not None else type(exc).__name__
        report.error = f"not read ({what})" + (" (normal when the call has none)" if report.status == 404 else "")
        return report, []
    report.status = response.status
    raw = response.raw if isinstance(response.raw, dict) else {}
    report.envelope = {key: kind(value) for key, value in raw.items()}
    if isinstance(raw.get("pagination"), dict):
        report.pagination = {key: kind(value) for key, value in raw["pagination"].items()}
    objects = response.data if isinstance(response.data, list) else [response.data]
    report.items = len(objects)
    survey = Survey()
    survey.add(model, objects)
    report.fields, report.extra = survey.report()
    return report, objects


def _first_id(objects: list[Any]) -> Any:
    return next((obj.get("id") for obj in objects if isinstance(obj, dict) and obj.get("id") is not None), None)


async def probe(api: SipsimClient, now: datetime | None = None) -> ProbeReport:
    """One page of each readable endpoint the configured scopes allow, surveyed."""
    scopes = api.settings.scopes
    now = now or datetime.now(timezone.utc)
    result = ProbeReport()

    async def run(endpoint: Endpoint, model: type[SipsimModel], **options: Any) -> list[Any]:
        if endpoint.scope_for(scopes) is None:
            return []
        report, objects = await _probe(api, endpoint, model, **options)
        result.endpoints.append(report)
        return objects

    await run(ep.GET_ACCOUNT, Account)
    calls = await run(ep.LIST_CALLS, Call, params={"start_time": now - CALLS_SINCE, "limit": PAGE})
    if (call_id := _first_id(calls)) is not None:
        await run(ep.GET_CALL, Call, path_params={"call_id": call_id})
        await run(ep.GET_TRANSCRIPTION, Transcription, path_params={"call_id": call_id})
        await run(ep.GET_SUMMARY, Summary, path_params={"call_id": call_id})
    phones = await run(ep.LIST_PHONES, Phone, params={"limit": PAGE})
    if (phone_id := _first_id(phones)) is not None:
        await run(ep.GET_PHONE, Phone, path_params={"phone_id": phone_id})
    await run(ep.LIST_TAGS, Tag, params={"limit": PAGE})
    await run(ep.LIST_AVAILABLE_WEBHOOKS, WebhookEvent)
    await run(ep.LIST_WEBHOOKS, WebhookEvent)
    return result


def _seen(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items(), key=lambda item: -item[1]))


def render_probe(report: ProbeReport) -> str:
    """The probe as text for a bug report: what differs in detail, what matches in one line per endpoint."""
    lines = [f"probe ({report.note}); {report.differences} difference(s) from the docs and our guesses"]
    for endpoint in report.endpoints:
        head = f"{endpoint.method} {endpoint.path}: "
        if endpoint.error is not None:
            lines.append(head + endpoint.error)
            continue
        envelope = ", ".join(f"{key} {value}" for key, value in endpoint.envelope.items()) or "no envelope"
        lines.append(head + f"HTTP {endpoint.status}, {endpoint.items} item(s); envelope: {envelope}")
        if endpoint.pagination is not None:
            lines.append("  pagination: " + ", ".join(f"{k} {v}" for k, v in endpoint.pagination.items()))
        fine = [f.name for f in endpoint.fields if f.state == "as expected"]
        for field in endpoint.fields:
            if field.state != "as expected":
                origin = "documented" if field.documented else "inferred"
                wanted = " or ".join(field.expected) or "any"
                seen = _seen(field.words or field.seen)
                lines.append(f"  {field.state.upper()}: {field.name} ({origin}, {wanted}): {seen}")
        if fine:
            lines.append(f"  as expected: {', '.join(fine)}")
        for key, counts in endpoint.extra.items():
            lines.append(f"  extra key: {key}: {_seen(counts)}")
    return "\n".join(lines)
