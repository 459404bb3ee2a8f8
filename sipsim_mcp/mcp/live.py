"""Live calls over MCP: the live feed a server reads (the event log the webhook receiver writes), and the
notifications that tell clients it changed: `notifications/resources/updated` to the 2025 sessions that
subscribed (`resources/subscribe`), and `ResourceUpdated` on the subscription bus for 2026-07-28
`subscriptions/listen` streams. A task follows the event log for the server's life and publishes what each
batch of events changed; across replicas the shared log is the fan-out (every replica follows it)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from mcp.server import Server, ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, INVALID_REQUEST, EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams

from ..api.config import ConfigError, Settings
from ..api.events import EventLogUnavailable, open_event_log
from ..language.live import LIFECYCLE, LiveFeed, LiveLimits, Reading

logger = logging.getLogger(__name__)

LIVE_CALLS = "sipsim://calls/live"
RECENT_EVENTS = "sipsim://events/recent"
LIVE_URIS = (LIVE_CALLS, RECENT_EVENTS)
#: Seconds before following a log that could not be read is tried again.
RETRY_SECONDS = 5.0
#: Seconds a 2025 session may take to take a notification before it is dropped.
SEND_SECONDS = 5.0
#: Most 2025 sessions subscribed to one resource (the oldest subscription is dropped beyond).
MOST_SUBSCRIBERS = 1000
SESSION_HEADER = "mcp-session-id"


def open_feed(settings: Settings, clock: Callable[[], datetime]) -> LiveFeed | None:
    """The live feed of `settings`' event store when the webhook receiver is configured (a signing secret is
    set), else None; a ConfigError when the store cannot be opened."""
    if not settings.webhook_secrets:
        return None
    try:
        log = open_event_log(settings.events_store)
    except EventLogUnavailable as exc:
        raise ConfigError(f"SIPSIM_EVENTS_URL: {exc}") from None
    limits = LiveLimits(ring=settings.live_ring_limit, call=settings.live_call_limit)
    return LiveFeed(log, limits=limits, clock=clock)


def changed(readings: Iterable[Reading]) -> list[str]:
    """The resources a batch of events changes: the recent events always, the live calls for call events."""
    return [LIVE_CALLS, RECENT_EVENTS] if any(r.kind in LIFECYCLE for r in readings) else [RECENT_EVENTS]


@dataclass
class Subscribers:
    """The 2025 sessions subscribed to each resource, by session id ("" on stdio: one connection)."""

    sessions: dict[str, dict[str, ServerSession]] = field(default_factory=dict)

    def add(self, uri: str, key: str, session: ServerSession) -> None:
        sessions = self.sessions.setdefault(uri, {})
        sessions.pop(key, None)
        sessions[key] = session
        while len(sessions) > MOST_SUBSCRIBERS:
            del sessions[next(iter(sessions))]

    def remove(self, uri: str, key: str) -> None:
        self.sessions.get(uri, {}).pop(key, None)

    async def tell(self, uri: str) -> None:
        """Send `notifications/resources/updated` to each session subscribed to `uri`; one that cannot take it
        (closed, gone) is dropped."""
        for key, session in list(self.sessions.get(uri, {}).items()):
            try:
                with anyio.fail_after(SEND_SECONDS):
                    await session.send_resource_updated(uri)
            except Exception as exc:  # a session that went away: any failure means it is not listening
                logger.debug("Dropped a subscription to %s: %s", uri, type(exc).__name__)
                self.remove(uri, key)


def session_key(ctx: ServerRequestContext[Any, Any]) -> str:
    """Which 2025 session a request belongs to: its `Mcp-Session-Id` over HTTP, "" on stdio (one session)."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return ""
    key = headers.get(SESSION_HEADER)
    if not key:
        raise MCPError(
            code=INVALID_REQUEST,
            message="resources/subscribe needs a session, and this server runs without (--stateless): open a "
            "2026-07-28 subscriptions/listen stream instead, or poll the recent_call_events tool with wait_s.",
        )
    return str(key)


class LiveUpdates:
    """Tells clients when the live resources change (nothing without a `feed`: no receiver configured)."""

    def __init__(self, feed: LiveFeed | None, bus: SubscriptionBus) -> None:
        self.feed = feed
        self.bus = bus

    @asynccontextmanager
    async def lifespan(self, server: Server[Any]) -> AsyncIterator[Subscribers]:
        """The server's life (on HTTP, the process's; on stdio, the connection's): the 2025 subscriptions, and
        the task that follows the event log."""
        subscribers = Subscribers()
        async with anyio.create_task_group() as tasks:
            if self.feed is not None:
                tasks.start_soon(self._follow, self.feed, subscribers)
            try:
                yield subscribers
            finally:
                tasks.cancel_scope.cancel()

    async def _follow(self, feed: LiveFeed, subscribers: Subscribers) -> None:
        failing = False
        while True:
            try:
                async for batch in feed.follow():
                    if failing:
                        logger.warning("The event store answers again: live calls are followed again")
                        failing = False
                    await self.publish(changed(batch), subscribers)
            except EventLogUnavailable as exc:
                if not failing:
                    logger.warning("Live calls are not followed while the event store fails: %s", exc)
                failing = True
                await anyio.sleep(RETRY_SECONDS)

    async def publish(self, uris: Iterable[str], subscribers: Subscribers) -> None:
        for uri in uris:
            await self.bus.publish(ResourceUpdated(uri=uri))
            await subscribers.tell(uri)

    async def subscribe(self, ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
        """`resources/subscribe` (2025 sessions): the live resources only; the others do not change by themselves."""
        if params.uri not in LIVE_URIS:
            raise MCPError(
                code=INVALID_PARAMS,
                message=f"Only {' and '.join(LIVE_URIS)} can be subscribed to: {params.uri} is not one of them.",
                data={"uri": params.uri},
            )
        subscribers: Subscribers = ctx.lifespan_context
        subscribers.add(params.uri, session_key(ctx), ctx.session)
        return EmptyResult()

    async def unsubscribe(self, ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams) -> EmptyResult:
        subscribers: Subscribers = ctx.lifespan_context
        subscribers.remove(params.uri, session_key(ctx))
        return EmptyResult()
