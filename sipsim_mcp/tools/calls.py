"""Call history and click-to-call: list_calls, get_call, start_call, tag_call, untag_call."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import aclosing
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field, WithJsonSchema

from ..api import endpoints as ep
from ..api.client import ApiResponse
from ..api.models import Call, InitiatedCall
from ..api.numbers import display_number, format_number, normalize_number
from ..api.shaping import Compact, fit
from ..language.directory import LookupFailed, line_label, tag_label
from ..language.windows import TimeWindow
from .base import ToolContext, WritePlan, tool
from .fields import CallId, LineRef, Page, PhoneNumber, TagRef, ToolInput, Zone
from .live import FromWebhook, from_webhook
from .scan import AppliedFilters, CallFilters, Cursor, Position, Scan, TagNames, cursor_for, resolve_filters
from .views import CALLS_DASHBOARD

CallField = Literal[
    "time",
    "type",
    "outcome",
    "status",
    "direction",
    "from",
    "caller_name",
    "to",
    "line",
    "employee",
    "duration_s",
    "wait_s",
    "tags",
    "recording_url",
    "pbx_id",
]
DEFAULT_FIELDS: tuple[CallField, ...] = (
    "time",
    "type",
    "outcome",
    "from",
    "caller_name",
    "to",
    "line",
    "employee",
    "duration_s",
    "tags",
)
ALL_FIELDS: tuple[CallField, ...] = CallField.__args__  # type: ignore[attr-defined]


class CallRow(Compact):
    """One call, compact: only the columns asked for, no nulls. Times are in the window's time zone."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: int | str
    time: str | None = Field(None, description="Start time, ISO 8601 with offset")
    type: str | None = Field(None, description="inbound (answered), outgoing, missed or voicemail")
    outcome: str | None = Field(None, description="answered, no answer, busy, missed or voicemail")
    status: str | None = Field(None, description="ANSWER, MISSED, BUSY or NOANSWER")
    direction: str | None = None
    from_: str | None = Field(None, alias="from", description="Caller number")
    caller_name: str | None = None
    to: str | None = Field(None, description="Called number")
    line: str | None = None
    employee: str | None = None
    duration_s: int | None = Field(None, description="Talk time in seconds")
    wait_s: int | None = Field(None, description="Seconds ringing before answer or hang-up")
    tags: list[str] | None = None
    recording_url: str | None = None
    pbx_id: str | None = None


