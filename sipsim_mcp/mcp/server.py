"""The MCP server: the tools the configuration allows, resources, prompts and instructions."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.request_state import AESGCMRequestStateCodec, RequestStateSecurity
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..api.client import SipsimClient
from ..api.config import ConfigError, Settings
from ..api.redact import REDACTOR
from ..language.directory import Directory
from ..tools.base import Runtime, ToolSpec
from ..tools.inventory import TOOLS, TOOLS_BY_NAME
from ..tools.views import apps_extension
from .confirm import AuditLog, ConfirmationCodes, SharedSecrets
from .gate import ROUND_TRIP, WriteGate
from .prompts import register_prompts
from .register import CODE_FIELD, format_validation, make_tool
from .resources import register_resources
from .schemas import lean_input, lean_output
from .state import open_store

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


class SharedCodec:
    """Seals the 2026-07-28 `requestState` of confirmation forms under a key every replica shares
    (derived from SIPSIM_CONFIRM_KEY, or kept in the state store), so a form answered on one replica
    completes on any other. The key is fetched on first use."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key
        self._codec: AESGCMRequestStateCodec | None = None

    def _inner(self) -> AESGCMRequestStateCodec:
        if self._codec is None:
            self._codec = AESGCMRequestStateCodec([self._key()])
        return self._codec

    def seal(self, payload: bytes) -> str:
        return self._inner().seal(payload)

    def unseal(self, token: str) -> bytes:
        payload = self._inner().unseal(token)
        ROUND_TRIP.set(hashlib.sha256(token.encode()).hexdigest()[:32])
        return payload


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
        elif settings.tools and spec.name not in settings.tools:
            reasons[spec.name] = "not listed in SIPSIM_TOOLS"
        else:
            reasons[spec.name] = None
    return reasons


class SipsimServer(MCPServer):
    """MCPServer that explains unavailable tools and words the input model's refusal of arguments for a model
    (the SDK prefixes its own text to it). With a `setup_problem`, every tool call answers that problem (the
    fix) instead."""

    def __init__(
        self,
        *args: Any,
        unavailable: dict[str, str],
        gate: WriteGate,
        setup_problem: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.unavailable = unavailable
        self.gate = gate
        self.setup_problem = setup_problem

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context | None = None
    ) -> CallToolResult | InputRequiredResult:
        if self.setup_problem:
            raise ToolError(self.setup_problem)
        if name in self.unavailable:
            raise ToolError(f"The tool {name} is not available on this server: it is {self.unavailable[name]}.")
        spec = TOOLS_BY_NAME.get(name)
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            # Only the SDK's own check of the arguments is about them; a crash is never "invalid arguments".
            own = not isinstance(exc, UnexpectedToolError)
            if spec is not None and own and isinstance(exc.__cause__, ValidationError):
                also = (CODE_FIELD,) if spec.write else ()
                problem = format_validation(name, exc.__cause__, spec.input.model_fields, also)
                raise ToolError(problem) from exc.__cause__
            scrubbed = REDACTOR.scrub(str(exc))  # SIPSIM may echo a token in an error text
            if scrubbed != str(exc):
                raise ToolError(scrubbed) from None
            raise


def build_server(
    settings: Settings,
    *,
    api: SipsimClient | None = None,
    now: Callable[[], datetime] | None = None,
    setup_problem: str | None = None,
    **server_options: Any,
) -> SipsimServer:
    """The server for `settings`: only the tools its scopes, read-only mode and tool list allow.

    `server_options` go to MCPServer (the HTTP transport passes its token verifier and auth settings).
    `setup_problem` makes the setup server (see `build_setup_server`).
    """
    reasons = availability(settings)
    api = api or SipsimClient(settings)
    clock = now or settings.clock()
    runtime = Runtime(settings=settings, api=api, directory=Directory(api, now=clock), now=clock)
    store = open_store(settings.state_url)
    shared = SharedSecrets(settings.confirm_key.get_secret_value() if settings.confirm_key else None, store)
    gate = WriteGate(
        store=store,
        codes=ConfirmationCodes(lambda: shared.key("confirmation codes")),
        audit=AuditLog(settings.audit_log),
        mode=settings.confirm_writes,
        wait_seconds=settings.timeout + 10,
    )
    specs = enabled_tools(reasons)
    views = {spec.view for spec in specs if spec.view}

    server = SipsimServer(
        "sipsim",
        title="SIPSIM",
        description="Call history, phone lines, tags and click-to-call for a SIPSIM telephony account.",
        version=__version__,
        instructions=f"NOT SET UP: {setup_problem}\n\n{INSTRUCTIONS}" if setup_problem else INSTRUCTIONS,
        website_url="https://app.sipsim.com/devs/docs",
        log_level=settings.log_level,
        unavailable={name: reason for name, reason in reasons.items() if reason},
        gate=gate,
        tools=tools(specs, runtime, gate),
        extensions=[apps_extension(views)] if views else None,
        setup_problem=setup_problem,
        request_state_security=RequestStateSecurity(codec=SharedCodec(lambda: shared.key("request state"))),
        **server_options,
    )
    if setup_problem is None:
        register_resources(server, runtime)
        register_prompts(server, runtime)
    return server


def tools(specs: list[ToolSpec], runtime: Runtime, gate: WriteGate) -> list[Tool]:
    """The MCP tools for `specs`, with lean schemas: each parameter's text said once across the list."""
    said: dict[str, set[str]] = {}
    outputs = output_schemas(tuple(dict.fromkeys(spec.result_model for spec in specs)))
    built = []
    for spec in specs:
        tool = make_tool(spec, runtime, gate)
        tool.parameters = lean_input(tool.parameters, said)
        tool.fn_metadata.output_schema = outputs[spec.result_model]
        built.append(tool)
    return built


@cache
def output_schemas(models: tuple[type[BaseModel], ...]) -> dict[type[BaseModel], dict[str, Any]]:
    """The published output schemas of result models (answers are built from the models, so valid by
    construction; clients validate them against these), generated together: shared parts once."""
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
