"""What stands between a model and a write: the confirmation form, one-time confirmation codes bound
to the resolved request, the secrets shared by replicas, and the audit log of every write attempt."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool

from ..api.redact import REDACTOR
from .state import StateStore

logger = logging.getLogger(__name__)

CODE_TTL = 300.0

Outcome = Literal["done", "preview", "declined", "cancelled", "duplicate", "refused", "failed", "unknown"]

#: What a confirmation code is worth for one request: none given, good, or why not.
CodeCheck = Literal["none", "valid", "malformed", "other", "expired", "changed", "used", "replayed"]


class ConfirmForm(BaseModel):
    """The form a user sees when the client can ask (elicitation). Only a JSON `true` confirms."""

    confirm: StrictBool = Field(description="Tick to go ahead; leave unticked to change nothing")


def excerpt(text: str, limit: int = 80) -> str:
    """At most `limit` characters of `text` (a bad value echoed in a message, a long error)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def canonical(value: Any) -> str:
    """A value as one stable string (sorted keys, compact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


class SharedSecrets:
    """Keys derived from one root: `SIPSIM_CONFIRM_KEY` when set, else a secret kept in the state store
    (random per process in memory, shared by every replica in Redis)."""

    def __init__(self, configured: str | None, store: StateStore) -> None:
        self._configured = configured
        self._store = store
        self._root: bytes | None = None

    def key(self, label: str) -> bytes:
        if self._root is None:
            self._root = (
                hashlib.sha256(b"sipsim-mcp root\0" + self._configured.encode()).digest()
                if self._configured
                else self._store.secret("root")
            )
        return hmac.new(self._root, label.encode(), hashlib.sha256).digest()


class ConfirmationCodes:
    """Codes bound by HMAC to one tool, its arguments and the exact request its preview showed; valid
    5 minutes. Single use is the caller's job (claim `nonce(code)` in the state store)."""

    def __init__(
        self, key: Callable[[], bytes], *, ttl: float = CODE_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self._ttl = ttl
        self.clock = clock

    def issue(self, tool: str, arguments: dict[str, Any], request: str) -> tuple[str, datetime]:
        expires = int(self.clock() + self._ttl)
        nonce = base64.b32encode(secrets.token_bytes(5)).decode()
        code = f"{expires}-{nonce}-{self._mac(tool, canonical(arguments), expires, nonce)}"
        return code + self._mac(tool, request, expires, nonce), datetime.fromtimestamp(expires, timezone.utc)

    def check(self, tool: str, arguments: dict[str, Any], request: str, code: str | None) -> CodeCheck:
        """What `code` is worth for this tool, these arguments and this resolved request."""
        if code is None:
            return "none"
        try:
            expires_text, nonce, macs = code.strip().split("-")
            expires = int(expires_text)
        except ValueError:
            return "malformed"
        if len(macs) != 16:
            return "malformed"
        if not hmac.compare_digest(macs[:8], self._mac(tool, canonical(arguments), expires, nonce)):
            return "other"
        if self.clock() > expires:
            return "expired"
        if not hmac.compare_digest(macs[8:], self._mac(tool, request, expires, nonce)):
            return "changed"
        return "valid"

    @staticmethod
    def nonce(code: str) -> str:
        return code.strip().split("-")[1]

    def _mac(self, tool: str, subject: str, expires: int, nonce: str) -> str:
        message = f"{tool}\n{subject}\n{expires}\n{nonce}".encode()
        return base64.b32encode(hmac.new(self._key(), message, hashlib.sha256).digest()[:5]).decode()


class AuditLog:
    """Appends one JSON line per write attempt to a file (when `SIPSIM_AUDIT_LOG` names one): the process,
    the tool, its arguments, the resolved request (method, path, body), the outcome and SIPSIM's request_id."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(
        self,
        tool: str,
        arguments: dict[str, Any],
        outcome: Outcome,
        *,
        request: dict[str, Any] | None = None,
        request_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        if self.path is None:
            return
        line = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "pid": os.getpid(),  # which process sent it (one of several workers or replicas)
            "tool": tool,
            "arguments": arguments,
            "outcome": outcome,
            "request": request,
            "request_id": request_id,
        }
        if detail:
            line["detail"] = excerpt(REDACTOR.scrub(detail), 500)
        text = json.dumps(line, ensure_ascii=False, default=str)
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as exc:
            logger.error("Could not write the audit log %s: %s", self.path, exc)
