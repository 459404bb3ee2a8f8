"""What stands between a model and a write: one-time confirmation codes, the click-to-call
duplicate guard, and the audit log of every write attempt."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

logger = logging.getLogger(__name__)

CODE_TTL = 300.0
DEDUPE_SECONDS = 60.0

Outcome = Literal["done", "preview", "declined", "cancelled", "duplicate", "refused", "failed"]


class ConfirmForm(BaseModel):
    """The form a user sees when the client can ask (elicitation)."""

    confirm: bool = Field(description="Tick to go ahead; leave unticked to change nothing")


class CodeRefused(Exception):
    """A confirmation code that cannot authorise this write; the message says why and what to do."""


def canonical(arguments: dict[str, Any]) -> str:
    """The arguments as one stable string (sorted keys, compact)."""
    return json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)


class ConfirmationCodes:
    """Single-use codes bound by HMAC to one tool and its exact arguments, valid 5 minutes.

    The key is random per process unless `secret` is given (SIPSIM_CONFIRM_KEY), which lets a code issued by
    one process or replica be redeemed by another. Single use is tracked per process.
    """

    def __init__(
        self, secret: str | None = None, *, ttl: float = CODE_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = (
            hashlib.sha256(b"sipsim-mcp confirmation codes\0" + secret.encode()).digest()
            if secret
            else secrets.token_bytes(32)
        )
        self._ttl = ttl
        self.clock = clock
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, tool: str, arguments: dict[str, Any]) -> tuple[str, datetime]:
        expires = int(self.clock() + self._ttl)
        nonce = base64.b32encode(secrets.token_bytes(5)).decode()
        code = f"{expires}-{nonce}-{self._mac(tool, arguments, expires, nonce)}"
        return code, datetime.fromtimestamp(expires, timezone.utc)

    def redeem(self, tool: str, arguments: dict[str, Any], code: str) -> None:
        """Accept `code` once for exactly these arguments, or raise CodeRefused."""
        again = (
            " Nothing was done. Call the tool again without confirmation_code to get a fresh preview, "
            "show it to the user and ask them."
        )
        try:
            expires_text, nonce, mac = code.strip().split("-")
            expires = int(expires_text)
        except ValueError:
            raise CodeRefused(f"{code!r} is not a confirmation code issued by this server." + again) from None
        if not hmac.compare_digest(mac, self._mac(tool, arguments, expires, nonce)):
            raise CodeRefused(
                "The confirmation code does not match these arguments: it was issued for a different request "
                "(the arguments changed since the preview) or it is wrong." + again
            )
        now = self.clock()
        if now > expires:
            raise CodeRefused("The confirmation code has expired (codes are valid for 5 minutes)." + again)
        with self._lock:
            self._used = {n: t for n, t in self._used.items() if t >= now}
            if nonce in self._used:
                raise CodeRefused("The confirmation code has already been used; each code works once." + again)
            self._used[nonce] = expires

    def _mac(self, tool: str, arguments: dict[str, Any], expires: int, nonce: str) -> str:
        message = f"{tool}\n{canonical(arguments)}\n{expires}\n{nonce}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.b32encode(digest[:10]).decode()


class RecentWrites:
    """Remembers the result of a write for a short while, so an identical repeat is not sent again."""

    def __init__(self, *, window: float = DEDUPE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._seen: dict[str, tuple[float, Any]] = {}

    def get(self, key: str) -> Any | None:
        now = self._clock()
        self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self._window}
        entry = self._seen.get(key)
        return entry[1] if entry else None

    def put(self, key: str, result: Any) -> None:
        self._seen[key] = (self._clock(), result)


class AuditLog:
    """Appends one JSON line per write attempt to a file (when `SIPSIM_AUDIT_LOG` names one)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(
        self,
        tool: str,
        arguments: dict[str, Any],
        outcome: Outcome,
        *,
        request_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        if self.path is None:
            return
        line = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "tool": tool,
            "arguments": arguments,
            "outcome": outcome,
            "request_id": request_id,
        }
        if detail:
            line["detail"] = detail
        text = json.dumps(line, ensure_ascii=False, default=str)
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as exc:
            logger.error("Could not write the audit log %s: %s", self.path, exc)
