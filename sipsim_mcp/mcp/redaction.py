"""The last step of every answer the server sends: the redaction of `api/redact.py` applied to error answers,
whatever raised them, and to the results that carry what SIPSIM sent (resources, prompts, tool errors). A
tool's successful result is scrubbed where it is made (`register.result`), so it is not serialized twice."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult
from pydantic import BaseModel

from ..api.redact import REDACTOR


class RedactAnswers:
    """Server middleware: no secret SIPSIM echoed (a token, the client secret) reaches a client."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            message = REDACTOR.redact(exc.error.message)
            data = _scrubbed(exc.error.data)
            if message != exc.error.message or data != exc.error.data:
                raise MCPError(code=exc.error.code, message=message, data=data) from None
            raise
        if isinstance(result, CallToolResult) and result.is_error:
            return _scrubbed(result, REDACTOR.redact)  # the server's words
        if ctx.method in FROM_SIPSIM:
            return _scrubbed(result, REDACTOR.scrub)  # the account's data
        return result


#: The methods whose successful answers carry what SIPSIM sent (besides tool results, scrubbed when made);
#: the others (lists of tools, prompts and resources, the handshake) are the server's own words.
FROM_SIPSIM = frozenset({"resources/read", "prompts/get", "completion/complete"})


def _scrubbed(value: Any, scrub: Callable[[str], str] = REDACTOR.redact) -> Any:
    """`value` (a model, JSON data or None) with secrets scrubbed; itself when it held none."""
    if value is None:
        return None
    text = value.model_dump_json(by_alias=True) if isinstance(value, BaseModel) else json.dumps(value)
    clean = scrub(text)
    if clean == text:
        return value
    return type(value).model_validate_json(clean) if isinstance(value, BaseModel) else json.loads(clean)