def _local(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat() if moment else None


def outcome(call: Call) -> str | None:
    """How the call ended, in words: answered, missed or voicemail (incoming), answered, no answer or busy
    (outgoing); None when SIPSIM did not say. (The model has already normalised the words' case.)"""
    status, kind = call.status, call.call_type
    if kind == "voicemail":
        return "voicemail"
    if status == "ANSWER":
        return "answered"
    if kind in ("inbound", "missed") or call.direction == "inbound":
        if status or kind == "missed":
            return "missed"
        return "answered" if kind == "inbound" else None
    return {"NOANSWER": "no answer", "MISSED": "no answer", "BUSY": "busy"}.get(status or "")


def call_row(
    call: Call,
    zone: ZoneInfo,
    fields: tuple[str, ...] = ALL_FIELDS,
    *,
    region: str | None = None,
    tags: TagNames | None = None,
) -> CallRow:
    values: dict[str, Any] = {
        "time": _local(call.start_time, zone),
        "type": call.call_type,
        "outcome": outcome(call),
        "status": call.status,
        "direction": call.direction,
        "from": display_number(call.caller_number, region),
        "caller_name": call.caller_name,
        "to": display_number(call.receiver_number, region),
        "line": call.phone_name,
        "employee": call.employee_name,
        "duration_s": call.duration,
        "wait_s": call.wait_time,
        "tags": (tags or TagNames.NONE).of(call) or None,
        "recording_url": call.recording_url,
        "pbx_id": call.pbx_id,
    }
    return CallRow(id=call.id, **{key: value for key, value in values.items() if key in fields})


# --- list_calls ----------------------------------------------------------------------------------


class ListCallsInput(CallFilters):
    fields: list[CallField] | None = Field(
        None, description=f"Columns of each row (id is always there). Default: {', '.join(DEFAULT_FIELDS)}"
    )
    limit: int = Field(20, ge=1, le=200, description="Most calls to return (1-200)")
    page: Page = None


class CallPage(Compact):
    window: TimeWindow
    filters: AppliedFilters
    calls: list[CallRow]
    returned: int
    has_more: bool
    page: str | None = Field(None, description="Pass as page= with the same arguments for the next calls")
    omitted: int | None = Field(None, description="Rows left out to keep the answer small; they come with page=")
    note: str | None = None


@tool(
    name="list_calls",
    title="List calls",
    endpoint=ep.LIST_CALLS,
    input=ListCallsInput,
    output=CallPage,
    view=CALLS_DASHBOARD,
)
async def list_calls(ctx: ToolContext, args: ListCallsInput) -> CallPage:
    """List calls in a time window, newest first, as compact rows.

    Filter by call type, line, employees, tags (names or ids) and number. For counts, totals and
    "who/which most" questions use summarize_calls instead of paging through calls. When has_more is
    true, call again with the same arguments and page= to continue.
    """
    start = Position()
    if args.page:
        cursor = Cursor.decode(args.page)
        since, until = cursor.window_bounds()
        window = ctx.window(since.isoformat(), until.isoformat(), args.timezone, default="")
        start = cursor.position
    else:
        window = ctx.window(args.since, args.until, args.timezone, default="last_7_days")
    query = await resolve_filters(ctx, args, window)
    zone = ctx.zone(args.timezone)
    fields = tuple(args.fields or DEFAULT_FIELDS)
    page_size = 1000 if query.local else max(20, min(1000, args.limit + 1 + start.row))
    scan = Scan(ctx, query, Call, start=start, page_size=page_size)
    rows: list[CallRow] = []
    positions: list[Position] = []
    next_position: Position | None = None
    tags = TagNames(ctx)
    region = ctx.settings.default_region
    async with aclosing(scan.calls()) as matches:
        async for position, found in matches:
            if len(rows) == args.limit:
                next_position = position
                break
            if "tags" in fields:
                await tags.prepare(found)
            rows.append(call_row(found, zone, fields, region=region, tags=tags))
            positions.append(position)
    if next_position is None and scan.resume is not None:
        next_position = scan.resume
    result = CallPage(window=window, filters=query.applied, calls=rows, returned=len(rows), has_more=False)
    omitted = fit(result, "calls")
    if omitted:
        next_position = positions[len(result.calls)]
        result.omitted = omitted
        result.returned = len(result.calls)
    if next_position is not None:
        result.has_more = True
        result.page = cursor_for(window, next_position)
    notes = scan.notes()
    if scan.resume is not None and next_position == scan.resume:
        notes.append(
            f"Scanned {scan.scanned} calls without filling the page; more may match. Continue with page=, "
            "or use summarize_calls for counts."
        )
    result.note = " ".join(notes) or None
    return result


# --- get_call ------------------------------------------------------------------------------------


class GetCallInput(ToolInput):
    call_id: CallId
    detail: Literal["summary", "full"] = Field(
        "summary", description="summary: the compact row; full: also every field SIPSIM returns"
    )
    timezone: Zone = None


class CallDetail(Compact):
    call: CallRow
    full: dict[str, Any] | None = Field(None, description="The call exactly as SIPSIM returns it (detail=full)")
    from_webhook: Annotated[FromWebhook | None, WithJsonSchema({"type": "object"})] = Field(
        None, description="Transcript, summary or rating SIPSIM's webhooks delivered since"
    )


@tool(
    name="get_call",
    title="Get call",
    endpoint=ep.GET_CALL,
    input=GetCallInput,
    output=CallDetail,
)
async def get_call(ctx: ToolContext, args: GetCallInput) -> CallDetail:
    """Get one call by id: who called whom, when, on which line, outcome, duration, tags."""
    found, _ = await ctx.api.fetch(ep.GET_CALL, Call, path_params={"call_id": args.call_id})
    tags = TagNames(ctx)
    await tags.prepare(found)
    zone = ctx.zone(args.timezone)
    row = call_row(found, zone, region=ctx.settings.default_region, tags=tags)
    full = found.model_dump(mode="json", exclude_none=True) if args.detail == "full" else None
    return CallDetail(call=row, full=full, from_webhook=await from_webhook(ctx, found.id, zone))


# --- start_call ----------------------------------------------------------------------------------


class StartCallInput(ToolInput):
    line: LineRef = Field(description="Line whose phone rings first: name (e.g. 'Sales'), extension or id")
    number: PhoneNumber = Field(
        description="Number to dial once the line's phone answers: E.164 (+33612345678) or a common written form "
        "(+33 6 12 34 56 78; 06 12 34 56 78 when SIPSIM_DEFAULT_REGION is set)"
    )


class StartedCall(Compact):
    line: str
    number: str
    call: InitiatedCall


@tool(
    name="start_call",
    title="Start a call (click-to-call)",
    endpoint=ep.START_CALL,
    input=StartCallInput,
    output=StartedCall,
    write=True,
    destructive=False,
    idempotent=False,
    open_world=True,
    also_needs=("phones.read",),
)
async def start_call(ctx: ToolContext, args: StartCallInput) -> WritePlan:
    """Click-to-call: ring a line's phone, then dial the number when it answers. Rings a real phone.

    Asks the user to confirm first. An identical request within 60 s is not sent again.
    """
    number = normalize_number(args.number, ctx.settings.default_region)  # a bad number never reaches SIPSIM
    line = await ctx.directory.line(args.line)
    if line.status not in (None, "active"):
        active = [line_label(p) for p in await ctx.directory.lines() if p.status == "active"]
        raise LookupFailed(
            f"Line {line_label(line)} is {line.status}; calls start from an active line: {', '.join(active)}."
        )
    label = line_label(line)

    def finish(response: ApiResponse) -> StartedCall:
        return StartedCall(line=label, number=number, call=InitiatedCall.model_validate(response.data or {}))

    return WritePlan(
        summary=f"Ring {format_number(number)} from line {label}",
        detail="The line's phone rings first; when it answers, SIPSIM dials the number.",
        body={"phone_id": line.id, "number": number},
        finish=finish,
        dedupe_key=f"{line.id}:{number}",
    )


# --- tag_call / untag_call -------------------------------------------------------------------


class CallTagInput(ToolInput):
    call_id: CallId
    tag: TagRef


class TaggedCall(Compact):
    call: CallRow


def _tagged(names: TagNames, zone: ZoneInfo) -> Callable[[ApiResponse], TaggedCall]:
    def finish(response: ApiResponse) -> TaggedCall:
        return TaggedCall(call=call_row(Call.model_validate(response.data or {}), zone, tags=names))

    return finish


@tool(
    name="tag_call",
    title="Tag a call",
    endpoint=ep.TAG_CALL,
    input=CallTagInput,
    output=TaggedCall,
    write=True,
    destructive=False,
    idempotent=True,
    also_needs=("tags.read",),
)
async def tag_call(ctx: ToolContext, args: CallTagInput) -> WritePlan:
    """Add a tag to a call (by tag name or id). Adding a tag the call already has changes nothing."""
    tag = await ctx.directory.tag(args.tag)
    names = TagNames.known(await ctx.directory.tags())
    return WritePlan(
        summary=f"Add the tag {tag_label(tag)} to call {args.call_id}",
        path_params={"call_id": args.call_id},
        body={"tag_id": tag.id},
        finish=_tagged(names, ctx.zone(None)),
    )


@tool(
    name="untag_call",
    title="Remove a tag from a call",
    endpoint=ep.UNTAG_CALL,
    input=CallTagInput,
    output=TaggedCall,
    write=True,
    destructive=True,
    idempotent=True,
    also_needs=("tags.read",),
)
async def untag_call(ctx: ToolContext, args: CallTagInput) -> WritePlan:
    """Remove a tag from a call (by tag name or id)."""
    tag = await ctx.directory.tag(args.tag)
    names = TagNames.known(await ctx.directory.tags())
    return WritePlan(
        summary=f"Remove the tag {tag_label(tag)} from call {args.call_id}",
        path_params={"call_id": args.call_id, "tag_id": tag.id},
        finish=_tagged(names, ctx.zone(None)),
    )
