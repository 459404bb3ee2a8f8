"""Filtering and scanning call history: the filters people use, turned into API queries plus the few
checks SIPSIM cannot do itself (by line, by exact number), and a resumable scan over keyset pages."""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, NamedTuple, TypeVar

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from pydantic import Field

from ..api import endpoints as ep
from ..api.client import ApiResponse
from ..api.errors import ResponseShapeError, SipsimError, UserError
from ..api.models import Call, CallFacts, Tag
from ..api.numbers import normalize_number, number_key
from ..api.shaping import Compact
from ..language.directory import line_label
from ..language.windows import TimeWindow
from .base import ToolContext
from .fields import CallType, EmployeeRef, LineRef, PhoneNumber, Since, TagRef, ToolInput, Until, Zone


class CallFilters(ToolInput):
    """Which calls: a time window and optional filters (names or ids are both fine)."""

    since: Since = None
    until: Until = None
    timezone: Zone = None
    call_types: list[CallType] | None = Field(
        None, description="Only these kinds: inbound (answered), outgoing, missed, voicemail"
    )
    line: LineRef | None = None
    employees: list[EmployeeRef] | None = Field(
        None, max_length=20, description='Only calls handled by these employees (names, ids; "me" when signed in)'
    )
    tags: list[TagRef] | None = Field(
        None, max_length=20, description="Only calls carrying any of these tags (names or ids)"
    )
    number: PhoneNumber | None = Field(None, description="Only calls from or to this phone number")
    search: str | None = Field(
        None,
        min_length=2,
        max_length=100,
        description="Free text SIPSIM matches against numbers and caller names",
    )


class AppliedFilters(Compact):
    """The filters as resolved (names to ids), echoed so the user sees what was matched."""

    call_types: list[str] | None = None
    line: str | None = None
    employees: list[str] | None = None
    tags: list[str] | None = None
    number: str | None = None
    search: str | None = None


@dataclass
class CallQuery:
    """Resolved filters: the API query, the local checks, and what to echo."""

    window: TimeWindow
    params: dict[str, Any]
    applied: AppliedFilters
    line_id: int | str | None = None
    line_name: str | None = None
    number: str | None = None
    unmatched: Counter[str] = field(default_factory=Counter)  # calls a local check could not tell, by field

    @property
    def local(self) -> bool:
        return self.line_id is not None or self.number is not None

    def keep(self, call: CallFacts) -> bool:
        if self.line_id is not None:
            if call.phone_id is not None:
                if str(call.phone_id) != str(self.line_id):
                    return False
            elif call.phone_name is not None and self.line_name is not None:
                if call.phone_name.casefold() != self.line_name.casefold():
                    return False
            else:
                self.unmatched["phone_id"] += 1
                return False
        if self.number is None:
            return True
        if call.caller_number is None and call.receiver_number is None:
            self.unmatched["caller_number and receiver_number"] += 1
            return False
        return number_key(self.number) in (number_key(call.caller_number), number_key(call.receiver_number))

    def unmatched_note(self, scanned: int) -> str | None:
        """Which calls could not be checked against the line or number filter (so may be missing)."""
        if not self.unmatched:
            return None
        parts = [f"{where} missing on {count} of {scanned} calls" for where, count in self.unmatched.items()]
        return f"{'; '.join(parts)}: those calls could not be matched to the filter and are left out."


