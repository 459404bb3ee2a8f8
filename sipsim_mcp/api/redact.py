"""The one redaction of every text a person or model sees: tool results and errors, logs at every level,
`doctor` (plain, `--json`, `--probe`), the audit log and HTTP error pages.

Known secrets are replaced wherever they appear, in the forms an echo takes: as sent, URL-encoded (a
redirect's query), JSON-escaped, and the client's `Basic` credentials. They are every secret setting (the
client secret, `SIPSIM_CONFIRM_KEY`, the HTTP transport's credentials) and a Redis password, registered
when the settings are loaded, and each access token as it arrives. In the server's own words (logs, errors,
`doctor`, the audit log: `redact`), credentials nobody registered are caught by their shape too: the value
after `Bearer`, after a long `Basic`, and after `client_secret`, `access_token`, `refresh_token` or
`password` as a key. Account data (a tool's result: `scrub`) keeps such text, which is the account's own.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus, urlsplit

from pydantic import SecretStr

if TYPE_CHECKING:
    from .config import Settings

REDACTED = "[redacted]"

#: Credentials by their shape: (words one of which must be in the text for the pattern to run, pattern).
_SHAPES: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    (("earer", "EARER"), re.compile(r"(?i)\b(bearer)((?:\s|%20|\+)+)[A-Za-z0-9\-._~+/]{8,}=*"), rf"\1\2{REDACTED}"),
    (("asic", "ASIC"), re.compile(r"(?i)\b(basic)((?:\s|%20|\+)+)[A-Za-z0-9+/]{16,}={0,2}"), rf"\1\2{REDACTED}"),
    (
        ("secret", "SECRET", "token", "TOKEN", "assword", "ASSWORD"),
        re.compile(
            r"(?i)\b(client_secret|access_token|refresh_token|id_token|password)"
            r"((?:\\?[\"'])?\s*(?:[:=]|%3D)\s*(?:\\?[\"'])?)([^\s\"'&,;}\\<>]+)"
        ),
        rf"\1\2{REDACTED}",
    ),
)


class Redactor:
    """The secrets to scrub, and the scrubbing."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._secrets: dict[str, float] = {}  # each form of each secret -> until when it is scrubbed
        self._order: list[str] = []  # longest first: a secret inside another is scrubbed with it
        self._lock = threading.Lock()
        self._clock = clock

    def add(self, secret: str | None, *, lifetime: float | None = None) -> None:
        """Scrub `secret` (and its encoded forms) from now on: for `lifetime` seconds when given (an access
        token, long after it expired and can no longer be sent), else for as long as the process lives."""
        if not secret or len(secret) < 4:
            return
        now = self._clock()
        until = float("inf") if lifetime is None else now + lifetime
        forms = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
        forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        with self._lock:
            kept = {form: end for form, end in self._secrets.items() if end >= now}
            for form in forms:
                kept[form] = max(until, kept.get(form, 0.0))
            self._secrets, self._order = kept, sorted(kept, key=len, reverse=True)

    def add_settings(self, settings: Settings) -> None:
        """Every secret a configuration holds: each `SecretStr` setting, the client's Basic credentials and a
        Redis password."""
        for name in type(settings).model_fields:
            value = getattr(settings, name)
            if isinstance(value, SecretStr):
                self.add(value.get_secret_value())
        if settings.client_id and settings.client_secret:
            pair = f"{settings.client_id}:{settings.client_secret.get_secret_value()}"
            self.add(base64.b64encode(pair.encode()).decode())
        if settings.state_url:
            self.add(urlsplit(settings.state_url).password)

    def scrub(self, text: str) -> str:
        """`text` with every known secret replaced by `[redacted]`: for account data (a tool's result), where
        a value shaped like a credential is the account's own text."""
        for secret in self._order:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def redact(self, text: str) -> str:
        """`text` with every known secret and every credential-shaped value replaced: for the server's own
        words (logs, errors, `doctor`, the audit log)."""
        text = self.scrub(text)
        for triggers, pattern, replacement in _SHAPES:
            if any(word in text for word in triggers):
                text = pattern.sub(replacement, text)
        return text


#: The process-wide redactor: the settings and the token provider register what it scrubs.
REDACTOR = Redactor()


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record and scrubs secrets from the message and traceback."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
            record.exc_text = None
        if record.stack_info:
            message += "\n" + record.stack_info
            record.stack_info = None
        record.msg = self._redactor.redact(message)
        record.args = None
        return True
