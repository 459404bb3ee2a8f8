"""The tool runtime: one `tools/list` answer and one `tools/call` path for every tool, served through the
SDK's low-level handlers. A call's arguments are validated by the tool's input model, its handler runs, a
write passes through the write gate (asking the user when the client can), and the answer is rendered.
Every failure is shaped here, into a message a model can act on."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from mcp.server import ServerRequestContext
from mcp.server.elicitation import render_elicitation_schema
from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CallToolRequestParams,
    CallToolResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
    ListToolsResult,
    PaginatedRequestParams,
    TextContent,
    Tool,
)
from mcp.types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import ErrorDetails
from pydantic_core.core_schema import WithDefaultSchema

from ..api.client import ApiResponse
from ..api.errors import ResponseShapeError, SipsimAPIError, UserError, shape_problems
from ..api.redact import REDACTOR
from ..api.shaping import RESULT_CAP, to_json
from ..language.identity import current_identity
from ..state import StoreUnavailable
from ..tools.base import Runtime, ToolContext, ToolSpec, WritePlan
from ..tools.text import TEXT_RULES
from ..tools.views import tool_meta
from .confirm import ConfirmForm, excerpt
from .gate import NOT_KNOWN, STORE_DOWN, Approval, Resolved, WriteGate
from .policy import Caller, Policy, caller
from .render import render
from .schemas import Schema, lean_input

logger = logging.getLogger(__name__)

CODE_FIELD = "confirmation_code"
CODE_LIMIT = 100
CODE_DESCRIPTION = (
    "Empty on the first call (a preview; nothing changes). Once the user has agreed to the preview: the same "
    "arguments and this code."
)
#: The key of the confirmation form among a 2026-07-28 round trip's input requests.
FORM_KEY = "confirm"
FORM_SCHEMA = render_elicitation_schema(ConfirmForm)

GENERIC_HINTS = {
    400: "Check the arguments and try again.",
    401: "SIPSIM rejected a fresh access token too: check the integration's credentials in the SIPSIM dashboard.",
    404: "Nothing has that id: list_calls, list_phones and list_tags show valid ids.",
    409: "It conflicts with something that already exists.",
    422: "Check the arguments and try again.",
    429: "SIPSIM is limiting the request rate: wait a little and try again.",
}


def explain(exc: UserError, spec: ToolSpec) -> str:
    """The message a model reads for a failure: what happened and the next step."""
    if not isinstance(exc, SipsimAPIError) or isinstance(exc, ResponseShapeError):
        return str(exc)
    text = exc.describe()
    if exc.status == 403:
        needed = " or ".join(spec.endpoint.scopes)
        tried = " and then ".join(exc.scopes_tried)
        sent = f" It was sent with the scope {tried}." if tried else ""
        return (
            f"{text}.{sent} The access token lacks a scope this needs ({needed}): enable it for your API "
            "integration in the SIPSIM dashboard and list it in SIPSIM_SCOPES."
        )
    if exc.status is None or exc.status >= 500:
        hint = "SIPSIM is unavailable or failing; try again in a minute."
        if spec.write:
            hint += " " + NOT_KNOWN
        return f"{text}. {hint}"
    if exc.status == 429 and exc.retry_after is not None:
        return f"{text}. SIPSIM is limiting the request rate: try again in {exc.retry_after:.0f} s."
    hint = spec.hints.get(exc.status) or GENERIC_HINTS.get(exc.status, "")
    return f"{text}. {hint}".rstrip()


@contextmanager
def told(spec: ToolSpec) -> Iterator[None]:
    """An error a model may read (a `UserError`) becomes the tool's error answer, worded by `explain`; what a
    model failed to read in SIPSIM's answer is SIPSIM's fault, never the caller's arguments."""
    try:
        yield
    except UserError as exc:
        raise ToolError(explain(exc, spec)) from exc
    except ValidationError as exc:  # the arguments were valid: what did not fit is SIPSIM's answer
        raise ToolError(explain(unreadable(spec, exc), spec)) from None


def unreadable(spec: ToolSpec, exc: ValidationError) -> ResponseShapeError:
    """A model that failed on SIPSIM's answer, reported as SIPSIM's (never as the caller's arguments)."""
    fields = shape_problems(exc.errors(include_url=False), "data")
    return ResponseShapeError(method=spec.endpoint.method, path=spec.endpoint.path, status=None, fields=fields)


