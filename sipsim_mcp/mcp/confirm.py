"""What stands between a model and a write: the confirmation form, one-time confirmation codes bound to the
resolved request and to the state store's generation, the secrets shared by every process on that store,
the sealing of a 2026-07-28 form's round trip, and the write-ahead audit log."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from mcp.server.request_state import AESGCMRequestStateCodec
from pydantic import BaseModel, Field, StrictBool

from ..api.redact import REDACTOR
from ..state import StateStore
from ..tools.base import Outcome

logger = logging.getLogger(__name__)

CODE_TTL = 300.0

#: What a confirmation code (or a form's round trip) is worth for one request: none given, good, or why not.
CodeCheck = Literal["none", "valid", "malformed", "other", "expired", "changed", "used", "replayed", "reset"]


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
    """Keys derived from one root: `SIPSIM_CONFIRM_KEY` when set, else a secret the state store keeps (shared
    by every process on that store, and new when the store lost its data)."""

    def __init__(self, configured: str | None, store: StateStore) -> None:
        self._store = store
        self._root = hashlib.sha256(b"sipsim-mcp root\0" + configured.encode()).digest() if configured else None

    def key(self, label: str) -> bytes:
        root = self._root if self._root is not None else self._store.secret("root")
        return hmac.new(root, label.encode(), hashlib.sha256).digest()


class ConfirmationCodes:
    """Codes bound by HMAC to one subject (the account and the tool), its arguments, the exact request its
    preview showed and the state store's generation; valid 5 minutes. A code from another generation (issued
    before the store lost its data, or by a server on another store) is refused: whether it was used is not
    known. Single use is the caller's job (claim `nonce(code)` in the state store)."""

    def __init__(
        self, key: Callable[[], bytes], *, ttl: float = CODE_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self._ttl = ttl
        self.clock = clock

    def issue(self, subject: str, arguments: dict[str, Any], request: str, generation: str) -> tuple[str, datetime]:
        expires = int(self.clock() + self._ttl)
        nonce = base64.b32encode(secrets.token_bytes(5)).decode()
        head = (expires, generation, nonce)
        code = f"{expires}-{generation}-{nonce}-{self._mac(subject, canonical(arguments), *head)}"
        return code + self._mac(subject, request, *head), datetime.fromtimestamp(expires, timezone.utc)

    def check(
        self, subject: str, arguments: dict[str, Any], request: str, code: str | None, generation: str
    ) -> CodeCheck:
        """What `code` is worth for this subject, these arguments, this resolved request, on this generation."""
        if code is None:
            return "none"
        try:
            expires_text, issued_on, nonce, macs = code.strip().split("-")
            expires = int(expires_text)
        except ValueError:
            return "malformed"
        if len(macs) != 16:
            return "malformed"
        if not hmac.compare_digest(issued_on, generation):
            return "reset"
        head = (expires, issued_on, nonce)
        if not hmac.compare_digest(macs[:8], self._mac(subject, canonical(arguments), *head)):
            return "other"
        if self.clock() > expires:
            return "expired"
        if not hmac.compare_digest(macs[8:], self._mac(subject, request, *head)):
            return "changed"
        return "valid"

    @staticmethod
    def nonce(code: str) -> str:
        return code.strip().split("-")[2]

    def _mac(self, subject: str, text: str, expires: int, generation: str, nonce: str) -> str:
        message = f"{subject}\n{text}\n{expires}\n{generation}\n{nonce}".encode()
        return base64.b32encode(hmac.new(self._key(), message, hashlib.sha256).digest()[:5]).decode()


class SharedCodec:
    """Seals the 2026-07-28 `requestState` of confirmation forms under a key every process on the state store
    shares (derived from SIPSIM_CONFIRM_KEY, or kept in the store), so a form answered through one replica
    completes on any other; a new key (the store lost its data, and its secret) replaces the old."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key
        self._codecs: dict[bytes, AESGCMRequestStateCodec] = {}

    def _inner(self) -> AESGCMRequestStateCodec:
        key = self._key()
        if key not in self._codecs:
            self._codecs = {key: AESGCMRequestStateCodec([key])}
        return self._codecs[key]

    def seal(self, payload: bytes) -> str:
        return self._inner().seal(payload)

    def unseal(self, token: str) -> bytes:
        return self._inner().unseal(token)


class AuditUnavailable(Exception):
    """The audit log cannot be written: a write is not sent without its attempt line."""


class AuditLog:
    """The write-ahead audit log: one JSON line per event, appended and synced to disk before the call goes
    on. A write that is sent has a `sending` line (with an `attempt` id) written before the request leaves,
    and a line with its outcome (`done`, `failed`, `unknown`) and SIPSIM's request_id after; a process that
    dies in between leaves the first alone (`doctor` reports it). Each line names the process, the person who
    asked (when signed in), the tool, its arguments and the resolved request; secrets are scrubbed. Off when
    `path` is None."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    async def record(
        self,
        tool: str,
        arguments: dict[str, Any],
        outcome: Outcome,
        *,
        request: dict[str, Any] | None = None,
        request_id: str | None = None,
        attempt: str | None = None,
        detail: str | None = None,
        person: dict[str, str] | None = None,
    ) -> None:
        """Append one line; for `sending`, AuditUnavailable when it cannot be written (the others are logged).
        `person`: who asked, when signed in (subject, issuer, email)."""
        if self.path is None:
            return
        line = {
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "pid": os.getpid(),  # which process sent it (one of several workers or replicas)
            "attempt": attempt,
            "person": person,
            "tool": tool,
            "arguments": arguments,
            "outcome": outcome,
            "request": request,
            "request_id": request_id,
        }
        if detail:
            line["detail"] = excerpt(detail, 500)
        text = REDACTOR.redact(json.dumps({k: v for k, v in line.items() if v is not None}, ensure_ascii=False))
        try:
            await anyio.to_thread.run_sync(_append, self.path, text + "\n")
        except OSError as exc:
            if outcome == "sending":
                raise AuditUnavailable(f"the audit log {self.path} cannot be written ({type(exc).__name__})") from None
            logger.error("Could not write the audit log %s: %s", self.path, exc)


