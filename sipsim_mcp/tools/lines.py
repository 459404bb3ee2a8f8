"""Phone lines: list_phones, get_phone, update_phone (recording, forwarding, voicemail, caller id)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..api import endpoints as ep
from ..api.client import ApiResponse
from ..api.models import Id, Phone
from ..api.numbers import display_number, format_number, normalize_number
from ..api.shaping import Compact, fit
from ..language.directory import line_label
from .base import ToolContext, WritePlan, tool
from .fields import LineRef, ToolInput

OFF = "off"


class LineRow(Compact):
    """A line at a glance."""

    id: Id
    name: str | None = None
    extension: int | None = None
    number: str | None = None
    status: str | None = None
    group: str | None = None
    recording: str | None = Field(None, description="Which calls are recorded: inbound, outbound, both or none")
    voicemail: bool | None = None
    forwarding: str | None = Field(None, description="Forwarding in force, if any")
    caller_id: str | None = Field(None, description="Number shown on outgoing calls, when not the line's own")


def describe_forwarding(phone: Phone) -> str | None:
    setting = phone.forwarding_setting
    if setting is None:
        return None
    if setting.forced and setting.forced.enabled:
        return f"all calls to {setting.forced.forward_number}"
    if setting.conditional and setting.conditional.enabled:
        return f"unanswered after {setting.conditional.timeout_seconds} s to {setting.conditional.forward_number}"
    return "off"


def line_row(phone: Phone) -> LineRow:
    record = phone.record_setting
    recording = None
    if record is not None:
        kinds = [
            k for k, on in (("inbound", record.record_inbound_call), ("outbound", record.record_outbound_call)) if on
        ]
        recording = {0: "none", 1: kinds[0] if kinds else "none", 2: "both"}[len(kinds)]
    outbound = phone.outbound_setting
    caller_id = outbound.outbound_number if outbound and outbound.use_different_outbound_number else None
    return LineRow(
        id=phone.id,
        name=phone.name,
        extension=phone.internal_number,
        number=display_number(phone.number),
        status=phone.status,
        group=phone.group.group_title if phone.group else None,
        recording=recording,
        voicemail=phone.voicemail_setting.allow_voicemail if phone.voicemail_setting else None,
        forwarding=describe_forwarding(phone),
        caller_id=caller_id,
    )


class ListPhonesInput(ToolInput):
    status: Literal["active", "inactive", "not_activated"] | None = Field(None, description="Only lines in this state")


class LineList(Compact):
    lines: list[LineRow]
    omitted: int | None = None


@tool(
    name="list_phones",
    title="List phone lines",
    endpoint=ep.LIST_PHONES,
    input=ListPhonesInput,
    output=LineList,
)
async def list_phones(ctx: ToolContext, args: ListPhonesInput) -> LineList:
    """List the account's phone lines: name, extension, number, status and main settings."""
    phones = [phone async for phone in ctx.api.items(ep.LIST_PHONES, Phone, params={"status": args.status})]
    result = LineList(lines=[line_row(phone) for phone in phones])
    result.omitted = fit(result, "lines") or None
    return result


class GetPhoneInput(ToolInput):
    line: LineRef


@tool(
    name="get_phone",
    title="Get phone line",
    endpoint=ep.GET_PHONE,
    input=GetPhoneInput,
    output=Phone,
)
async def get_phone(ctx: ToolContext, args: GetPhoneInput) -> Phone:
    """Get one line with all its settings (recording, voicemail, forwarding, caller id, group)."""
    line = await ctx.directory.line(args.line)
    phone, _ = await ctx.api.fetch(ep.GET_PHONE, Phone, path_params={"phone_id": line.id})
    return phone


class UpdatePhoneInput(ToolInput):
    line: LineRef
    record_inbound: bool | None = Field(None, description="Record incoming calls")
    record_outbound: bool | None = Field(None, description="Record outgoing calls")
    voicemail: bool | None = Field(None, description="Let callers leave a voicemail")
    forward_all_to: str | None = Field(
        None,
        max_length=40,
        description="Forward EVERY call to this number ('off': stop)",
    )
    forward_unanswered_to: str | None = Field(
        None, max_length=40, description="Forward unanswered calls to this number ('off': stop)"
    )
    forward_unanswered_after_s: int | None = Field(
        None, ge=5, le=120, description="Seconds of ringing before forwarding (5-120)"
    )
    caller_id: str | None = Field(
        None,
        max_length=40,
        description="Number shown on outgoing calls ('off': the line's own)",
    )

    @model_validator(mode="after")
    def _something(self) -> UpdatePhoneInput:
        if all(getattr(self, name) is None for name in type(self).model_fields if name != "line"):
            raise ValueError(
                "Nothing to change: give at least one of record_inbound, record_outbound, voicemail, "
                "forward_all_to, forward_unanswered_to, forward_unanswered_after_s, caller_id"
            )
        return self