def format_validation(tool: str, errors: list[ErrorDetails], fields: Mapping[str, Any], also: tuple[str, ...]) -> str:
    """Refused arguments, worded for a model: unknown argument names, or each bad argument, what it got, and
    what is accepted (`also`: accepted names besides the input model's fields)."""
    unknown = sorted({str(error["loc"][0]) for error in errors if error["type"] == "extra_forbidden" and error["loc"]})
    if unknown:
        return (
            f"Unknown argument(s) for {tool}: {', '.join(unknown)}. It accepts: "
            f"{', '.join(sorted([*fields, *also])) or 'no arguments'}. Nothing was done."
        )
    problems = []
    for error in errors:
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        message = error["msg"].removeprefix("Value error, ").rstrip(".")
        got = "" if error["type"] in ("missing", "value_error") else f" (got {excerpt(repr(error['input']), 60)})"
        field = fields.get(str(error["loc"][0])) if error["loc"] else None
        accepted = f" Accepted: {field.description.rstrip('.')}." if field is not None and field.description else ""
        problems.append(f"{where}: {message}{got}.{accepted}")
    return (
        f"Invalid arguments for {tool}: " + " ".join(problems) + " Nothing was done; fix the arguments and call again."
    )


def result(model: BaseModel) -> CallToolResult:
    """A tool result: the typed JSON as structured content, and the same information as compact text; any
    access token or secret SIPSIM echoed is scrubbed from both."""
    data = json.loads(REDACTOR.scrub(to_json(model)))  # serialized once
    text = render(data, TEXT_RULES)
    if len(text) > RESULT_CAP:  # handlers cut their lists; this guards against a silent overflow
        logger.error("A %s result of %d characters exceeds the cap", type(model).__name__, len(text))
        raise ToolError("The answer is too large to return. Narrow the request (shorter window, fewer fields).")
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def failed(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=REDACTOR.scrub(text))], is_error=True)


# --- arguments ---------------------------------------------------------------------------------------


class _Published(GenerateJsonSchema):
    """The generator of published input schemas: a default made by a factory (an empty list) is stated too."""

    def get_default_value(self, schema: WithDefaultSchema) -> Any:
        if "default_factory" in schema and not schema.get("default_factory_takes_data"):
            return schema["default_factory"]()  # type: ignore[call-arg]
        return super().get_default_value(schema)


@cache
def input_schema(model: type[BaseModel], code: bool) -> Schema:
    """A tool's published input schema: the input model's fields, flat, and a write's confirmation code when
    writes are confirmed by preview (`code`). Unknown names are refused by the model, with a message naming
    the accepted ones, so the schema does not repeat the model's closed-object flag (nor its docstring)."""
    schema = model.model_json_schema(schema_generator=_Published)
    published = {key: value for key, value in schema.items() if key not in ("additionalProperties", "description")}
    published.setdefault("properties", {})
    if code:
        published["properties"] = {
            **published["properties"],
            CODE_FIELD: {"description": CODE_DESCRIPTION, "type": "string"},
        }
    return published


@cache
def _json_text_fields(model: type[BaseModel]) -> frozenset[str]:
    """The input's fields a host may send as JSON text: those not typed `str`."""
    return frozenset(key for key, info in model.model_fields.items() if info.annotation is not str)


def _from_json_text(value: Any) -> Any:
    """A list or object some hosts send as JSON text, parsed."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return value
    return value if isinstance(parsed, str | int | float) else parsed


def arguments(spec: ToolSpec, sent: Mapping[str, Any]) -> tuple[BaseModel, str | None]:
    """The one validation of a call's arguments: the tool's input model (which refuses unknown names), and a
    write's confirmation code beside it. A refusal is a ToolError that names each problem."""
    json_text = _json_text_fields(spec.input)
    values = {key: _from_json_text(value) if key in json_text else value for key, value in sent.items()}
    code = values.pop(CODE_FIELD, None) if spec.write else None
    errors: list[ErrorDetails] = []
    if code is not None and not (isinstance(code, str) and len(code) <= CODE_LIMIT):
        got = code if isinstance(code, str) else type(code).__name__
        message = (
            f"String should have at most {CODE_LIMIT} characters"
            if isinstance(code, str)
            else "Input should be a string"
        )
        errors.append({"type": "string_type", "loc": (CODE_FIELD,), "msg": message, "input": got})
    try:
        args = spec.input.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False) + errors
    if errors:
        raise ToolError(
            format_validation(spec.name, errors, spec.input.model_fields, (CODE_FIELD,) if spec.write else ())
        )
    return args, code


