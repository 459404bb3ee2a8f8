"""Who is asking: the person an HTTP request was signed in as (team sign-in), read from the claims of
their access token. Over stdio, in memory, or with the one shared bearer token, nobody is signed in.

The token verifier (mcp/signin.py) puts every verified claim in the SDK's `AccessToken.claims`; the
SDK keeps that token for the request, where `get_access_token()` finds it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken


@dataclass(frozen=True)
class Identity:
    """A signed-in person. `subject` is unique only per `issuer`; `email` is None when the token carries
    no address, or one the provider says is not verified. `employee`: the SIPSIM employee an administrator
    gave this person's address (the policy's [employees]), None when none."""

    subject: str
    issuer: str
    email: str | None = None
    name: str | None = None
    scopes: frozenset[str] = frozenset()
    client_id: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    employee: int | str | None = None

    @property
    def label(self) -> str:
        """How answers and audit lines name the person: email, else name, else subject."""
        return self.email or self.name or self.subject

    @property
    def key(self) -> str:
        """The person as a short stable key, the same in every process (what is bound to them or counted for
        them: confirmation codes, caps): a digest of issuer and subject."""
        return hashlib.sha256(f"{self.issuer}\n{self.subject}".encode()).hexdigest()[:16]

    def audited(self) -> dict[str, str]:
        """How an audit line names the person: subject and issuer, and email when known."""
        named = {"sub": self.subject, "iss": self.issuer}
        return {**named, "email": self.email} if self.email else named

    @classmethod
    def from_claims(
        cls, claims: Mapping[str, Any], *, scopes: frozenset[str] = frozenset(), client_id: str = ""
    ) -> Identity:
        """The identity in verified token claims (`sub` and `iss` required)."""
        return cls(
            subject=str(claims["sub"]),
            issuer=str(claims["iss"]),
            email=_email(claims),
            name=_name(claims),
            scopes=scopes,
            client_id=client_id,
            claims=dict(claims),
        )

    @classmethod
    def from_access_token(cls, token: AccessToken) -> Identity | None:
        """The person a verified SDK token stands for; None for a token without a person (the shared token)."""
        claims = token.claims or {}
        if token.subject is None or "iss" not in claims:
            return None
        return cls.from_claims(
            {**claims, "sub": token.subject}, scopes=frozenset(token.scopes), client_id=token.client_id
        )


def current_identity() -> Identity | None:
    """The person the current HTTP request was signed in as, or None (stdio, in memory, shared token)."""
    token = get_access_token()
    return Identity.from_access_token(token) if token is not None else None


def _email(claims: Mapping[str, Any]) -> str | None:
    if claims.get("email_verified") is False:
        return None
    for name in ("email", "preferred_username", "upn"):  # Entra puts the address in upn / preferred_username
        value = claims.get(name)
        if isinstance(value, str) and "@" in value.strip("@"):
            return value.strip()
    return None


def _name(claims: Mapping[str, Any]) -> str | None:
    name = claims.get("name")
    if isinstance(name, str) and name.strip():
        return " ".join(name.split())
    parts = [claims.get("given_name"), claims.get("family_name")]
    joined = " ".join(part.strip() for part in parts if isinstance(part, str) and part.strip())
    return joined or None
