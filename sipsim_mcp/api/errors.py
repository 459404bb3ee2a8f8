"""Errors a model may read (`UserError` and below): SIPSIM's, and those of the arguments it gave. Each
message says what went wrong and what to do next."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """Base of every error a model may read: `str()` says what went wrong and what to do next, and is safe to
    show (no secret, no traceback). The server turns it into the tool's error answer in one place."""


class SipsimError(UserError):
    """Base of every error the SIPSIM client raises."""


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
        self.scopes_tried: tuple[str, ...] = ()  # the token scopes the request was sent with, in order
        super().__init__(self.describe())

    def describe(self) -> str:
        what = f"HTTP {self.status}" if self.status is not None else "no response"
        text = f"SIPSIM API error ({what}) on {self.method} {self.path}: " + ("; ".join(self.errors) or "no detail")
        if self.request_id:
            text += f" (request_id {self.request_id})"
        return text


class ResponseShapeError(SipsimAPIError):
    """SIPSIM answered, but not in a shape this server can read: a difference between the real API and what
    the docs let us infer, not a problem with the caller's arguments. `fields` name where and what type,
    never the values."""

    def __init__(
        self, *, method: str, path: str, status: int | None, fields: list[str], request_id: str | None = None
    ) -> None:
        self.fields = fields
        super().__init__(method=method, path=path, status=status, errors=fields, request_id=request_id)

    def describe(self) -> str:
        text = f"SIPSIM's answer to {self.method} {self.path} could not be read"
        if self.fields:
            text += f" ({'; '.join(self.fields[:5])})"
        if self.request_id:
            text += f" (request_id {self.request_id})"
        return (
            text + ". This is a difference between the SIPSIM API and what this server expects, not a problem "
            "with the arguments: run `sipsim-mcp doctor --probe` and include its output in a bug report"
        )


_UNION_TAGS = frozenset({"int", "str", "float", "bool", "list", "dict", "none", "datetime"})


def shape_problems(errors: list[Any], prefix: str = "") -> list[str]:
    """`where: what was expected` for each pydantic error (from `ValidationError.errors()`), values left out.
    The branches of a union are folded into one entry (`data.id: int_type or string_type`)."""
    found: dict[str, list[str]] = {}
    for error in errors:
        parts = [str(part) for part in (prefix, *error.get("loc", ())) if part != ""]
        where = ".".join(part for part in parts if part not in _UNION_TAGS and "[" not in part) or "body"
        found.setdefault(where, [])
        if (kind := str(error.get("type", "unreadable"))) not in found[where]:
            found[where].append(kind)
    return [f"{where}: {' or '.join(kinds)}" for where, kinds in found.items()]