# --- confirmation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """What a 2026-07-28 confirmation round trip carries in its (sealed) `requestState`: the digest of the
    question asked (an answer counts for that question only), and the round trip's own id (an accepted answer
    confirms one write)."""

    question: str
    id: str

    @staticmethod
    def digest(question: str) -> str:
        return hashlib.sha256(question.encode()).hexdigest()[:32]

    def encode(self) -> str:
        return json.dumps({"q": self.question, "id": self.id})

    @classmethod
    def decode(cls, state: str | None) -> Asked | None:
        try:
            value = json.loads(state or "")
            return cls(question=str(value["q"]), id=str(value["id"]))
        except (ValueError, TypeError, KeyError):
            return None


def can_elicit(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether the client can show a confirmation form: it declared form elicitation, and on a connection of
    the handshake era this request can reach it (stateless HTTP cannot)."""
    capabilities = ctx.session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None or (elicitation.form is None and elicitation.url is not None):
        return False
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS or ctx.session.can_send_request


def approval_of(answer: ElicitResult) -> Approval:
    """The user's answer to the form: only a ticked box (a JSON `true`) confirms."""
    if answer.action != "accept":
        return "declined" if answer.action == "decline" else "cancelled"
    try:
        form = ConfirmForm.model_validate(answer.content or {})
    except ValidationError:
        raise ToolError(
            "The answer to the confirmation form could not be read (the box must be ticked or not). Nothing was "
            "done. Call the tool again so the user is asked again."
        ) from None
    return "accepted" if form.confirm else "declined"


# --- the runtime -------------------------------------------------------------------------------------


