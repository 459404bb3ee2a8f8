"""Errors raised by the SIPSIM client; each message says what went wrong and what to do next."""

from __future__ import annotations


class SipsimError(Exception):
    """Base of every error the SIPSIM client raises. `str()` is safe to show to a user or a model."""


class TokenError(SipsimError):
    """The token endpoint refused or failed (RFC 6749 error code in `error`)."""

    def __init__(self, message: str, *, error: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.status = status


class MissingScopeError(SipsimError):
    """A needed scope is not configured, or SIPSIM did not grant it. No API call was made."""

    def __init__(self, message: str, *, missing: frozenset[str]) -> None:
        super().__init__(message)
        self.missing = missing


class SipsimAPIError(SipsimError):
    """SIPSIM answered an API request with an error (or could not be reached: `status` is None)."""

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        errors: list[str],
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.errors = errors
        self.request_id = request_id
        self.retry_after = retry_after
        super().__init__(self.describe())

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        text = f"SIPSIM API error ({what}) on {self.method} {self.path}: " + ("; ".join(self.errors) or "no detail")
        if self.request_id:
            text += f" (request_id {self.request_id})"
        return text
