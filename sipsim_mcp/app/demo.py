"""Demo mode: the bundled simulator in-process, and the settings that point the server at it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

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


@contextmanager
def demo_environment(seed: int = 7, now: datetime | None = None) -> Iterator[Any]:
    """Start the bundled simulator in this process and yield it: its calls end at midnight (Paris time) of the
    day `now` falls on (SIPSIM_NOW), or of today."""
    from ..sandbox import Sandbox, SandboxConfig
    from ..sandbox.dataset import start_of_day

    with Sandbox(SandboxConfig(seed=seed, anchor=start_of_day(now) if now else None)) as sandbox:
        logger.info("Demo mode: serving the bundled SIPSIM simulator at %s (no real account used)", sandbox.base_url)
        yield sandbox


def demo_settings(sandbox: Any) -> Settings:
    """Settings for --demo: the simulator's; scopes, time zone and region set in the environment still apply."""
    environment = load_settings()
    chosen = {name: getattr(environment, name) for name in ("scopes", "timezone", "default_region")}
    return simulator_settings(sandbox, **{k: v for k, v in chosen.items() if k in environment.model_fields_set})
