"""Names instead of ids: phone lines, tags and employees resolved from what people call them.

A reference is an id, a line's extension, or a name: exact (case- and accent-insensitive) first, then a
unique partial match. Ambiguous and unknown names fail with the candidates listed. Reads use lists cached
for CACHE_SECONDS (each server process has its own, so a rename reaches them all within that time); a
write resolves its names from lists read anew (`Directory.fresh`), at its preview and again at its
confirmation, so it never acts on a name that points elsewhere now. SIPSIM documents no employee endpoint,
so employees are learned from recent calls (INFERRED: the `employee_id` / `employee_name` fields of calls),
and "me" (a signed-in person) is matched to an employee by the policy's table of addresses or by full name:
the API gives employees no email.
"""

from __future__ import annotations

import copy
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Generic, Literal, TypeVar

from ..api import endpoints as ep
from ..api.client import SipsimClient
from ..api.errors import SipsimError
from ..api.models import Call, Phone, Tag
from .identity import Identity

T = TypeVar("T")

CACHE_SECONDS = 30.0
EMPLOYEE_SCAN_DAYS = 90
EMPLOYEE_SCAN_CALLS = 5000


class LookupFailed(SipsimError):
    """A name matched nothing, or more than one thing; the message lists the candidates."""


@dataclass(frozen=True)
class Employee:
    """An employee; `matched` says how "me" was found to be this one (None for a name or id given)."""

    id: int | str
    name: str
    matched: str | None = None


@dataclass(frozen=True)
class Me:
    """The employee a signed-in person is, and how that was found: `policy` (the administrator's table of
    addresses) or `name` (their name is the full name of exactly one employee: good enough to read "my
    calls", never to act as them)."""

    employee: Employee
    how: Literal["policy", "name"]


def fold(text: str) -> str:
    """Lower-case, accents removed, spaces squeezed: how names are compared."""
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower().split())


def match(ref: str, items: Sequence[T], name: Callable[[T], str], kind: str, label: Callable[[T], str]) -> T:
    """The one item whose name is `ref` exactly, else the one whose name contains it; else LookupFailed."""
    wanted = fold(ref)
    if not wanted:
        raise LookupFailed(f"Give a {kind} name or id.")
    exact = [item for item in items if fold(name(item)) == wanted]
    if len(exact) == 1:
        return exact[0]
    partial = exact or [item for item in items if wanted in fold(name(item))]
    if len(partial) == 1:
        return partial[0]
    if partial:
        listed = "; ".join(label(item) for item in partial[:15])
        raise LookupFailed(f"The {kind} {ref!r} is ambiguous: it matches {listed}. Use the full name or the id.")
    listed = "; ".join(label(item) for item in items[:30]) or "none"
    raise LookupFailed(f"No {kind} matches {ref!r}. The {kind}s are: {listed}.")


QUOTED_MAX = 60


