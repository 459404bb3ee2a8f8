"""The shape of a tool: its declaration (`@tool`), the context a handler runs in, and write plans/results."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar, cast, get_args
from zoneinfo import ZoneInfo

from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field, WithJsonSchema

from ..api.client import ApiResponse, SipsimClient
from ..api.config import Settings
from ..api.endpoints import Endpoint
from ..api.shaping import Compact
from ..language.callers import CallerNames
from ..language.directory import Directory
from ..language.identity import Identity
from ..language.live import LiveFeed
from ..language.windows import TimeWindow, parse_timezone, resolve_window

T = TypeVar("T", bound=BaseModel)

#: Reports progress to the client that called (done, total, message); a no-op when it did not ask for it.
Progress = Callable[[float, float | None, str | None], Awaitable[None]]


@dataclass
class Runtime:
    """What every tool call shares: settings, the API client, the name directory and the clock; with the
    webhook receiver configured, the live calls its events tell (`live`) and callers' names (`callers`)."""

    settings: Settings
    api: SipsimClient
    directory: Directory
    now: Callable[[], datetime]
    live: LiveFeed | None = None
    callers: CallerNames | None = None


@dataclass
class ToolContext:
    """The context one handler runs in; `person`: who asks, when signed in (team sign-in over HTTP)."""

    runtime: Runtime
    report: Progress | None = None
    person: Identity | None = None

    @property
    def api(self) -> SipsimClient:
        return self.runtime.api

    @property
    def directory(self) -> Directory:
        return self.runtime.directory

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def resolving_anew(self) -> ToolContext:
        """This context with names resolved from lists read anew (a write's, at each call)."""
        return replace(self, runtime=replace(self.runtime, directory=self.runtime.directory.fresh()))

    def zone(self, name: str | None) -> ZoneInfo:
        return parse_timezone(name, default=self.settings.timezone)

    def window(self, since: str | None, until: str | None, zone: str | None, default: str) -> TimeWindow:
        return resolve_window(since, until, tz=self.zone(zone), now=self.runtime.now(), default=default)

    async def progress(self, done: float, total: float, message: str) -> None:
        if self.report is not None:
            await self.report(done, total, message)


@dataclass(frozen=True)
class WritePlan:
    """What a write tool will send to its declared endpoint (path parameters, body), and the sentence a user
    confirms. The endpoint is the tool's own, never the plan's: the request previewed is the request sent."""

    summary: str  # what will happen, as a short imperative phrase without a full stop
    finish: Callable[[ApiResponse], BaseModel]  # SIPSIM's answer, decoded into the tool's result
    path_params: Mapping[str, object] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    dedupe_key: str | None = None
    detail: str = ""  # consequences worth knowing, one or two sentences

    @property
    def question(self) -> str:
        """What the user is asked."""
        return f"{self.summary}? {self.detail}".strip()

    @property
    def statement(self) -> str:
        return f"{self.summary}. {self.detail}".strip()


class PlannedRequest(Compact):
    method: str
    path: str = Field(description="Under the API base URL")
    body: dict[str, Any] | None = None


#: What became of a write, as a write tool's result, the audit log and the write gate name it.
Answered = Literal["done", "preview", "declined", "cancelled", "duplicate"]  # a tool's result says these
Unanswered = Literal["refused", "failed", "unknown", "sending"]  # its error says the first three
Outcome = Literal[Answered, Unanswered]
OUTCOMES: dict[str, str] = {
    "done": "SIPSIM made the change",
    "preview": "nothing was done yet (see message)",
    "declined": "the user said no; nothing was done",
    "cancelled": "the user dismissed the question; nothing was done",
    "duplicate": "an identical request was just made; its result is returned and nothing was sent again",
    "refused": "not sent: the confirmation did not hold, or the state store or audit log could not be used",
    "failed": "SIPSIM refused the request; nothing was done",
    "unknown": "sent, and whether SIPSIM made the change is not known",
    "sending": "about to be sent (the audit log's line written before the request leaves)",
}


