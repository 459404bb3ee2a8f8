"""Turns inventory rows into MCP tools: typed signatures from the input models, the confirmation flow
of writes, and SIPSIM failures mapped to messages a model can act on."""

import inspect
import logging
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import (
    AcceptedElicitation,
    CancelledElicitation,
    Context,
    Elicit,
    ElicitationResult,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field, ValidationError

from .confirm import AuditLog, CodeRefused, ConfirmationCodes, ConfirmForm, RecentWrites
from .errors import SipsimAPIError, SipsimError
from .numbers import NumberError
from .render import render
from .shaping import RESULT_CAP
from .tools.base import PlannedRequest, Runtime, ToolCall, ToolSpec, WritePlan, WriteResult
from .tools.scan import PageTokenError
from .windows import WindowError

logger = logging.getLogger(__name__)

USER_ERRORS = (SipsimError, NumberError, WindowError, PageTokenError)

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


class Guards:
    """State of the write guards, shared by all write tools of one server."""

    def __init__(self, audit: AuditLog, key: str | None = None) -> None:
        self.codes = ConfirmationCodes(key)
        self.recent = RecentWrites()
        self.audit = audit


def can_elicit(ctx: Context) -> bool:
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def explain(exc: Exception, spec: ToolSpec) -> str:
    """The message a model reads for a failure: what happened and the next step."""
    if not isinstance(exc, SipsimAPIError):
        return str(exc)
    text = exc.describe()
    if exc.status == 403:
        needed = " or ".join(spec.endpoint.scopes)
        return (
            f"{text}. The access token lacks a scope this needs ({needed}): enable it for your API integration "
            "in the SIPSIM dashboard."
        )
    if exc.status is None or exc.status >= 500:
        hint = "SIPSIM is unavailable or failing; try again in a minute."
        if spec.write:
            hint += " It is not known whether the change was made: check before trying again."
        return f"{text}. {hint}"
    if exc.status == 429 and exc.retry_after is not None:
        return f"{text}. SIPSIM is limiting the request rate: try again in {exc.retry_after:.0f} s."
    hint = spec.hints.get(exc.status) or GENERIC_HINTS.get(exc.status, "")
    return f"{text}. {hint}".rstrip()


def format_validation(tool: str, exc: ValidationError, fields: dict[str, Any]) -> str:
    """A pydantic error rewritten for a model: each bad argument, what it got, and what is accepted."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        message = error["msg"].removeprefix("Value error, ")
        got = "" if error["type"] in ("missing", "value_error") else f" (got {error['input']!r})"
        field = fields.get(str(error["loc"][0])) if error["loc"] else None
        accepted = f" Accepted: {field.description.rstrip('.')}." if field is not None and field.description else ""
        problems.append(f"{where}: {message}{got}.{accepted}")
    return (
        f"Invalid arguments for {tool}: " + " ".join(problems) + " Nothing was done; fix the arguments and call again."
    )


def result(model: BaseModel) -> CallToolResult:
    """A tool result: the typed JSON as structured content, and the same information as compact text."""
    data = model.model_dump(mode="json", by_alias=True)
    text = render(data)
    if len(text) > RESULT_CAP:  # handlers cut their lists; this guards against a silent overflow
        logger.error("A %s result of %d characters exceeds the cap", type(model).__name__, len(text))
        raise ToolError("The answer is too large to return. Narrow the request (shorter window, fewer fields).")
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _parameters(model: type[BaseModel]) -> list[inspect.Parameter]:
    """Keyword parameters mirroring the input model's fields (type, constraints, description, default)."""
    params = []
    for name, info in model.model_fields.items():
        annotation = Annotated[
            (info.annotation, *info.metadata, Field(description=info.description, examples=info.examples))
        ]
        default = inspect.Parameter.empty if info.is_required() else info.get_default(call_default_factory=True)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default))
    return params


def _signed(fn: Callable[..., Any], name: str, params: list[inspect.Parameter], returns: Any) -> Callable[..., Any]:
    fn.__name__ = fn.__qualname__ = name
    fn.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    fn.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    return fn


def _context_param(name: str = "ctx") -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Context)


def _parse(spec: ToolSpec, arguments: dict[str, Any]) -> Any:
    try:
        return spec.input.model_validate(arguments)
    except ValidationError as exc:
        raise ToolError(format_validation(spec.name, exc, spec.input.model_fields)) from exc


def make_tool(spec: ToolSpec, runtime: Runtime, guards: Guards) -> Callable[..., Any]:
    """The function MCPServer registers for `spec`."""
    returns = CallToolResult  # the server publishes spec.result_model's lean schema (see server.tools)
    params = _parameters(spec.input)
    if spec.write:
        return _write_tool(spec, runtime, guards, params, returns)

    async def read_tool(ctx: Context, **arguments: Any) -> CallToolResult:
        args = _parse(spec, arguments)
        try:
            return result(await spec.handler(ToolCall(runtime, ctx), args))
        except USER_ERRORS as exc:
            raise ToolError(explain(exc, spec)) from exc

    return _signed(read_tool, spec.name, [*params, _context_param()], returns)


