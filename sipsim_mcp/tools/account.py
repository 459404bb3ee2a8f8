"""The account, and the webhook events it subscribes to."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from ..api import endpoints as ep
from ..api.client import ApiResponse
from ..api.config import Settings
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


def receiver_url(settings: Settings) -> str | None:
    """Where SIPSIM must post its webhooks for this server: SIPSIM_MCP_PUBLIC_URL's origin and
    SIPSIM_WEBHOOK_PATH; None when the public address is not set."""
    if not settings.mcp_public_url:
        return None
    public = urlsplit(settings.mcp_public_url)
    return f"{public.scheme}://{public.netloc}{settings.webhook_path}"


def receiver_steps(settings: Settings, sent_to: str | None = None) -> str:
    """How to point SIPSIM's webhooks at this server's receiver (the API sets neither the URL nor the secret).
    `sent_to`: the URL SIPSIM says it posts to, when known."""
    url = receiver_url(settings)
    where = url or f"https://<this server's public address>{settings.webhook_path}"
    dashboard = "In the SIPSIM dashboard (Integrations, Webhooks)"
    if not settings.webhook_secrets:
        return (
            "This server does not receive webhooks yet. Copy the signing secret from the SIPSIM dashboard "
            "(Integrations, Webhooks) into SIPSIM_WEBHOOK_SECRET and serve over HTTP behind HTTPS (or run "
            f"`sipsim-mcp receive` beside a stdio server); then, in the dashboard, set the webhook URL to {where}. "
            "The API can set neither the URL nor the secret."
        )
    if url and sent_to and sent_to.rstrip("/") != url.rstrip("/"):
        step = f"SIPSIM posts to {sent_to}, not to this server's receiver: {dashboard}, set the webhook URL to {url}"
    else:
        step = f"{dashboard}, the webhook URL must be {where}"
    return (
        f"{step} and the signing secret the one in SIPSIM_WEBHOOK_SECRET (the API can set neither). 'Send Test' "
        "there, then `sipsim-mcp doctor` or recent_call_events, shows whether events arrive."
    )


class WebhookEnabled(Compact):
    setting: WebhookSetting
    receiver: str | None = Field(None, description="Where this server receives SIPSIM's webhooks")
    setup: str = Field(description="What to set in the SIPSIM dashboard for the events to reach this server")


@tool(
    name="enable_webhook",
    title="Enable webhook event",
    endpoint=ep.ENABLE_WEBHOOK,
    input=WebhookInput,
    output=WebhookEnabled,
    write=True,
    destructive=False,
    idempotent=True,
    hints=UNKNOWN_EVENT,
)
async def enable_webhook(ctx: ToolContext, args: WebhookInput) -> WritePlan:
    """Subscribe the account's webhook URL (set in the SIPSIM dashboard) to one event."""
    settings = ctx.settings
    url = receiver_url(settings)

    def finish(response: ApiResponse) -> WebhookEnabled:
        setting = _setting(response)
        return WebhookEnabled(setting=setting, receiver=url, setup=receiver_steps(settings, setting.url))

    return WritePlan(
        summary=f"Start sending {args.event!r} webhook events to the account's webhook URL",
        detail=f"This server receives them at {url}." if url else "",
        path_params={"event": args.event},
        finish=finish,
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