def quoted(text: object) -> str:
    """A name taken from the account (or typed by a model), quoted so that no text in it can change the
    sentence around it: control characters and line breaks become spaces, quotes become typographic
    ones, and it is cut at QUOTED_MAX characters."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in str(text))
    cleaned = " ".join(cleaned.replace("'", "’").replace('"', "”").replace("`", "’").split())
    if len(cleaned) > QUOTED_MAX:
        cleaned = cleaned[: QUOTED_MAX - 1].rstrip() + "…"
    return f"'{cleaned}'"


def line_label(phone: Phone) -> str:
    ext = f", ext. {phone.internal_number}" if phone.internal_number is not None else ""
    return f"{quoted(phone.name or '')} (id {phone.id}{ext})"


def tag_label(tag: Tag) -> str:
    return f"{quoted(tag.name)} (id {tag.id})"


def employee_label(employee: Employee) -> str:
    return f"{quoted(employee.name)} (id {employee.id})"


#: What a person writes for themselves where an employee is asked for ("my calls": employees=["me"]).
ME = frozenset({"me", "myself"})
HOW_MATCHED = {"policy": "you, by your address in the policy", "name": "you, by your full name"}


class _Cached(Generic[T]):
    """A list loaded on demand and kept for `seconds` (or reloaded when asked for fresh); a list it loads
    also refreshes the `shared` one it was made from (see `Directory.fresh`)."""

    def __init__(
        self,
        load: Callable[[], Awaitable[list[T]]],
        clock: Callable[[], float],
        seconds: float = CACHE_SECONDS,
        shared: _Cached[T] | None = None,
    ) -> None:
        self._load = load
        self._clock = clock
        self._seconds = seconds
        self._shared = shared
        self._value: list[T] | None = None
        self._at = 0.0

    async def get(self, fresh: bool = False) -> list[T]:
        if fresh or self._value is None or self._clock() - self._at >= self._seconds:
            self.set(await self._load())
        assert self._value is not None
        return self._value

    def set(self, value: list[T]) -> None:
        self._value, self._at = value, self._clock()
        if self._shared is not None:
            self._shared.set(value)

    def clear(self) -> None:
        self._value = None
        if self._shared is not None:
            self._shared.clear()

    def fresh(self) -> _Cached[T]:
        """A list for one call: loaded anew on first use, then kept for that call."""
        return _Cached(self._load, self._clock, float("inf"), self)


class Directory:
    """Resolves line, tag and employee references against cached lists from the API."""

    def __init__(
        self,
        api: SipsimClient,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._now = now
        self._lines = _Cached(lambda: _collect(api.items(ep.LIST_PHONES, Phone)), clock)
        self._tags = _Cached(lambda: _collect(api.items(ep.LIST_TAGS, Tag)), clock)
        self._employees = _Cached(self._scan_employees, clock)

    def fresh(self) -> Directory:
        """A directory for one write: each list read anew on first use (then kept for that call only), and
        what it reads, or forgets, is this directory's too."""
        view = copy.copy(self)
        view._lines, view._tags = self._lines.fresh(), self._tags.fresh()
        return view

    async def lines(self, fresh: bool = False) -> list[Phone]:
        """Every line (from the cache unless `fresh`)."""
        return await self._lines.get(fresh)

    async def tags(self, fresh: bool = False) -> list[Tag]:
        """Every tag (from the cache unless `fresh`)."""
        return await self._tags.get(fresh)

    async def employees(self) -> list[Employee]:
        """Employees seen on the calls of the last EMPLOYEE_SCAN_DAYS days."""
        return await self._employees.get()

    async def _scan_employees(self) -> list[Employee]:
        seen: dict[int | str, str] = {}
        since = self._now() - timedelta(days=EMPLOYEE_SCAN_DAYS)
        scanned = 0
        async with aclosing(self._api.pages(ep.LIST_CALLS, params={"start_time": since})) as pages:
            async for page in pages:
                for index, raw in enumerate(page.items()):
                    try:
                        call = page.read(Call, raw, f"data.{index}")
                    except SipsimError:
                        continue
                    if call.employee_id is not None and call.employee_name:
                        seen.setdefault(call.employee_id, call.employee_name)
                scanned += len(page.items())
                if scanned >= EMPLOYEE_SCAN_CALLS:
                    break
        return [Employee(id, name) for id, name in sorted(seen.items(), key=lambda item: str(item[0]))]

    def forget_tags(self) -> None:
        self._tags.clear()

    def forget_lines(self) -> None:
        self._lines.clear()

    async def line(self, ref: str | int) -> Phone:
        """A line by id, extension or name."""
        lines = await self.lines()
        if (phone := _by_id(lines, ref)) is not None:
            return phone
        if (number := _as_int(ref)) is not None:
            for phone in lines:
                if phone.internal_number == number:
                    return phone
        return match(str(ref), lines, lambda p: p.name or "", "line", line_label)

    async def tag(self, ref: str | int) -> Tag:
        """A tag by id or name."""
        tags = await self.tags()
        if (tag := _by_id(tags, ref)) is not None:
            return tag
        return match(str(ref), tags, lambda t: t.name, "tag", tag_label)

    async def employee(self, ref: str | int, person: Identity | None = None) -> Employee:
        """An employee by id or name (known from calls of the last 90 days); "me" is `person`, the signed-in
        person asking (see `me`)."""
        if isinstance(ref, str) and fold(ref) in ME:
            if person is None:
                raise LookupFailed(
                    f"{quoted(ref)} stands for the person signed in to this server, and this connection has none "
                    "(stdio, or one token shared by everyone): name the employee (name or id) instead."
                )
            found = await self.me(person, person.employee)
            return Employee(found.employee.id, found.employee.name, HOW_MATCHED[found.how])
        if (number := _as_int(ref)) is not None:
            return Employee(number, str(number))
        known = await self.employees()
        for employee in known:
            if str(employee.id) == str(ref).strip():
                return employee
        return match(str(ref), known, lambda e: e.name, "employee", employee_label)

    async def me(self, person: Identity, mapped: int | str | None = None) -> Me:
        """The employee `person` is, for "me" and "my calls". SIPSIM's API gives no employee an email (calls
        name their employee by id and name only), so the address is matched through `mapped` (the policy's
        [employees] entry for it), else the person's full name is matched exactly to one employee on recent
        calls; else LookupFailed says so and how to fix it."""
        known = await self.employees()
        if mapped is not None:
            seen = next((e for e in known if str(e.id) == str(mapped)), None)
            return Me(seen or Employee(mapped, person.name or f"employee {mapped}"), "policy")
        named = [e for e in known if person.name and fold(e.name) == fold(person.name)]
        if len(named) == 1:
            return Me(named[0], "name")
        who = " ".join(part for part in (person.email or person.subject, person.name and quoted(person.name)) if part)
        if named:
            listed = "; ".join(employee_label(e) for e in named)
            found = f"several employees have the name {quoted(person.name or '')}: {listed}"
        else:
            found = "your name is not the full name of an employee on the calls of the last 90 days"
        raise LookupFailed(
            f"Cannot tell which SIPSIM employee you ({who}) are: SIPSIM's API gives employees no email address, "
            f"and {found}. Name the employee (name or id) instead, or ask your administrator to add your address "
            "with your employee id under [employees] in the policy file (SIPSIM_POLICY)."
        )


async def _collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


def _by_id(items: Sequence[T], ref: str | int) -> T | None:
    """The item whose id is `ref`; digits also match a prefixed string id (6 is tag_6) when only one does."""
    wanted = str(ref).strip()
    exact = [item for item in items if str(item.id) == wanted]  # type: ignore[attr-defined]
    if exact or not wanted.isdigit():
        return exact[0] if exact else None
    suffixed = [item for item in items if str(item.id).endswith(f"_{wanted}")]  # type: ignore[attr-defined]
    return suffixed[0] if len(suffixed) == 1 else None


def _as_int(ref: str | int) -> int | None:
    if isinstance(ref, int):
        return ref
    text = ref.strip()
    return int(text) if text.isdigit() else None