def _write_tool(
    spec: ToolSpec, runtime: Runtime, guards: Guards, params: list[inspect.Parameter], returns: Any
) -> Callable[..., Any]:
    preview_mode = runtime.settings.confirm_writes == "preview"
    code_param = inspect.Parameter(
        CODE_FIELD,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[str | None, Field(description=CODE_DESCRIPTION, max_length=100)],
        default=None,
    )
    tool_params = [*params, code_param] if preview_mode else params

    async def plan(ctx: Context, **arguments: Any) -> WritePlan:
        arguments.pop(CODE_FIELD, None)
        args = _parse(spec, arguments)
        try:
            return await spec.handler(ToolCall(runtime, ctx), args)
        except USER_ERRORS as exc:
            raise ToolError(explain(exc, spec)) from exc

    _signed(plan, f"plan_{spec.name}", [*tool_params, _context_param()], WritePlan)

    async def confirm(ctx: Context, planned: Annotated[WritePlan, Resolve(plan)]) -> ConfirmForm | Elicit[ConfirmForm]:
        if planned.dedupe_key and guards.recent.get(f"{spec.name}:{planned.dedupe_key}") is not None:
            return ConfirmForm(confirm=False)  # a duplicate: nothing will be sent, nothing to ask
        if can_elicit(ctx):
            return Elicit(planned.question, ConfirmForm)
        return ConfirmForm(confirm=False)

    confirm.__name__ = confirm.__qualname__ = f"confirm_{spec.name}"

    async def write_tool(
        ctx: Context,
        planned: WritePlan,
        approval: ElicitationResult[ConfirmForm],
        **arguments: Any,
    ) -> CallToolResult:
        code = arguments.pop(CODE_FIELD, None)
        audited = spec.input.model_validate(arguments).model_dump(mode="json")
        held = _hold(spec, planned, audited, guards, approval if can_elicit(ctx) else None, code, preview_mode)
        if held is not None:
            return result(held)
        return result(await _act(spec, runtime, guards, planned, audited))

    hidden = [
        inspect.Parameter("planned", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[WritePlan, Resolve(plan)]),
        inspect.Parameter(
            "approval",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[ElicitationResult[ConfirmForm], Resolve(confirm)],
        ),
    ]
    return _signed(write_tool, spec.name, [*tool_params, _context_param(), *hidden], returns)


def _hold(
    spec: ToolSpec,
    planned: WritePlan,
    audited: dict[str, Any],
    guards: Guards,
    approval: ElicitationResult[ConfirmForm] | None,
    code: str | None,
    preview_mode: bool,
) -> WriteResult | None:
    """Why the write must not be sent now (a result to return instead), or None to go ahead.

    `approval` is the user's answer when the client can be asked, else None.
    """
    record = guards.audit.record
    if planned.dedupe_key and (earlier := guards.recent.get(f"{spec.name}:{planned.dedupe_key}")) is not None:
        record(spec.name, audited, "duplicate", request_id=earlier.request_id)
        message = "An identical request was made less than a minute ago; it was not sent again. This is its result."
        return earlier.model_copy(update={"outcome": "duplicate", "message": message})
    if approval is not None:
        if isinstance(approval, AcceptedElicitation) and approval.data.confirm:
            return None
        outcome = "cancelled" if isinstance(approval, CancelledElicitation) else "declined"
        record(spec.name, audited, outcome)
        return WriteResult(
            outcome=outcome, message=f"The user did not confirm; nothing was done. (Asked: {planned.question})"
        )
    if not preview_mode:
        return None  # host mode: the host's own approval prompt stood in front of this call
    if code is None:
        code, expires = guards.codes.issue(spec.name, audited)
        record(spec.name, audited, "preview")
        return WriteResult(
            outcome="preview",
            message=f"Nothing was done yet. This would: {planned.statement} Show this to the user and ask them to "
            f"confirm. If they agree, call {spec.name} again with the same arguments and confirmation_code={code!r} "
            "(valid 5 minutes, once).",
            request=PlannedRequest(method=spec.endpoint.method, path=planned.path, body=planned.body),
            confirmation_code=code,
            expires_at=expires,
        )
    try:
        guards.codes.redeem(spec.name, audited, code)
    except CodeRefused as exc:
        record(spec.name, audited, "refused", detail=str(exc))
        raise ToolError(str(exc)) from None
    return None


async def _act(
    spec: ToolSpec, runtime: Runtime, guards: Guards, planned: WritePlan, audited: dict[str, Any]
) -> WriteResult:
    """Send the write (once) and decode SIPSIM's answer; every outcome is audited."""
    try:
        response = await runtime.api.call(planned.endpoint, path_params=planned.path_params, json_body=planned.body)
        data = planned.finish(response)
    except USER_ERRORS as exc:
        request_id = exc.request_id if isinstance(exc, SipsimAPIError) else None
        guards.audit.record(spec.name, audited, "failed", request_id=request_id, detail=str(exc))
        raise ToolError(explain(exc, spec)) from exc
    done = WriteResult[spec.output](  # type: ignore[name-defined]
        outcome="done", message=f"Done: {planned.statement}", result=data, request_id=response.request_id
    )
    if planned.dedupe_key:
        guards.recent.put(f"{spec.name}:{planned.dedupe_key}", done)
    guards.audit.record(spec.name, audited, "done", request_id=response.request_id)
    return done
