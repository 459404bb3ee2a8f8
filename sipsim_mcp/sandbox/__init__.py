"""A local simulator of the SIPSIM REST API v2 (OAuth token endpoint + ``/api/v2``).

It plays the remote API for tests, demos and the ``sipsim-mcp sandbox`` command, and must stay
independent of the client code in ``sipsim_mcp``::

    with Sandbox(SandboxConfig(seed=7)) as sandbox:
        httpx.post(sandbox.token_url, data={...})

Its parts load on first use: a server that never runs the simulator does not pay for it at start-up.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ALL_SCOPES, ClientSpec, LiveConfig, SandboxConfig
    from .dataset import SandboxData
    from .runner import Sandbox
    from .state import Fault, LoggedRequest
    from .variants import VARIANTS

_HOMES = {
    "ALL_SCOPES": "config",
    "ClientSpec": "config",
    "LiveConfig": "config",
    "SandboxConfig": "config",
    "SandboxData": "dataset",
    "Sandbox": "runner",
    "Fault": "state",
    "LoggedRequest": "state",
    "VARIANTS": "variants",
}

__all__ = [
    "ALL_SCOPES",
    "VARIANTS",
    "ClientSpec",
    "Fault",
    "LiveConfig",
    "LoggedRequest",
    "Sandbox",
    "SandboxConfig",
    "SandboxData",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value
