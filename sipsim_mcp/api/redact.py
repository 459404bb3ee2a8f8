"""Keeps secrets out of log lines: the client secret and every access token are scrubbed."""

from __future__ import annotations

import logging
import threading

REDACTED = "[redacted]"


class Redactor:
    """A set of secret strings and a way to scrub them from text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


#: The process-wide redactor: the token provider registers the secret and each token it receives.
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
        record.msg = self._redactor.scrub(message)
        record.args = None
        return True
