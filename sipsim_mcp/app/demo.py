"""Demo mode: the bundled simulator in-process, and the settings that point the server at it."""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from ..api.config import KNOWN_SCOPES, Settings, load_settings

logger = logging.getLogger("sipsim_mcp")

DEMO_CLIENT_ID = "demo"
DEMO_CLIENT_SECRET = "demo-secret"


def simulator_settings(sandbox: Any, **overrides: Any) -> Settings:
    """Settings for a server talking to a simulator (anything with `api_url` and `token_url`): its demo
    client, every scope, Paris time and French numbers, unless `overrides` say otherwise."""
    values: dict[str, Any] = {
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "api_url": sandbox.api_url,
        "token_url": sandbox.token_url,
        "scopes": " ".join(sorted(KNOWN_SCOPES)),
        "timezone": "Europe/Paris",
        "default_region": "FR",
    }
    return load_settings(**{**values, **overrides})


#: What a live demo's server needs beyond the simulator's address: the signing secret it shares with the
#: simulator and the event log its receiver writes (by simulator).
_LIVE: WeakKeyDictionary[Any, dict[str, str]] = WeakKeyDictionary()


@contextmanager
def demo_environment(
    seed: int = 7, now: datetime | None = None, live_rate: float = 0.0, webhook_url: str | None = None
) -> Iterator[Any]:
    """Start the bundled simulator in this process and yield it: its calls end at midnight (Paris time) of the
    day `now` falls on (SIPSIM_NOW), or of today, and its clock starts at `now`. With `live_rate`, it also
    places that many calls a minute as they happen, and posts their signed webhooks (a random secret the
    demo's server shares; events in a SQLite file of a temporary folder) to `webhook_url`, the receiver the
    HTTP transport mounts, or without one to a receiver started here (for a server on stdio)."""
    from ..sandbox import LiveConfig, Sandbox, SandboxConfig
    from ..sandbox.dataset import start_of_day

    with ExitStack() as stack:
        live, overrides = None, {}
        if live_rate > 0:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="sipsim-demo-"))
            overrides = {"webhook_secret": secrets.token_hex(32), "events_url": f"sqlite:///{folder}/events.sqlite3"}
            url = webhook_url or stack.enter_context(demo_receiver(overrides, now))
            live = LiveConfig(rate=live_rate, url=url, secret=overrides["webhook_secret"], seed=seed)
        config = SandboxConfig(seed=seed, anchor=start_of_day(now) if now else None, now=now, live=live)
        sandbox = stack.enter_context(Sandbox(config))
        logger.info("Demo mode: serving the bundled SIPSIM simulator at %s (no real account used)", sandbox.base_url)
        if overrides:
            _LIVE[sandbox] = overrides
            logger.info("Demo mode: %s calls a minute happen live, their webhooks posted to %s", live_rate, url)
        yield sandbox


@contextmanager
def demo_receiver(overrides: dict[str, str], now: datetime | None) -> Iterator[str]:
    """The live demo's webhook receiver on a loopback port of this process, on the simulator's clock (`now`);
    yields its URL."""
    from ..api.events import open_event_log
    from ..mcp.receiver import receiver_app, receiver_from_settings
    from .live import serve_in_thread

    settings = load_settings(**overrides, **({"now": now} if now else {}))
    receiver = receiver_from_settings(settings, open_event_log(settings.events_store), simulator=True)
    with serve_in_thread(receiver_app(receiver, settings.webhook_path)) as base:
        yield base + settings.webhook_path


def demo_settings(sandbox: Any) -> Settings:
    """Settings for --demo: the simulator's (and its live receiver's); scopes, time zone and region set in the
    environment still apply."""
    environment = load_settings()
    chosen = {name: getattr(environment, name) for name in ("scopes", "timezone", "default_region")}
    chosen = {k: v for k, v in chosen.items() if k in environment.model_fields_set}
    return simulator_settings(sandbox, **_LIVE.get(sandbox, {}), **chosen)
