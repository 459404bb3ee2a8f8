"""The account, and the webhook events it subscribes to."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..api import endpoints as ep
from ..api.client import ApiResponse
from ..api.models import WEBHOOK_EVENTS, Account, WebhookSetting
from ..api.shaping import Compact
from .base import ToolContext, WritePlan, tool
from .fields import EventName, NoInput, ToolInput

UNKNOWN_EVENT = {404: "list_webhook_events shows the event names."}


class AccountView(Compact):
    account: Account
    scopes: list[str] = Field(description="Scopes this server is configured with (SIPSIM_SCOPES)")
    read_only: bool
    timezone: str = Field(description="Default time zone for windows and times (SIPSIM_TIMEZONE)")


@tool(
    name="get_account",
    title="Get account",
    endpoint=ep.GET_ACCOUNT,
    input=NoInput,
    output=AccountView,
)
async def get_account(ctx: ToolContext, args: NoInput) -> AccountView:
    """Get the SIPSIM account (company, email, ...) and this server's setup: scopes, read-only, time zone."""
    account, _ = await ctx.api.fetch(ep.GET_ACCOUNT, Account)
    settings = ctx.settings
    return AccountView(
        account=account,
        scopes=sorted(settings.scopes),
        read_only=settings.read_only,
        timezone=settings.timezone,
    )


class WebhookEventRow(Compact):
    event: str
    enabled: bool
    fires_when: str | None = None


class WebhookEvents(Compact):
    events: list[WebhookEventRow]
    note: str | None = None


def event_names(items: list[Any]) -> tuple[list[str], int]:
    """Event names from a webhook list: `{"event": name}` items as documented, or bare names; and how many
    items had neither."""
    names = []
    for item in items:
        name = item.get("event") if isinstance(item, dict) else item
        if isinstance(name, str) and name:
            names.append(name)
    return names, len(items) - len(names)


@tool(
    name="list_webhook_events",
    title="List webhook events",
    endpoint=ep.LIST_AVAILABLE_WEBHOOKS,
    input=NoInput,
    output=WebhookEvents,
)
async def list_webhook_events(ctx: ToolContext, args: NoInput) -> WebhookEvents:
    """List the webhook events SIPSIM can send, and which are enabled for this account."""
    available, skipped = event_names((await ctx.api.request(ep.LIST_AVAILABLE_WEBHOOKS)).items())
    enabled, skipped_enabled = event_names((await ctx.api.request(ep.LIST_WEBHOOKS)).items())
    rows = [
        WebhookEventRow(event=name, enabled=name in enabled, fires_when=WEBHOOK_EVENTS.get(name, (None,))[0])
        for name in available
    ]
    unread = skipped + skipped_enabled
    note = f"{unread} webhook list item(s) had no readable event name and are left out." if unread else None
    return WebhookEvents(events=rows, note=note)


class WebhookInput(ToolInput):
    event: EventName


def _setting(response: ApiResponse) -> WebhookSetting:
    return WebhookSetting.model_validate(response.data or {})


@tool(
    name="enable_webhook",
    title="Enable webhook event",
    endpoint=ep.ENABLE_WEBHOOK,
    input=WebhookInput,
    output=WebhookSetting,
    write=True,
    destructive=False,
    idempotent=True,
    hints=UNKNOWN_EVENT,
)
async def enable_webhook(ctx: ToolContext, args: WebhookInput) -> WritePlan:
    """Subscribe the account's webhook URL (set in the SIPSIM dashboard) to one event."""
    return WritePlan(
        summary=f"Start sending {args.event!r} webhook events to the account's webhook URL",
        path_params={"event": args.event},
        finish=_setting,
    )


@tool(
    name="disable_webhook",
    title="Disable webhook event",
    endpoint=ep.DISABLE_WEBHOOK,
    input=WebhookInput,
    output=WebhookSetting,
    write=True,
    destructive=True,
    idempotent=True,
    hints=UNKNOWN_EVENT,
)
async def disable_webhook(ctx: ToolContext, args: WebhookInput) -> WritePlan:
    """Stop sending one webhook event to the account's webhook URL."""
    return WritePlan(
        summary=f"Stop sending {args.event!r} webhook events",
        detail="Whatever consumes them stops receiving them.",
        path_params={"event": args.event},
        finish=_setting,
    )