#: Settings that are simply on or off: (argument, path in the PATCH body, what the user reads).
TOGGLES = (
    ("record_inbound", "record_setting.record_inbound_call", "record incoming calls"),
    ("record_outbound", "record_setting.record_outbound_call", "record outgoing calls"),
    ("voicemail", "voicemail_setting.allow_voicemail", "voicemail"),
)


#: Forwarding rules: (argument, rule in forwarding_setting, which calls it forwards).
FORWARDS = (("forward_all_to", "forced", "ALL calls"), ("forward_unanswered_to", "conditional", "unanswered calls"))


def _onoff(value: object) -> str:
    return "on" if value else "off"


def _get(model: Any, path: str) -> Any:
    """The value at a dotted path of a Phone (None where a level is missing)."""
    for key in path.split("."):
        model = getattr(model, key, None) if model is not None else None
    return model


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    *sections, key = path.split(".")
    for section in sections:
        body = body.setdefault(section, {})
    body[key] = value


def _number_or_off(text: str, region: str | None) -> str | None:
    return None if text.strip().lower() == OFF else normalize_number(text, region)


@tool(
    name="update_phone",
    title="Update phone line settings",
    endpoint=ep.UPDATE_PHONE,
    input=UpdatePhoneInput,
    output=Phone,
    write=True,
    destructive=True,
    idempotent=True,
    also_needs=("phones.read",),
)
async def update_phone(ctx: ToolContext, args: UpdatePhoneInput) -> WritePlan:
    """Change a line's call recording, voicemail, forwarding (all or unanswered calls) or caller id.

    Forwarding redirects real calls. The user confirms first; the preview shows each change and its current value.
    """
    line = await ctx.directory.line(args.line)
    current, _ = await ctx.api.fetch(ep.GET_PHONE, Phone, path_params={"phone_id": line.id})
    region = ctx.settings.default_region
    body: dict[str, Any] = {}
    changes: list[str] = []

    for argument, path, label in TOGGLES:
        value = getattr(args, argument)
        if value is not None:
            _set(body, path, value)
            changes.append(f"{label}: {_onoff(value)} (now: {_onoff(_get(current, path))})")

    forwarding = describe_forwarding(current) or "off"
    for argument, rule, calls in FORWARDS:
        if (text := getattr(args, argument)) is not None:
            target = _number_or_off(text, region)
            _set(body, f"forwarding_setting.{rule}.enabled", target is not None)
            if target:
                _set(body, f"forwarding_setting.{rule}.forward_number", target)
            what = f"forward {calls} to {format_number(target)}" if target else f"stop forwarding {calls.lower()}"
            changes.append(f"{what} (now: {forwarding})")
    if args.forward_unanswered_after_s is not None:
        path = "forwarding_setting.conditional.timeout_seconds"
        _set(body, path, args.forward_unanswered_after_s)
        changes.append(
            f"forward unanswered calls after {args.forward_unanswered_after_s} s (now: {_get(current, path)} s)"
        )
    if args.caller_id is not None:
        target = _number_or_off(args.caller_id, region)
        own = "the line's own number"
        before = (
            _get(current, "outbound_setting.outbound_number")
            if _get(current, "outbound_setting.use_different_outbound_number")
            else own
        )
        _set(body, "outbound_setting.use_different_outbound_number", target is not None)
        if target:
            _set(body, "outbound_setting.outbound_number", target)
        changes.append(f"show {format_number(target) if target else own} on outgoing calls (now: {before})")

    def finish(response: ApiResponse) -> Phone:
        ctx.directory.forget_lines()
        return Phone.model_validate(response.data or {})

    return WritePlan(
        summary=f"On line {line_label(line)}: " + "; ".join(changes),
        path_params={"phone_id": line.id},
        body=body,
        finish=finish,
    )
