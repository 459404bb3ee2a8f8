"""The MCP server: the tools the configuration allows, resources, prompts and instructions, on the SDK's
low-level `Server` (each handler registered by its public `on_*` name)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache

import anyio
from mcp.server import Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.types import ListToolsResult
from pydantic import BaseModel, SecretStr
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..api.client import SipsimClient
from ..api.config import ConfigError, Settings
from ..language.callers import CallerNames
from ..language.directory import Directory
from ..language.live import LiveFeed
from ..tools.base import Runtime, ToolSpec
from ..tools.inventory import TOOLS, TOOLS_BY_NAME
from ..tools.views import apps_extension
from .gate import WriteGate
from .live import LiveUpdates, open_feed
from .permitted import Permitted
from .policy import Policy
from .prompts import Prompts
from .redaction import RedactAnswers
from .register import ToolRuntime, build_tools
from .resources import Resources
from .schemas import Schema, lean_output

NAME = "sipsim"
INSTRUCTIONS = """\
Tools for one SIPSIM telephony account: call history, phone lines, tags, click-to-call.
- Time windows: since/until accept today, yesterday, this_week, last_week, this_month, last_month, \
last_N_days, 24h/7d/2w or ISO dates, read in the time zone of the timezone argument (default: the \
server's). Every answer echoes the exact window; quote it.
- Count and rank with summarize_calls (totals, rates, group_by, top callers): it scans on the server. \
list_calls returns 20 rows a page; continue with page= only when the rows themselves are needed.
- Lines, tags and employees can be given by name ('Sales', 'VIP'); phone numbers in any common form.
- Writes change the account and start_call rings a real phone: the user confirms each one, either in a \
prompt from the client or, when a preview with a confirmation_code comes back, after you show them the \
preview. Never invent or reuse a code, and never confirm on the user's behalf.
- An error says what was wrong and what to do next; follow it rather than retrying blindly."""
LIVE_INSTRUCTIONS = """
- Live calls come from SIPSIM's webhooks: recent_call_events (or the resource sipsim://calls/live) says \
who is calling right now; to be told when someone calls, pass wait_s."""


def availability(settings: Settings) -> dict[str, str | None]:
    """For each tool: None when it is offered, otherwise why not."""
    unknown = sorted((settings.tools or frozenset()) - TOOLS_BY_NAME.keys())
    if unknown:
        raise ConfigError(
            f"SIPSIM_TOOLS names unknown tools: {', '.join(unknown)}. Known tools: {', '.join(TOOLS_BY_NAME)}."
        )
    reasons: dict[str, str | None] = {}
    for spec in TOOLS:
        missing = spec.missing_scopes(settings.scopes)
        if missing:
            reasons[spec.name] = f"needs the scope {', '.join(missing)}, which is not in SIPSIM_SCOPES"
        elif spec.write and settings.read_only:
            reasons[spec.name] = "a write tool, hidden because SIPSIM_READ_ONLY is set"
        elif spec.receiver and not settings.webhook_secrets:
            reasons[spec.name] = (
                "about live calls, which need the webhook receiver: set SIPSIM_WEBHOOK_SECRET (the receiver runs "
                "on the HTTP transport, or as `sipsim-mcp receive` beside a stdio server)"
            )
        elif settings.tools and spec.name not in settings.tools:
            reasons[spec.name] = "not listed in SIPSIM_TOOLS"
        else:
            reasons[spec.name] = None
    return reasons


class SipsimServer(Server):
    """The low-level SDK server with this project's handlers: `tools` (the tool runtime), `resources`,
    `prompts` and the `live` updates of the live resources (the subscriptions of both protocol eras); its
    write gate is `gate`."""

    def __init__(
        self,
        *,
        tools: ToolRuntime,
        resources: Resources,
        prompts: Prompts,
        live: LiveUpdates,
        instructions: str,
        security: RequestStateSecurity,
    ) -> None:
        on = live.feed is not None  # resources/subscribe only where something can change
        super().__init__(
            NAME,
            version=__version__,
            title="SIPSIM",
            description="Call history, phone lines, tags and click-to-call for a SIPSIM telephony account.",
            instructions=instructions,
            website_url="https://app.sipsim.com/devs/docs",
            get_tool_input_schema=tools.input_schema,
            on_list_tools=tools.list_tools,
            on_call_tool=tools.call_tool,
            on_list_resources=resources.list_resources,
            on_list_resource_templates=resources.list_templates,
            on_read_resource=resources.read_resource,
            on_list_prompts=prompts.list_prompts,
            on_get_prompt=prompts.get_prompt,
            on_completion=prompts.complete,
            on_subscriptions_listen=ListenHandler(live.bus),
            on_subscribe_resource=live.subscribe if on else None,
            on_unsubscribe_resource=live.unsubscribe if on else None,
            lifespan=live.lifespan,
        )
        self.tools = tools
        self.live = live
        self.gate = tools.gate
        self.extensions.update(resources.extensions)
        # Seals and checks the requestState of 2026-07-28 confirmation forms (expiry, request, audience).
        self.middleware.append(RequestStateBoundary(security, default_audience=NAME))
        self.middleware.append(Permitted(tools.caller))  # a signed-in person reads what their tools show
        self.middleware.append(RedactAnswers())  # no secret SIPSIM echoed in any answer

    def serve_stdio(self) -> None:
        """Serve on stdin/stdout until the client closes them."""

        async def serve() -> None:
            async with stdio_server() as (read, write):
                await self.run(read, write, self.create_initialization_options())

        anyio.run(serve)


def build_server(
    settings: Settings,
    *,
    api: SipsimClient | None = None,
    now: Callable[[], datetime] | None = None,
    setup_problem: str | None = None,
    policy: Policy | None = None,
    live: LiveFeed | None = None,
) -> SipsimServer:
    """The server for `settings`: only the tools its scopes, read-only mode and tool list allow, and to a
    person signed in with team sign-in only what `policy` gives them. `setup_problem` makes the setup server
    (see `build_setup_server`). `live`: the feed of the event log the webhook receiver writes (by default
    opened from `settings` when a signing secret is set)."""
    reasons = availability(settings)
    api = api or SipsimClient(settings)
    clock = now or settings.clock()
    if live is None and setup_problem is None:
        live = open_feed(settings, clock)
    runtime = Runtime(
        settings=settings,
        api=api,
        directory=Directory(api, now=clock),
        now=clock,
        live=live,
        callers=CallerNames(api, clock) if live is not None else None,
    )
    gate = WriteGate.configured(settings)
    specs = enabled_tools(reasons)
    tools = ToolRuntime(
        tools={spec.name: spec for spec in specs},
        listed=ListToolsResult(tools=build_tools(specs, gate.mode == "preview", output_schemas(specs))),
        runtime=runtime,
        gate=gate,
        unavailable={name: reason for name, reason in reasons.items() if reason},
        setup_problem=setup_problem,
        policy=policy,
    )
    views = sorted({spec.view for spec in specs if spec.view})
    return SipsimServer(
        tools=tools,
        resources=Resources(runtime if setup_problem is None else None, apps_extension(views) if views else None),
        prompts=Prompts(runtime if setup_problem is None else None),
        live=LiveUpdates(live, InMemorySubscriptionBus()),
        instructions=f"NOT SET UP: {setup_problem}\n\n{INSTRUCTIONS}"
        if setup_problem
        else INSTRUCTIONS + (LIVE_INSTRUCTIONS if live is not None else ""),
        security=RequestStateSecurity(codec=gate.form_codec),
    )


def output_schemas(specs: list[ToolSpec]) -> dict[type[BaseModel], Schema]:
    """The published output schemas of the tools' result models (answers are built from the models, so valid
    by construction; clients validate them against these)."""
    return _output_schemas(tuple(dict.fromkeys(spec.result_model for spec in specs)))


@cache
def _output_schemas(models: tuple[type[BaseModel], ...]) -> dict[type[BaseModel], Schema]:
    refs, shared = models_json_schema([(model, "validation") for model in models])
    return {model: lean_output({**refs[model, "validation"], **shared}) for model in models}


def build_setup_server(problem: str, settings: Settings | None = None) -> SipsimServer:
    """The server when SIPSIM cannot be used yet (no credentials, or a configuration error): it completes
    the MCP handshake and lists the tools `settings` allow (the defaults' when unusable), and every tool
    call answers `problem`, the fix. Hosts show tool results; they do not show the server's stderr."""
    if settings is not None:
        try:
            availability(settings)
        except ConfigError:
            settings = None
    usable = settings if settings is not None else Settings.model_construct()  # the defaults, unvalidated
    # The API client and the clock are never used (every call answers `problem`); the client needs credentials.
    unused = usable.model_copy(update={"client_id": "unset", "client_secret": SecretStr("unset"), "now": None})
    return build_server(unused, setup_problem=problem)


def enabled_tools(reasons: dict[str, str | None]) -> list[ToolSpec]:
    return [spec for spec in TOOLS if reasons[spec.name] is None]
