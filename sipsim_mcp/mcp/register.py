"""Turns tool declarations into MCP tools: typed signatures from the input models, the confirmation flow
of writes, and SIPSIM failures mapped to messages a model can act on."""

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Annotated, Any, ClassVar, cast

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
    ElicitationResult,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core.core_schema import WithDefaultSchema

from ..api.client import ApiResponse
from ..api.errors import ResponseShapeError, SipsimAPIError, UserError, shape_problems
from ..api.redact import REDACTOR
from ..api.shaping import RESULT_CAP, to_json
from ..tools.base import Runtime, ToolContext, ToolSpec, WritePlan
from ..tools.views import tool_meta
from .confirm import ConfirmForm, excerpt
from .gate import NOT_KNOWN, ROUND_TRIP, STORE_DOWN, Approval, Resolved, WriteGate
from .render import render
from .state import StoreUnavailable

logger = logging.getLogger(__name__)

ARGS = "args"  # the validated input model, as handlers and resolvers receive it
CODE_FIELD = "confirmation_code"
CODE_DESCRIPTION = (
    "Leave empty on the first call: it returns a preview and changes nothing. After the user has seen the "
    "preview and agreed, call again with identical arguments and this code."
)

GENERIC_HINTS = {
    400: "Check the arguments and try again.",
    401: "SIPSIM rejected a fresh access token too: check the integration's credentials in the SIPSIM dashboard.",
    404: "Nothing has that id: list_calls, list_phones and list_tags show valid ids.",
    409: "It conflicts with something that already exists.",
    422: "Check the arguments and try again.",
    429: "SIPSIM is limiting the request rate: wait a little and try again.",
}


def can_elicit(mcp_ctx: Context) -> bool:
    capabilities = mcp_ctx.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


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
    """The one place an error a model may read (a `UserError`) becomes the tool's error answer."""
    try:
        yield
    except UserError as exc:
        raise ToolError(explain(exc, spec)) from exc


def unreadable(spec: ToolSpec, exc: ValidationError) -> ResponseShapeError:
    """A model that failed on SIPSIM's answer, reported as SIPSIM's (never as the caller's arguments)."""
    fields = shape_problems(exc.errors(include_url=False), "data")
    return ResponseShapeError(method=spec.endpoint.method, path=spec.endpoint.path, status=None, fields=fields)


def format_validation(tool: str, exc: ValidationError, fields: dict[str, Any], also: tuple[str, ...] = ()) -> str:
    """A pydantic error rewritten for a model: unknown argument names, or each bad argument, what it got, and
    what is accepted (`also`: accepted names besides the fields). Errors of the input model, nested as `args`
    (see `arguments_model`), name the argument itself."""
    errors: list[dict[str, Any]] = [
        {**error, "loc": _argument_loc(error["loc"])} for error in exc.errors(include_url=False)
    ]
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