@dataclass
class ToolRuntime:
    """Lists and calls the tools of one server. `unavailable`: why a known tool is not offered; with a
    `setup_problem`, every call answers that problem (the fix). A person signed in with team sign-in is
    offered, and may call, only what `policy` gives them (see mcp/policy.py); without sign-in (stdio, in
    memory, one shared token) every tool is."""

    tools: Mapping[str, ToolSpec]
    listed: ListToolsResult
    runtime: Runtime
    gate: WriteGate
    unavailable: Mapping[str, str]
    setup_problem: str | None = None
    policy: Policy | None = None
    _offered: dict[frozenset[str], ListToolsResult] = field(default_factory=dict, init=False, repr=False)

    def caller(self) -> Caller | None:
        """Who the current request was signed in as, with their permissions; None without team sign-in."""
        person = current_identity()
        return caller(self.policy, person) if person is not None else None

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        who = self.caller()
        return self.listed if who is None else self.offered(who.permissions.tools)

    def offered(self, names: frozenset[str]) -> ListToolsResult:
        """The tools/list of a person who may use `names`: built for them (a parameter's text is said once
        among the tools listed), kept per set of names."""
        listed = self._offered.get(names)
        if listed is None:
            specs = [spec for spec in self.tools.values() if spec.name in names]
            schemas = {tool.name: tool.output_schema for tool in self.listed.tools}
            outputs = {spec.result_model: cast(Schema, schemas[spec.name]) for spec in specs}
            listed = ListToolsResult(tools=build_tools(specs, self.gate.mode == "preview", outputs))
            self._offered[names] = listed
        return listed

    def input_schema(self, name: str) -> Schema | None:
        """The published input schema of `name` (the SDK checks `Mcp-Param-*` headers against it)."""
        return next((tool.input_schema for tool in self.listed.tools if tool.name == name), None)

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
    ) -> CallToolResult | InputRequiredResult:
        """`tools/call`: the one place every failure becomes the answer a model reads."""
        try:
            return await self.call(ctx, params, params.arguments or {})
        except ToolError as exc:
            logger.info("Tool %r answered an error", params.name)  # its text may hold the caller's data
            logger.debug("Tool %r: %r", params.name, REDACTOR.scrub(str(exc)))
            return failed(str(exc))
        except MCPError:
            raise
        except Exception:
            logger.exception("Tool %r raised an unexpected exception", params.name)
            return failed(f"Error executing tool {params.name}")

    async def call(
        self, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams, sent: Mapping[str, Any]
    ) -> CallToolResult | InputRequiredResult:
        if self.setup_problem:
            raise ToolError(self.setup_problem)
        spec = self.tools.get(params.name)
        if spec is None:
            why = self.unavailable.get(params.name)
            raise ToolError(
                f"The tool {params.name} is not available on this server: it is {why}."
                if why
                else f"Unknown tool: {params.name}"
            )
        who = self.caller()
        if who is not None and not who.permissions.may_use(spec.name):
            raise ToolError(who.refusal(spec.name, spec.write))
        args, code = arguments(spec, sent)
        context = ToolContext(self.runtime, ctx.session.report_progress, who.person if who else None)
        if not spec.write:
            with told(spec):
                return result(cast(BaseModel, await spec.handler(context, args)))
        return await self.write(spec, args, code, ctx, params, context, who)

    async def write(
        self,
        spec: ToolSpec,
        args: BaseModel,
        code: str | None,
        ctx: ServerRequestContext[Any, Any],
        params: CallToolRequestParams,
        context: ToolContext,
        who: Caller | None,
    ) -> CallToolResult | InputRequiredResult:
        """Resolve the request, ask the user when the client can, and let the gate decide and send."""
        with told(spec):
            plan = cast(WritePlan, await spec.handler(context, args))
        resolved = Resolved(spec.name, args.model_dump(mode="json"), spec.endpoint, plan, who)
        asked = await self.confirmation(resolved, ctx, params)
        if isinstance(asked, InputRequiredResult):
            return asked
        approval, form = asked

        def send() -> Awaitable[ApiResponse]:
            return resolved.send(self.runtime.api)

        with told(spec):
            return result(await self.gate.run(resolved, approval, code, send, spec.output, form))

    async def confirmation(
        self, resolved: Resolved, ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams
    ) -> tuple[Approval, str | None] | InputRequiredResult:
        """The user's answer (None when they are not asked) and the id of the round trip that carried it; or,
        for a 2026-07-28 client, the form to show, to come back answered."""
        if not can_elicit(ctx):
            return None, None
        try:
            question = await self.gate.ask(resolved)
        except StoreUnavailable as exc:
            raise ToolError(STORE_DOWN.format(problem=exc)) from None
        if question is None:
            return None, None
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:  # a live form, on the handshake era's back-channel
            live = await ctx.session.elicit_form(question, FORM_SCHEMA, related_request_id=ctx.request_id)
            return approval_of(live), None
        asked = Asked.decode(params.request_state)
        answer = (params.input_responses or {}).get(FORM_KEY)
        if asked is not None and asked.question == Asked.digest(question) and isinstance(answer, ElicitResult):
            return approval_of(answer), asked.id
        form = ElicitRequest(params=ElicitRequestFormParams(message=question, requested_schema=FORM_SCHEMA))
        # The state goes out sealed by the SDK's request-state boundary, and comes back checked and unsealed.
        state = Asked(Asked.digest(question), self.gate.round_trip()).encode()
        return InputRequiredResult(input_requests={FORM_KEY: form}, request_state=state)


def unwrapped(text: str) -> str:
    """A docstring's text without its line wraps: each paragraph on one line."""
    return "\n".join(" ".join(paragraph.split()) for paragraph in text.split("\n\n"))


def build_tools(specs: list[ToolSpec], preview: bool, outputs: Mapping[type[BaseModel], Schema]) -> list[Tool]:
    """The MCP tools for `specs` with their published schemas: input schemas lean, each parameter's text said
    once across the list (see `schemas.lean_input`), and `outputs` by result model."""
    said: dict[str, set[str]] = {}
    return [
        Tool(
            name=spec.name,
            title=spec.title,
            description=unwrapped(spec.description),
            input_schema=lean_input(input_schema(spec.input, spec.write and preview), said),
            output_schema=outputs[spec.result_model],
            annotations=spec.annotations,
            _meta=tool_meta(spec.view) if spec.view else None,
        )
        for spec in specs
    ]
