"""Demo mode: the bundled simulator in-process, and the settings that point the server at it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .config import KNOWN_SCOPES, Settings, load_settings

logger = logging.getLogger("sipsim_mcp")

DEMO_CLIENT_ID = "demo"
DEMO_CLIENT_SECRET = "demo-secret"


@contextmanager
def demo_environment(seed: int = 7) -> Iterator[dict[str, Any]]:
    """Start the bundled simulator and yield the settings overrides that point the server at it."""
    from .sandbox import Sandbox, SandboxConfig

    with Sandbox(SandboxConfig(seed=seed)) as sandbox:
        logger.warning("Demo mode: serving the bundled SIPSIM simulator at %s (no real account used)", sandbox.base_url)
        yield {
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
            "api_url": sandbox.api_url,
            "token_url": sandbox.token_url,
        }


def demo_settings(overrides: dict[str, Any]) -> Settings:
    """Settings for --demo: the simulator's credentials, every scope and its time zone unless set otherwise."""
    environment = load_settings()
    extra: dict[str, Any] = {}
    if "scopes" not in environment.model_fields_set:
        extra["scopes"] = " ".join(sorted(KNOWN_SCOPES))
    if "timezone" not in environment.model_fields_set:
        extra["timezone"] = "Europe/Paris"
    if "default_region" not in environment.model_fields_set:
        extra["default_region"] = "FR"
    return load_settings(**overrides, **extra)