def _argument_loc(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    return loc[1:] if loc[:1] == (ARGS,) else loc


def result(model: BaseModel) -> CallToolResult:
    """A tool result: the typed JSON as structured content, and the same information as compact text; any
    access token or secret SIPSIM echoed is scrubbed from both."""
    data = json.loads(REDACTOR.scrub(to_json(model)))  # serialized once
    text = render(data)
    if len(text) > RESULT_CAP:  # handlers cut their lists; this guards against a silent overflow
        logger.error("A %s result of %d characters exceeds the cap", type(model).__name__, len(text))
        raise ToolError("The answer is too large to return. Narrow the request (shorter window, fewer fields).")
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _signed(fn: Callable[..., Any], name: str, params: list[inspect.Parameter], returns: Any) -> Callable[..., Any]:
    fn.__name__ = fn.__qualname__ = name
    fn.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    return fn


def _keyword(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


class _Code(BaseModel):
    """A write's confirmation code, when writes are confirmed by preview."""

    confirmation_code: str | None = Field(None, description=CODE_DESCRIPTION, max_length=100)


class _Published(GenerateJsonSchema):
    """The generator of published input schemas: a default made by a factory (an empty list) is stated too."""

    def get_default_value(self, schema: WithDefaultSchema) -> Any:
        if "default_factory" in schema and not schema.get("default_factory_takes_data"):
            return cast(Callable[[], Any], schema["default_factory"])()
        return super().get_default_value(schema)


@cache
def input_schema(model: type[BaseModel], code: bool) -> dict[str, Any]:
    """A tool's published input schema: the input model's fields, flat, and a write's confirmation code when
    writes are confirmed by preview (`code`). Unknown names are refused by the model, with a message naming
    the accepted ones, so the schema does not repeat the model's closed-object flag (nor its docstring)."""
    schema = model.model_json_schema(schema_generator=_Published)
    published = {key: value for key, value in schema.items() if key not in ("additionalProperties", "description")}
    if code:
        properties = _Code.model_json_schema()["properties"]
        published["properties"] = {**published["properties"], CODE_FIELD: properties[CODE_FIELD]}
    return published


def _from_json_text(value: Any) -> Any:
    """A list or object some hosts send as JSON text, parsed (as the SDK's argument models do)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return value
    return value if isinstance(parsed, str | int | float) else parsed


class Arguments(ArgModelBase):
    """The one validation of a tool call's arguments: the tool's input model (which refuses unknown names) as
    `args`, and a write's confirmation code beside it. It reads the flat arguments a client sends."""

    model_config = ConfigDict(arbitrary_types_allowed=True, defer_build=True)  # its validator: on the first call

    json_text: ClassVar[frozenset[str]]  # the input's fields a host may send as JSON text: those not typed `str`
    write: ClassVar[bool]

    @model_validator(mode="before")
    @classmethod
    def _nest(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        arguments = {key: _from_json_text(value) if key in cls.json_text else value for key, value in data.items()}
        if not cls.write:
            return {ARGS: arguments}
        return {ARGS: arguments, CODE_FIELD: arguments.pop(CODE_FIELD, None)}


@cache
def arguments_model(name: str, model: type[BaseModel], write: bool) -> type[Arguments]:
    fields: dict[str, Any] = {ARGS: (model, ...)}
    if write:
        fields[CODE_FIELD] = (Annotated[str | None, Field(max_length=100)], None)
    arguments = create_model(f"{name}_arguments", __base__=Arguments, **fields)
    arguments.json_text = frozenset(key for key, info in model.model_fields.items() if info.annotation is not str)
    arguments.write = write
    return arguments


def make_tool(spec: ToolSpec, runtime: Runtime, gate: WriteGate) -> Tool:
    """The MCP tool for `spec`: its published input schema is the flat `input_schema`, and its arguments are
    validated once, by `arguments_model`, before its function (and a write's resolvers) receive them. The
    function types `args` as any model, so the SDK's argument model and schema for it (replaced) cost nothing."""
    fn = _write_tool(spec, runtime, gate) if spec.write else _read_tool(spec, runtime)
    tool = Tool.from_function(
        fn,
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=spec.annotations,
        meta=tool_meta(spec.view) if spec.view else None,
    )
    tool.parameters = input_schema(spec.input, spec.write and gate.mode == "preview")
    tool.fn_metadata.arg_model = arguments_model(spec.name, spec.input, spec.write)
    return tool


def _read_tool(spec: ToolSpec, runtime: Runtime) -> Callable[..., Any]:
    async def read_tool(mcp_ctx: Context, args: BaseModel) -> CallToolResult:
        try:
            with told(spec):
                return result(cast(BaseModel, await spec.handler(ToolContext(runtime, mcp_ctx), args)))
        except ValidationError as exc:  # the arguments were valid: what did not fit is SIPSIM's answer
            raise ToolError(explain(unreadable(spec, exc), spec)) from None

    return _signed(read_tool, spec.name, [_keyword("mcp_ctx", Context), _keyword(ARGS, BaseModel)], CallToolResult)


def _write_tool(spec: ToolSpec, runtime: Runtime, gate: WriteGate) -> Callable[..., Any]:
    """SDK glue around the gate: `plan` resolves the request, `confirm` asks the user when the client can."""

    async def plan(mcp_ctx: Context, args: BaseModel) -> Resolved:
        with told(spec):
            planned = cast(WritePlan, await spec.handler(ToolContext(runtime, mcp_ctx), args))
        return Resolved(spec.name, args.model_dump(mode="json"), spec.endpoint, planned)

    _signed(plan, f"plan_{spec.name}", [_keyword("mcp_ctx", Context), _keyword(ARGS, spec.input)], Resolved)

    async def confirm(mcp_ctx: Context, resolved: Annotated[Resolved, Resolve(plan)]) -> ConfirmForm | Elicit | None:
        try:
            ask = can_elicit(mcp_ctx) and await gate.should_ask(resolved)
        except StoreUnavailable as exc:
            raise ToolError(STORE_DOWN.format(problem=exc)) from None
        return Elicit(resolved.question, ConfirmForm) if ask else None

    confirm.__name__ = confirm.__qualname__ = f"confirm_{spec.name}"

    async def write_tool(
        mcp_ctx: Context,
        args: BaseModel,
        confirmation_code: str | None,
        resolved: Resolved,
        approval: ElicitationResult[ConfirmForm],
    ) -> CallToolResult:
        def send() -> Awaitable[ApiResponse]:
            return resolved.send(runtime.api)

        with told(spec):
            form = ROUND_TRIP.get() if mcp_ctx.request_state else None
            answer = await gate.run(resolved, _answer_of(approval), confirmation_code, send, spec.output, form)
        return result(answer)

    params = [
        _keyword("mcp_ctx", Context),
        _keyword(ARGS, BaseModel),
        _keyword(CODE_FIELD, str | None, None),
        _keyword("resolved", Annotated[Resolved, Resolve(plan)]),
        _keyword("approval", Annotated[ElicitationResult[ConfirmForm], Resolve(confirm)]),
    ]
    return _signed(write_tool, spec.name, params, CallToolResult)


def _answer_of(outcome: ElicitationResult[ConfirmForm]) -> Approval:
    """The user's answer to the form, or None when they were not asked."""
    match outcome:
        case AcceptedElicitation(data=ConfirmForm(confirm=True)):
            return "accepted"
        case AcceptedElicitation(data=ConfirmForm()) | DeclinedElicitation():
            return "declined"
        case CancelledElicitation():
            return "cancelled"
    return None
