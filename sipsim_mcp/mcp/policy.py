"""Team sign-in's roles: which tools each signed-in person may use, from a policy file (SIPSIM_POLICY).

    [roles.viewer]
    tools = ["list_calls", "get_call", "summarize_calls"]   # read tools; "*" for all of them
    [roles.agent]
    tools = ["*"]
    writes = ["tag_call", "untag_call", "start_call"]       # a write is offered when tools and writes name it
    calls_per_hour = 20                                      # click-to-call cap of the role (optional)
    lines = ["Sales", 102]                                   # lines the role may call from (optional)
    [[grants]]
    claim = "groups"      # any claim of the access token (a dotted path reaches into objects)
    value = "sales"       # matches the claim's value, or one item of a list
    role = "agent"        # a grant without claim and value applies to everyone signed in
    [employees]
    "marie.dupont@acme.com" = 1   # the SIPSIM employee a signed-in address is ("me", "my calls")

A person gets the union of the roles their grants give. Without a policy file every signed-in person gets
the read tools. `permissions()` is the one decision: (policy, claims) -> what the person may use.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..api.config import ConfigError
from ..language.identity import Identity
from ..tools.inventory import TOOLS

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

READS = frozenset(spec.name for spec in TOOLS if not spec.write)
WRITES = frozenset(spec.name for spec in TOOLS if spec.write)
ALL = "*"
ROLE_KEYS = ("tools", "writes", "calls_per_hour", "lines")
GRANT_KEYS = ("claim", "value", "role")
CALL_TOOL = "start_call"


@dataclass(frozen=True)
class Role:
    name: str
    tools: frozenset[str]
    writes: frozenset[str]
    calls_per_hour: int | None = None
    lines: frozenset[str] | None = None

    @property
    def offered(self) -> frozenset[str]:
        return self.tools | self.writes


@dataclass(frozen=True)
class Grant:
    role: str
    claim: str | None = None
    value: str | int | bool | None = None


@dataclass(frozen=True)
class Policy:
    source: str
    roles: Mapping[str, Role]
    grants: tuple[Grant, ...]
    employees: Mapping[str, int | str]

    @property
    def unenforced(self) -> list[str]:
        """The roles that set click-to-call limits (`calls_per_hour`, `lines`), which this version reads but
        does not enforce yet: they take effect with the click-to-call caps."""
        return [name for name, role in self.roles.items() if role.calls_per_hour is not None or role.lines is not None]

    def employee_for(self, email: str | None) -> int | str | None:
        """The SIPSIM employee id the policy gives this address, or None."""
        return self.employees.get(email.strip().casefold()) if email else None


@dataclass(frozen=True)
class Permissions:
    """What one signed-in person may use. `calls_per_hour` and `lines` limit click-to-call: None is no
    limit from the policy."""

    roles: frozenset[str]
    tools: frozenset[str]
    writes: frozenset[str]
    calls_per_hour: int | None = None
    lines: frozenset[str] | None = None

    def may_use(self, tool: str) -> bool:
        return tool in self.tools

    def may_write(self, tool: str) -> bool:
        return tool in self.writes


#: Without a policy file: every signed-in person may use the read tools, and no write.
READ_ONLY = Permissions(roles=frozenset(), tools=READS, writes=frozenset())


@dataclass(frozen=True)
class Caller:
    """A signed-in person (with the employee the policy gives their address) and what they may use.
    Per-person limits key on `person.key`: `permissions.calls_per_hour` and `permissions.lines` for
    click-to-call."""

    person: Identity
    permissions: Permissions

    def refusal(self, tool: str, write: bool) -> str:
        """Why this person may not use `tool`, and who can change that: the answer to a call of it."""
        roles = self.permissions.roles
        who = self.person.label
        what = "changes the account" if write else "is a tool"
        if self.permissions is READ_ONLY:
            held = "this server has no policy file, so people signed in may use the read tools only"
            fix = "give roles with a policy file (SIPSIM_POLICY, README: Sign-in for a team)"
            return f"{tool} {what}, and {held}. Nothing was done. An administrator can {fix}."
        if not roles:
            held = f"{who} has no role on this server: no grant of its policy matches their sign-in"
            fix = "give them a role"
        else:
            many = len(roles) > 1
            held = f"the role{'s' if many else ''} of {who} ({', '.join(sorted(roles))}) {'do' if many else 'does'} "
            held += "not allow it"
            fix = f"add {tool!r} to the {'writes' if write else 'tools'} of {'one of these roles' if many else 'it'}"
        return (
            f"{tool} {what}, and {held}. Nothing was done. An administrator can {fix} in the policy file "
            "(SIPSIM_POLICY); tools/list shows what they may use."
        )


def caller(policy: Policy | None, person: Identity) -> Caller:
    """The signed-in `person` as the policy sees them: their permissions, and the employee of their address."""
    employee = policy.employee_for(person.email) if policy is not None else None
    return Caller(replace(person, employee=employee), permissions(policy, person.claims))


def permissions(policy: Policy | None, claims: Mapping[str, Any]) -> Permissions:
    """What the person with these verified token claims may use: the union of the roles their grants give
    (READ_ONLY without a policy; nothing when no grant matches)."""
    if policy is None:
        return READ_ONLY
    names = frozenset(grant.role for grant in policy.grants if grant_matches(grant, claims))
    roles = [policy.roles[name] for name in sorted(names)]
    callers = [role for role in roles if CALL_TOOL in role.writes]
    caps = [role.calls_per_hour for role in callers]
    lines = [role.lines for role in callers]
    return Permissions(
        roles=names,
        tools=frozenset().union(*(role.offered for role in roles)),
        writes=frozenset().union(*(role.writes for role in roles)),
        calls_per_hour=None if not caps or None in caps else max(cap for cap in caps if cap is not None),
        lines=None if not lines or None in lines else frozenset().union(*(ls for ls in lines if ls is not None)),
    )


def grant_matches(grant: Grant, claims: Mapping[str, Any]) -> bool:
    """A grant without a claim matches everyone; else the claim's value (or one item of a list, or one word
    of `scope`/`scp`) equals the grant's value. Addresses (`email`) compare case-insensitively."""
    if grant.claim is None:
        return True
    found = claim_value(claims, grant.claim)
    if found is None:
        return False
    if isinstance(found, str) and grant.claim in ("scope", "scp"):
        found = found.split()
    items = found if isinstance(found, list) else [found]
    wanted = _text(grant.value)
    if grant.claim == "email":
        return any(_text(item).casefold() == wanted.casefold() for item in items)
    return any(_text(item) == wanted for item in items if not isinstance(item, (dict, list)))


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """The claim `name`; when there is no such claim, a dotted name walks into objects
    (`realm_access.roles`). Namespaced claims such as `https://acme.com/roles` are found by their full name."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- the file --------------------------------------------------------------------------------------------


def load_policy(path: Path) -> Policy:
    """The policy in `path`; a ConfigError naming the file, the line and the fix when it cannot be used."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"SIPSIM_POLICY: cannot read the policy file {path}: {exc.strerror or exc}. Set SIPSIM_POLICY to the "
            "path of a readable TOML file (see README: Sign-in for a team), or unset it to give every signed-in "
            "person the read tools."
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"SIPSIM_POLICY: the policy file {path} is not UTF-8 text; save it as UTF-8.") from None
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str = "policy.toml") -> Policy:
    """The policy in TOML `text` (read from `source`, named in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        position = re.search(r"\s*\(at line (\d+), column \d+\)", str(exc))
        where = f"{source}, line {position[1]}" if position else source
        problem = str(exc).replace(position[0], "") if position else str(exc)
        raise ConfigError(
            f"{where}: not valid TOML: {problem}. Fix it: strings and tool names in double quotes, lists in "
            "[ ], one key = value a line."
        ) from None
    return _Reader(text, source).policy(data)


class _Reader:
    """Checks the parsed TOML and words each problem with the line it is on."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    def fail(self, line: int | None, problem: str) -> ConfigError:
        where = f"{self.source}, line {line + 1}" if line is not None else self.source
        return ConfigError(f"{where}: {problem}")

    def header(self, pattern: str, nth: int = 0) -> int | None:
        """The line of the `nth` table header matching `pattern` (a regex of what is inside the brackets)."""
        regex = re.compile(rf"^\s*\[{pattern}\]\s*(#.*)?$")
        found = [i for i, line in enumerate(self.lines) if regex.match(line)]
        return found[nth] if nth < len(found) else None

    def within(self, start: int | None, needle: str) -> int | None:
        """The first line from the table header `start` on, before the next header, that holds `needle`."""
        if start is None:
            return None
        for i in range(start, len(self.lines)):
            if i > start and re.match(r"^\s*\[", self.lines[i]):
                break
            if needle in self.lines[i].split("#")[0]:
                return i
        return start

    def role_line(self, name: str, needle: str | None = None) -> int | None:
        quoted = re.escape(name) if re.fullmatch(r"[A-Za-z0-9_-]+", name) else re.escape(f'"{name}"')
        start = self.header(rf"\s*roles\s*\.\s*{quoted}\s*")
        return start if needle is None else self.within(start, needle)

    def policy(self, data: dict[str, Any]) -> Policy:
        unknown = sorted(set(data) - {"roles", "grants", "employees"})
        if unknown:
            line = next((i for i, text in enumerate(self.lines) if text.strip().startswith(unknown[0])), None)
            raise self.fail(
                line,
                f"unknown key {unknown[0]!r}: a policy has [roles.NAME] tables, [[grants]] and [employees]",
            )
        raw_roles = data.get("roles", {})
        if not isinstance(raw_roles, dict) or not raw_roles:
            raise self.fail(
                self.header(r"\s*roles\s*"),
                'no roles: add at least one, e.g. [roles.viewer] with tools = ["list_calls", "get_call"]',
            )
        roles = {name: self.role(name, body) for name, body in raw_roles.items()}
        raw_grants = data.get("grants", [])
        if not isinstance(raw_grants, list) or not all(isinstance(grant, dict) for grant in raw_grants):
            raise self.fail(None, "grants must be [[grants]] tables, each with claim, value and role")
        if not raw_grants:
            raise self.fail(
                None,
                'no [[grants]]: nobody would get a role. Add one, e.g. [[grants]] claim = "groups" value = "sales" '
                'role = "agent" (a grant with only role = "..." applies to everyone signed in)',
            )
        grants = tuple(self.grant(i, grant, roles) for i, grant in enumerate(raw_grants))
        return Policy(self.source, roles, grants, self.employees(data.get("employees", {})))

    def role(self, name: str, body: Any) -> Role:
        if not isinstance(body, dict):
            raise self.fail(self.role_line(name), f"roles.{name} must be a table: [roles.{name}] then tools = [...]")
        unknown = sorted(set(body) - set(ROLE_KEYS))
        if unknown:
            raise self.fail(
                self.role_line(name, unknown[0]),
                f"roles.{name} has the unknown key {unknown[0]!r}; a role has {', '.join(ROLE_KEYS)}",
            )
        tools = self.names(name, "tools", body.get("tools", []), READS | WRITES)
        writes = self.names(name, "writes", body.get("writes", []), WRITES)
        reads = READS if ALL in tools else tools & READS
        all_writes = WRITES if ALL in writes else writes
        offered_writes = WRITES if ALL in tools else tools & WRITES
        if unwritable := sorted((tools & WRITES) - all_writes):
            tool = unwritable[0]
            raise self.fail(
                self.role_line(name, f'"{tool}"'),
                f"roles.{name}.tools names the write {tool}, which roles.{name}.writes does not allow: add "
                f"{tool!r} to writes too (a write is offered when both name it), or remove it",
            )
        if unoffered := sorted(writes - offered_writes - {ALL}):
            tool = unoffered[0]
            raise self.fail(
                self.role_line(name, f'"{tool}"'),
                f"roles.{name}.writes names {tool}, which roles.{name}.tools does not offer: add {tool!r} (or "
                '"*") to tools too',
            )
        return Role(
            name=name,
            tools=reads,
            writes=all_writes & offered_writes,
            calls_per_hour=self.cap(name, body.get("calls_per_hour")),
            lines=self.line_refs(name, body.get("lines")),
        )

    def names(self, role: str, key: str, value: Any, known: frozenset[str]) -> frozenset[str]:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(
                self.role_line(role, key),
                f'roles.{role}.{key} must be a list of tool names in double quotes, e.g. {key} = ["list_calls"] '
                '(or ["*"] for all)',
            )
        for item in value:
            if item == ALL or item in known:
                continue
            if key == "writes" and item in READS:
                problem = f"{item} is not a write; read tools go under tools"
            else:
                close = difflib.get_close_matches(item, sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problem = f"{item!r} is not a tool{hint}. The tools: {', '.join(sorted(known))}"
            raise self.fail(self.role_line(role, f'"{item}"'), f"roles.{role}.{key}: {problem}")
        return frozenset(value)

    def cap(self, role: str, value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(
                self.role_line(role, "calls_per_hour"),
                f"roles.{role}.calls_per_hour must be a whole number of calls (0 or more), e.g. calls_per_hour = 20",
            )
        return value

    def line_refs(self, role: str, value: Any) -> frozenset[str] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(item, (str, int)) for item in value):
            raise self.fail(
                self.role_line(role, "lines"),
                f'roles.{role}.lines must be a list of line names or ids, e.g. lines = ["Sales", 102]',
            )
        return frozenset(str(item) for item in value)

    def grant(self, index: int, body: dict[str, Any], roles: Mapping[str, Role]) -> Grant:
        start = self.header(r"\[\s*grants\s*\]", index)
        unknown = sorted(set(body) - set(GRANT_KEYS))
        if unknown:
            raise self.fail(
                self.within(start, unknown[0]),
                f"grant {index + 1} has the unknown key {unknown[0]!r}; a grant has claim, value and role",
            )
        role = body.get("role")
        if not isinstance(role, str):
            raise self.fail(start, f'grant {index + 1} has no role: add role = "{next(iter(roles))}"')
        if role not in roles:
            raise self.fail(
                self.within(start, "role"),
                f"grant {index + 1} gives the role {role!r}, which is not defined: the roles are "
                f"{', '.join(roles)} (or add a [roles.{role}] table)",
            )
        claim, value = body.get("claim"), body.get("value")
        if (claim is None) != (value is None):
            raise self.fail(
                self.within(start, "claim" if claim is not None else "value"),
                f"grant {index + 1} needs both claim and value (or neither, to give {role!r} to everyone signed in)",
            )
        if claim is not None and (not isinstance(claim, str) or not claim):
            raise self.fail(self.within(start, "claim"), f"grant {index + 1}: claim must be a claim name in quotes")
        if value is not None and not isinstance(value, (str, int, bool)):
            raise self.fail(
                self.within(start, "value"),
                f"grant {index + 1}: value must be one string, number or true/false (one grant per value)",
            )
        return Grant(role=role, claim=claim, value=value)

    def employees(self, value: Any) -> dict[str, int | str]:
        start = self.header(r"\s*employees\s*")
        if not isinstance(value, dict):
            raise self.fail(start, 'employees must be a table: [employees] then "name@company.com" = 12')
        found: dict[str, int | str] = {}
        for email, employee in value.items():
            if "@" not in email or isinstance(employee, bool) or not isinstance(employee, (int, str)):
                raise self.fail(
                    self.within(start, email),
                    f"employees: {email!r} = {employee!r} must be an email address and a SIPSIM employee id, e.g. "
                    '"marie@acme.com" = 12',
                )
            found[email.strip().casefold()] = employee
        return found