def _append(path: Path, text: str) -> None:
    """One line appended in one write, then synced: lines of processes sharing the file never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


#: How much of the end of the audit log `unresolved` reads.
TAIL_BYTES = 8 * 1024 * 1024


def unresolved(path: Path, *, since: float, settled_before: float) -> list[dict[str, Any]]:
    """The writes of the audit log whose outcome is unknown, oldest first: those recorded `unknown`, and those
    sent (`sending`) with no line after them, whose process has stopped or which were sent before
    `settled_before` (a write of a live process sent since may still be in flight). Only from `since` on."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []
    sent: dict[str, dict[str, Any]] = {}
    found: list[dict[str, Any]] = []
    for text in lines:
        try:
            line = json.loads(text)
            line["at"] = datetime.fromisoformat(line["time"].replace("Z", "+00:00")).timestamp()
        except (ValueError, KeyError, TypeError, AttributeError):
            continue  # a partial first line (the tail began mid-line), or not ours
        if line["at"] < since:
            continue
        if line.get("outcome") == "sending" and line.get("attempt"):
            sent[line["attempt"]] = line
            continue
        sent.pop(line.get("attempt") or "", None)
        if line.get("outcome") == "unknown":
            found.append(line)
    stopped = [
        {**line, "outcome": "unknown", "detail": "no outcome recorded: the server stopped mid-request"}
        for line in sent.values()
        if line["at"] < settled_before or not _alive(line.get("pid"))
    ]
    return sorted(found + stopped, key=lambda line: line["at"])


def _alive(pid: object) -> bool:
    """Whether process `pid` runs on this machine."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True