class WriteResult(Compact, Generic[T]):
    """What a write tool returns: whether it acted, and if so SIPSIM's answer."""

    outcome: Answered = Field(description=". ".join(f"{name}: {OUTCOMES[name]}" for name in get_args(Answered)))
    message: str = Field(description="What happened, and what to do next")
    request: Annotated[PlannedRequest | None, WithJsonSchema({"type": "object"})] = Field(
        None, description="The exact API request (previews)"
    )
    confirmation_code: str | None = Field(
        None, description="Pass back as confirmation_code, with identical arguments, once the user agrees"
    )
    expires_at: datetime | None = None
    result: T | None = None
    returned: Any = Field(None, description="SIPSIM's answer as it came, when it could not be read as result")
    note: str | None = None
    request_id: str | None = Field(None, description="SIPSIM's request id, for support")


ReadHandler = Callable[[ToolContext, Any], Awaitable[BaseModel]]
PlanHandler = Callable[[ToolContext, Any], Awaitable[WritePlan]]


@dataclass(frozen=True)
class ToolSpec:
    """One tool, as declared beside its handler: everything the server needs to list, guard and run it."""

    name: str
    title: str
    endpoint: Endpoint
    input: type[BaseModel]
    output: type[BaseModel]
    handler: ReadHandler | PlanHandler
    write: bool = False
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False
    also_needs: tuple[str, ...] = ()  # scopes needed besides the endpoint's (names resolved, current state read)
    hints: Mapping[int, str] = field(default_factory=dict)
    view: str | None = None  # the ui:// resource (MCP Apps) that draws the result, in hosts that render apps
    receiver: bool = False  # reads the events of the webhook receiver, so offered only when it is configured

    @property
    def description(self) -> str:
        return inspect.cleandoc(self.handler.__doc__ or "")

    @property
    def result_model(self) -> type[BaseModel]:
        return WriteResult[self.output] if self.write else self.output  # type: ignore[name-defined]

    @property
    def annotations(self) -> ToolAnnotations:
        if not self.write:
            return ToolAnnotations(read_only_hint=True, open_world_hint=self.open_world)
        return ToolAnnotations(
            read_only_hint=False,
            destructive_hint=self.destructive,
            idempotent_hint=self.idempotent,
            open_world_hint=self.open_world,
        )

    def missing_scopes(self, configured: frozenset[str]) -> list[str]:
        """What SIPSIM_SCOPES lacks for this tool (empty when it can be offered)."""
        lacks = self.endpoint.scopes and self.endpoint.scope_for(configured) is None
        missing = [" or ".join(self.endpoint.scopes)] if lacks else []
        return missing + [scope for scope in self.also_needs if scope not in configured]


def tool(
    *,
    name: str,
    title: str,
    endpoint: Endpoint,
    input: type[BaseModel],
    output: type[BaseModel],
    write: bool = False,
    destructive: bool | None = None,
    idempotent: bool | None = None,
    open_world: bool = False,
    also_needs: tuple[str, ...] = (),
    hints: Mapping[int, str] | None = None,
    view: str | None = None,
    receiver: bool = False,
) -> Callable[[ReadHandler | PlanHandler], ToolSpec]:
    """Declare the handler below as a tool; its docstring is the description a model reads.

    A write tool's handler returns the `WritePlan` for `endpoint` (its names resolved from lists read anew),
    and says whether it is `destructive` and `idempotent`. `also_needs`: scopes its name lookups need besides
    the endpoint's. `hints`: the next step a model reads after SIPSIM answers with that HTTP status. `view`:
    the MCP App resource that draws it. `receiver`: it reads what the webhook receiver stored (its endpoint
    needs no scope).
    """
    if write and (destructive is None or idempotent is None):
        raise TypeError(f"The write tool {name} must say whether it is destructive and idempotent")

    def declare(handler: ReadHandler | PlanHandler) -> ToolSpec:
        return ToolSpec(
            name=name,
            title=title,
            endpoint=endpoint,
            input=input,
            output=output,
            handler=_names_anew(cast(PlanHandler, handler)) if write else handler,
            write=write,
            destructive=bool(destructive),
            idempotent=True if idempotent is None else idempotent,
            open_world=open_world,
            also_needs=also_needs,
            hints=hints or {},
            view=view,
            receiver=receiver,
        )

    return declare


def _names_anew(handler: PlanHandler) -> PlanHandler:
    """A write's handler that resolves names from lists read anew: its preview, and its confirmation (which
    plans again and sends only the request the preview showed), see what the account holds now."""

    @functools.wraps(handler)
    async def plan(ctx: ToolContext, args: Any) -> WritePlan:
        return await handler(ctx.resolving_anew(), args)

    return plan
