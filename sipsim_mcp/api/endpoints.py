"""The SIPSIM v2 operations: method, path, the scope(s) each needs, and whether the docs show it.

This table is the one place where what the SIPSIM docs say meets what we had to infer; README's
"Documented vs inferred" section is written from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

Method = Literal["GET", "POST", "PATCH", "DELETE"]


@dataclass(frozen=True)
class Endpoint:
    """One SIPSIM API operation. `scopes` are alternatives (any one suffices), preferred first."""

    method: Method
    path: str
    scopes: tuple[str, ...]
    documented: bool
    note: str = ""

    def scope_for(self, configured: frozenset[str]) -> str | None:
        """The scope to ask a token for, given the scopes the integration has; None if it has none of them."""
        return next((scope for scope in self.scopes if scope in configured), None)

    def render(self, **params: object) -> str:
        """The path with its `{placeholders}` filled in, each percent-encoded."""
        return self.path.format(**{key: quote(str(value), safe="") for key, value in params.items()})


GET_ACCOUNT = Endpoint("GET", "/account", ("account.read",), True)
LIST_CALLS = Endpoint("GET", "/calls", ("calls.read",), True)
GET_CALL = Endpoint("GET", "/calls/{call_id}", ("calls.read",), False, "path INFERRED from 'detailed call information'")
START_CALL = Endpoint(
    "POST",
    "/calls",
    ("calls.create", "calls.write"),
    False,
    "path and body {phone_id, number} INFERRED; the docs disagree on the scope (calls.create vs calls.write)",
)
TAG_CALL = Endpoint(
    "POST",
    "/calls/{call_id}/tags",
    ("calls.tags.write", "calls.write"),
    False,
    "path and body {tag_id} INFERRED; the scope calls.tags.write is documented",
)
UNTAG_CALL = Endpoint(
    "DELETE", "/calls/{call_id}/tags/{tag_id}", ("calls.tags.write", "calls.write"), False, "path INFERRED"
)
GET_TRANSCRIPTION = Endpoint("GET", "/calls/{call_id}/transcription", ("calls.transcription.read",), True)
REQUEST_TRANSCRIPTION = Endpoint("POST", "/calls/{call_id}/transcription", ("calls.transcription.write",), True)
GET_SUMMARY = Endpoint("GET", "/calls/{call_id}/summary", ("calls.summary.read",), False, "path INFERRED")
REQUEST_SUMMARY = Endpoint("POST", "/calls/{call_id}/summary", ("calls.summary.write",), False, "path INFERRED")
LIST_PHONES = Endpoint("GET", "/phones", ("phones.read",), True)
GET_PHONE = Endpoint("GET", "/phones/{phone_id}", ("phones.read",), False, "path INFERRED")
UPDATE_PHONE = Endpoint(
    "PATCH",
    "/phones/{phone_id}",
    ("phones.write",),
    False,
    "path and partial nested body INFERRED from the Phone object and the phones.write scope",
)
LIST_TAGS = Endpoint("GET", "/tags", ("tags.read",), True)
CREATE_TAG = Endpoint("POST", "/tags", ("tags.write",), True)
UPDATE_TAG = Endpoint("PATCH", "/tags/{tag_id}", ("tags.write",), True)
DELETE_TAG = Endpoint("DELETE", "/tags/{tag_id}", ("tags.write",), True)
LIST_AVAILABLE_WEBHOOKS = Endpoint("GET", "/webhooks/available", ("webhooks.read",), True)
LIST_WEBHOOKS = Endpoint("GET", "/webhooks", ("webhooks.read",), True)
ENABLE_WEBHOOK = Endpoint("POST", "/webhooks/{event}", ("webhooks.write",), True)
DISABLE_WEBHOOK = Endpoint("DELETE", "/webhooks/{event}", ("webhooks.write",), False, "DELETE INFERRED")

ALL_ENDPOINTS: tuple[Endpoint, ...] = tuple(value for value in globals().values() if isinstance(value, Endpoint))
