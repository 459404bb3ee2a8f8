"""Names instead of ids: phone lines, tags and employees resolved from what people call them.

A reference is an id, a line's extension, or a name: exact (case- and accent-insensitive) first, then a
unique partial match. Ambiguous and unknown names fail with the candidates listed. Lists are cached
for a few minutes. SIPSIM documents no employee endpoint, so employees are learned from recent calls
(INFERRED: the `employee_id` / `employee_name` fields of calls).
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Generic, TypeVar

from . import endpoints as ep
from .client import SipsimClient
from .errors import SipsimError
from .models import Call, Phone, Tag

T = TypeVar("T")

CACHE_SECONDS = 300.0
EMPLOYEE_SCAN_DAYS = 90
EMPLOYEE_SCAN_CALLS = 5000


class LookupFailed(SipsimError):
    """A name matched nothing, or more than one thing; the message lists the candidates."""


@dataclass(frozen=True)
class Employee:
    id: int
    name: str


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


def line_label(phone: Phone) -> str:
    ext = f", ext. {phone.internal_number}" if phone.internal_number is not None else ""
    return f"{phone.name!r} (id {phone.id}{ext})"


def tag_label(tag: Tag) -> str:
    return f"{tag.name!r} (id {tag.id})"


def employee_label(employee: Employee) -> str:
    return f"{employee.name!r} (id {employee.id})"


class _Cached(Generic[T]):
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._value: list[T] | None = None
        self._at = 0.0

    def get(self) -> list[T] | None:
        if self._value is not None and self._clock() - self._at < CACHE_SECONDS:
            return self._value
        return None

    def put(self, value: list[T]) -> list[T]:
        self._value, self._at = value, self._clock()
        return value

    def clear(self) -> None:
        self._value = None


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
        self._lines: _Cached[Phone] = _Cached(clock)
        self._tags: _Cached[Tag] = _Cached(clock)
        self._employees: _Cached[Employee] = _Cached(clock)

    async def lines(self) -> list[Phone]:
        cached = self._lines.get()
        if cached is None:
            cached = self._lines.put([phone async for phone in self._api.items(ep.LIST_PHONES, Phone)])
        return cached

    async def tags(self) -> list[Tag]:
        cached = self._tags.get()
        if cached is None:
            cached = self._tags.put([tag async for tag in self._api.items(ep.LIST_TAGS, Tag)])
        return cached

    async def employees(self) -> list[Employee]:
        cached = self._employees.get()
        if cached is None:
            seen: dict[int, str] = {}
            since = self._now() - timedelta(days=EMPLOYEE_SCAN_DAYS)
            scanned = 0
            async with aclosing(self._api.pages(ep.LIST_CALLS, params={"start_time": since})) as pages:
                async for page in pages:
                    for raw in page.data or []:
                        call = Call.model_validate(raw)
                        if call.employee_id is not None and call.employee_name:
                            seen.setdefault(call.employee_id, call.employee_name)
                    scanned += len(page.data or [])
                    if scanned >= EMPLOYEE_SCAN_CALLS:
                        break
            cached = self._employees.put([Employee(id, name) for id, name in sorted(seen.items())])
        return cached

    def forget_tags(self) -> None:
        self._tags.clear()

    def forget_lines(self) -> None:
        self._lines.clear()

    async def line(self, ref: str | int) -> Phone:
        """A line by id, extension or name."""
        lines = await self.lines()
        if (number := _as_int(ref)) is not None:
            for phone in lines:
                if phone.id == number or phone.internal_number == number:
                    return phone
        return match(str(ref), lines, lambda p: p.name or "", "line", line_label)

    async def tag(self, ref: str | int) -> Tag:
        """A tag by id or name."""
        tags = await self.tags()
        if (number := _as_int(ref)) is not None:
            for tag in tags:
                if tag.id == number:
                    return tag
        return match(str(ref), tags, lambda t: t.name, "tag", tag_label)

    async def employee(self, ref: str | int) -> Employee:
        """An employee by id or name (known from calls of the last 90 days)."""
        if (number := _as_int(ref)) is not None:
            return Employee(number, str(number))
        return match(str(ref), await self.employees(), lambda e: e.name, "employee", employee_label)


def _as_int(ref: str | int) -> int | None:
    if isinstance(ref, int):
        return ref
    text = ref.strip()
    return int(text) if text.isdigit() else None