async def resolve_filters(ctx: ToolContext, filters: CallFilters, window: TimeWindow) -> CallQuery:
    """Turn names into ids and numbers into E.164; fails (before any call search) on an unknown name."""
    applied = AppliedFilters(call_types=filters.call_types, search=filters.search)
    params: dict[str, Any] = {
        "start_time": window.api_params()["start_time"],
        "end_time": window.api_params()["end_time"],
        "call_types": filters.call_types,
        "search": filters.search,
    }
    query = CallQuery(window=window, params=params, applied=applied)
    if filters.line is not None:
        line = await ctx.directory.line(filters.line)
        query.line_id, query.line_name = line.id, line.name
        applied.line = line_label(line)
    if filters.employees:
        people = [await ctx.directory.employee(ref, ctx.person) for ref in filters.employees]
        params["employees"] = [person.id for person in people]
        applied.employees = [f"{p.name} (id {p.id}{f': {p.matched}' if p.matched else ''})" for p in people]
    if filters.tags:
        tags = [await ctx.directory.tag(ref) for ref in filters.tags]
        params["tags"] = [tag.id for tag in tags]
        applied.tags = [f"{tag.name} (id {tag.id})" for tag in tags]
    if filters.number is not None:
        number = normalize_number(filters.number, ctx.settings.default_region)
        query.number = applied.number = number
        params["search"] = params["search"] or number
    return query


class TagNames:
    """The names of a call's tags. Calls may carry tags as objects, names or bare ids (INFERRED); a bare
    string may be either (`tag_5`). Names for ids come from the tag list, loaded once and only when a call
    carries a tag without both its id and name."""

    NONE: TagNames

    def __init__(self, ctx: ToolContext | None) -> None:
        self._ctx = ctx
        self._names: dict[str, str] | None = None  # tag id -> name
        self._known: set[str] = set()  # every tag name

    async def prepare(self, found: CallFacts) -> None:
        if self._names is not None or self._ctx is None:
            return
        if any(tag.name is None or tag.id is None for tag in found.tags):
            try:
                self._learn(await self._ctx.directory.tags())
            except SipsimError:  # no tags.read: the ids are shown as they are
                self._names = {}

    def _learn(self, tags: list[Tag]) -> None:
        self._names = {str(tag.id): tag.name for tag in tags}
        self._known = {tag.name for tag in tags}

    @classmethod
    def known(cls, tags: list[Tag]) -> TagNames:
        """Names from a tag list already at hand."""
        names = cls(None)
        names._learn(tags)
        return names

    def of(self, found: CallFacts) -> list[str]:
        names = self._names or {}
        shown = []
        for tag in found.tags:
            if tag.name is None:
                shown.append(names.get(str(tag.id), f"tag {tag.id}"))
            elif tag.id is None and tag.name not in self._known and tag.name in names:
                shown.append(names[tag.name])  # a bare string that is an id
            else:
                shown.append(tag.name)
        return shown


TagNames.NONE = TagNames(None)


class Position(NamedTuple):
    """Where a scan stands: the API page token that fetched a page, and a row of that page (counted from 0)."""

    page: str | None = None
    row: int = 0


class PageTokenError(UserError, ValueError):
    """A `page` argument this server did not issue."""


class Cursor(Compact):
    """What a `page` token of ours carries: the position and the exact window of the first request."""

    p: str | None = None
    s: int = 0
    a: int
    b: int

    def encode(self) -> str:
        return base64.urlsafe_b64encode(self.model_dump_json(exclude_none=True).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            return cls.model_validate(json.loads(raw))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise PageTokenError(
                "The page token is not one this server gave out. Drop page= to start from the newest calls."
            ) from None

    @property
    def position(self) -> Position:
        return Position(self.p, self.s)

    def window_bounds(self) -> tuple[datetime, datetime]:
        return datetime.fromtimestamp(self.a, timezone.utc), datetime.fromtimestamp(self.b, timezone.utc)


def cursor_for(window: TimeWindow, position: Position) -> str:
    return Cursor(
        p=position.page, s=position.row, a=int(window.since.timestamp()), b=int(window.until.timestamp())
    ).encode()


class Ahead:
    """A page fetched in the background; its result (or error) is taken where the page is needed."""

    def __init__(self, group: TaskGroup, fetch: Callable[[str], Awaitable[ApiResponse]], token: str) -> None:
        self._done = anyio.Event()
        self._scope = anyio.CancelScope()
        self._response: ApiResponse | None = None
        self._error: Exception | None = None
        group.start_soon(self._run, fetch, token)

    async def _run(self, fetch: Callable[[str], Awaitable[ApiResponse]], token: str) -> None:
        with self._scope:
            try:
                self._response = await fetch(token)
            except Exception as exc:
                self._error = exc
            finally:
                self._done.set()

    async def result(self) -> ApiResponse:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response

    def cancel(self) -> None:
        self._scope.cancel()


Read = TypeVar("Read", bound=CallFacts)


@dataclass
class Scan(Generic[Read]):
    """Walks the calls of a query from a position, newest first, yielding the ones that pass the local checks,
    each read as `model` (`CallFacts` reads only what counts need)."""

    ctx: ToolContext
    query: CallQuery
    model: type[Read] = Call  # type: ignore[assignment]
    start: Position = field(default_factory=Position)
    max_scanned: int = 10_000
    page_size: int = 1000
    scanned: int = 0
    exhausted: bool = False
    uncertain: bool = False  # SIPSIM gave no way to the next page although one may exist
    unreadable: int = 0  # calls left out because not even their id could be read
    resume: Position | None = None  # where to continue when the scan stopped at max_scanned
    on_page: Callable[[int, datetime | None], Awaitable[None]] | None = None  # (scanned so far, oldest call seen)
    _group: TaskGroup | None = field(default=None, init=False, repr=False)

    async def calls(self) -> AsyncGenerator[tuple[Position, Read], None]:
        token, skip = self.start.page, self.start.row
        response = await self._fetch(token)
        ahead: Ahead | None = None
        try:
            while True:
                items = response.items()
                following, uncertain = response.next_page(self.page_size, token)
                more = self.scanned + len(items) - skip < self.max_scanned  # the scan goes on past this page
                if self._group is not None and following is not None and more:
                    ahead = Ahead(self._group, self._fetch, following)
                oldest: datetime | None = None
                model, local = self.model, self.query.local
                for index in range(skip, len(items)):
                    if self.scanned >= self.max_scanned:
                        self.resume = Position(token, index)
                        return
                    if ahead is not None and index % 100 == 0:
                        await anyio.lowlevel.checkpoint()  # lets the next page's request go out
                    self.scanned += 1
                    call = items[index]
                    if type(call) is not model:  # the page was not read whole: this item is read on its own
                        try:
                            call = response.read(model, call, f"data.{index}")
                        except ResponseShapeError:
                            self.unreadable += 1
                            continue
                    oldest = call.start_time or oldest
                    if not local or self.query.keep(call):
                        yield Position(token, index), call
                if self.on_page is not None:
                    await self.on_page(self.scanned, oldest)
                self.uncertain = uncertain
                if following is None:
                    self.exhausted = True
                    return
                token, skip = following, 0
                response = await ahead.result() if ahead is not None else await self._fetch(token)
                ahead = None
        finally:
            if ahead is not None:
                ahead.cancel()

    async def _fetch(self, token: str | None) -> ApiResponse:
        params = {**self.query.params, "limit": self.page_size, "page": token}
        return await self.ctx.api.request(ep.LIST_CALLS, params=params, items=self.model)

    @asynccontextmanager
    async def reading_ahead(self) -> AsyncIterator[None]:
        """While open, `calls()` fetches the next page while the current one is read (one page ahead); an
        error fetching it is raised where it would have been without reading ahead."""
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            self._group = group
            try:
                yield
            except Exception as exc:  # raised as it is, not in a task group's ExceptionGroup
                failure = exc
                group.cancel_scope.cancel()
            finally:
                self._group = None
        if failure is not None:
            raise failure

    def notes(self) -> list[str]:
        """What the caller should know about how far the calls could be read."""
        notes = []
        if self.uncertain:
            notes.append(
                f"SIPSIM returned a full page of {self.page_size} calls without a next-page token: there may be "
                "more calls than were read. Narrow the window to be sure."
            )
        if self.unreadable:
            notes.append(f"{self.unreadable} of {self.scanned} calls could not be read at all and are left out.")
        if note := self.query.unmatched_note(self.scanned):
            notes.append(note)
        return notes
