"""The write gate: one place that decides whether a write is sent, answered without sending, or refused,
and that sends it at most once and records what happened.

`decide()` is the whole policy as a pure function (tested as a table). `WriteGate.run()` gathers its
inputs (the user's answer, the confirmation code, the duplicate guard's state), acts on the decision,
and keeps the shared state true: a write is reserved before it is sent, recorded as done once SIPSIM
accepted it (2xx, whatever the body), and kept as "outcome unknown" for the guard window after a
timeout, a 5xx or a dropped connection, so a repeat is never sent blindly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from ..api.client import ApiResponse, SipsimClient
from ..api.endpoints import Endpoint
from ..api.errors import SipsimAPIError, SipsimError
from ..tools.base import PlannedRequest, WritePlan, WriteResult
from .confirm import CODE_TTL, AuditLog, CodeCheck, ConfirmationCodes, canonical, excerpt
from .state import StateStore, StoreUnavailable

logger = logging.getLogger(__name__)

#: How long a sealed form answer is remembered: past the SDK's 600 s requestState lifetime.
FORM_TTL = 660.0
#: How long an identical start_call is not sent again, and how long an unknown outcome blocks a repeat.
GUARD_SECONDS = 60.0

#: The digest of the sealed `requestState` this request came back with (2026-07-28 forms), set when it is
#: unsealed: an accepted form answer confirms one write, so a replayed answer is refused.
ROUND_TRIP: ContextVar[str | None] = ContextVar("sipsim_round_trip", default=None)

Mode = Literal["preview", "host"]
#: The user's answer to the confirmation form; None when the client cannot ask.
Approval = Literal["accepted", "declined", "cancelled"] | None
#: What the duplicate guard knows of an identical request.
Prior = Literal["in_flight", "unknown", "done"] | None
Action = Literal["send", "wait", "preview", "repreview", "declined", "cancelled", "duplicate", "unknown", "refuse"]


def decide(*, mode: Mode, approval: Approval, code: CodeCheck, prior: Prior) -> Action:
    """What to do with one write: the whole confirmation and duplicate policy."""
    if prior == "done":
        return "duplicate"
    if prior == "in_flight":
        return "wait"
    if prior == "unknown":
        return "unknown"
    if approval == "accepted":
        return "send"
    if approval is not None:
        return approval
    if mode == "host":
        return "send"
    by_code: dict[CodeCheck, Action] = {"none": "preview", "valid": "send", "changed": "repreview"}
    return by_code.get(code, "refuse")


AGAIN = (
    " Nothing was done. Call the tool again without confirmation_code to get a fresh preview, show it to the user "
    "and ask them."
)
REFUSALS: dict[str, str] = {
    "malformed": "That is not a confirmation code issued by this server." + AGAIN,
    "other": "The confirmation code does not match these arguments: it was issued for a different request "
    "(the arguments changed since the preview) or it is wrong." + AGAIN,
    "expired": "The confirmation code has expired (codes are valid for 5 minutes)." + AGAIN,
    "used": "The confirmation code has already been used; each code works once." + AGAIN,
    "replayed": "This answer to the confirmation form was already used; each answer confirms one write. Nothing "
    "was done. Call the tool again so the user is asked again.",
}
STORE_DOWN = (
    "Writes are refused while {problem}: without it a write could be sent twice. Nothing was sent. Reads still "
    "work; try the write again once the store is back (sipsim-mcp doctor checks it)."
)
NOT_KNOWN = (
    "It is not known whether the change was made: check with a read tool (list_calls, list_tags, get_phone...) "
    "before trying again."
)
UNKNOWN = (
    "An identical request was sent {ago} s ago and its outcome is unknown (SIPSIM did not answer in time or "
    "failed). It was not sent again. Check with a read tool (list_calls for a call) whether it took effect "
    "before asking the user again."
)


@dataclass(frozen=True)
class Resolved:
    """A write tool call after validation and name resolution: exactly what would be sent."""

    tool: str
    arguments: dict[str, Any]  # validated, as JSON (for codes and the audit log)
    endpoint: Endpoint  # the tool's declared endpoint: previewed, confirmed and sent
    plan: WritePlan

    @property
    def path(self) -> str:
        return self.endpoint.render(**self.plan.path_params)

    @property
    def request(self) -> PlannedRequest:
        """What is previewed, confirmed and audited; `send` sends exactly this."""
        return PlannedRequest(method=self.endpoint.method, path=self.path, body=self.plan.body)

    def send(self, api: SipsimClient) -> Awaitable[ApiResponse]:
        """Send the request: the same endpoint, path parameters and body as `request`."""
        return api.request(self.endpoint, path_params=self.plan.path_params, json_body=self.plan.body)

    @property
    def fingerprint(self) -> str:
        return canonical(self.request.model_dump(mode="json", exclude_none=True))

    @property
    def guard_key(self) -> str:
        """Identical requests share it: start_call's by line and number, others by the exact request."""
        same = self.plan.dedupe_key or hashlib.sha256(self.fingerprint.encode()).hexdigest()[:32]
        return f"write:{self.tool}:{same}"

    @property
    def question(self) -> str:
        """What the user is asked: the request's digest makes any change to it a new question."""
        digest = hashlib.sha256(self.fingerprint.encode()).hexdigest()[:8]
        return f"{self.plan.question}\n\nRequest: {self.endpoint.method} {self.path} (ref {digest})"


@dataclass
class WriteGate:
    """Confirmation, single use, the duplicate guard and the audit log of every write tool of one server."""

    store: StateStore
    codes: ConfirmationCodes
    audit: AuditLog
    mode: Mode
    wait_seconds: float = 40.0  # longest wait for an identical request in flight (past SIPSIM's timeout)
    guard_seconds: float = GUARD_SECONDS

    async def should_ask(self, resolved: Resolved) -> bool:
        """Whether to show the user the form: not for a request the duplicate guard answers without sending."""
        return _state(await self._prior(resolved)) not in ("done", "unknown")

    async def run(
        self,
        resolved: Resolved,
        approval: Approval,
        code: str | None,
        send: Callable[[], Awaitable[ApiResponse]],
        output: type[BaseModel],
        form: str | None = None,
    ) -> WriteResult[Any]:
        """Decide, then answer or send once; raises ToolError for refusals and failures. `form` identifies
        the round trip that carried an accepted form answer (2026-07-28), which then works once."""
        try:
            await self.store.check()  # fail fast, and before anything below reads the store's shared secret
            check: CodeCheck = "none"
            if approval is None and self.mode == "preview":
                check = self.codes.check(resolved.tool, resolved.arguments, resolved.fingerprint, code)
            action, prior, check = await self._settle(resolved, approval, check, code, form)
            if action != "send":
                return self._answer(resolved, action, check, prior, output)
        except StoreUnavailable as exc:
            self._audit(resolved, "refused", detail=str(exc))
            raise ToolError(STORE_DOWN.format(problem=exc)) from None
        return await self._send(resolved, send, output)

    async def _settle(
        self, resolved: Resolved, approval: Approval, check: CodeCheck, code: str | None, form: str | None
    ) -> tuple[Action, dict[str, Any] | None, CodeCheck]:
        """The decision, the guard's entry it rests on and the code's worth; when the decision is "send",
        the code has been used up and the request reserved (after waiting out an identical one in flight)."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            prior = await self._prior(resolved)
            action = decide(mode=self.mode, approval=approval, code=check, prior=_state(prior))
            if action == "wait" and time.monotonic() < deadline:
                await anyio.sleep(0.1)
                continue
            if action != "send":
                return ("unknown" if action == "wait" else action), prior, check
            if check == "valid" and code is not None:
                nonce = ConfirmationCodes.nonce(code)
                if await self.store.claim(f"code:{nonce}", "used", CODE_TTL + 60) is not None:
                    return "refuse", prior, "used"
                approval, code = "accepted", None  # spent: the user's agreement stands for this request
            if approval == "accepted" and form is not None:
                if await self.store.claim(f"form:{form}", "used", FORM_TTL) is not None:
                    return "refuse", prior, "replayed"
                form = None  # spent, as above
            taken = await self.store.claim(
                resolved.guard_key, json.dumps({"state": "in_flight", "at": time.time()}), self._hold
            )
            if taken is None:
                return "send", None, check

    @property
    def _hold(self) -> float:
        """How long a reservation outlives a crash mid-send: the guard window, past the longest wait."""
        return max(self.guard_seconds, self.wait_seconds + 30)

    async def _prior(self, resolved: Resolved) -> dict[str, Any] | None:
        value = await self.store.get(resolved.guard_key)
        return json.loads(value) if value else None

    def _answer(
        self,
        resolved: Resolved,
        action: Action,
        check: CodeCheck,
        prior: dict[str, Any] | None,
        output: type[BaseModel],
    ) -> WriteResult[Any]:
        statement = resolved.plan.statement
        if action == "duplicate":
            assert prior is not None
            earlier = WriteResult[output].model_validate(prior["result"])  # type: ignore[valid-type]
            self._audit(resolved, "duplicate", request_id=earlier.request_id)
            return earlier.model_copy(
                update={
                    "outcome": "duplicate",
                    "message": "An identical request was made less than a minute ago; it was not sent again. "
                    "This is its result.",
                }
            )
        if action == "unknown":
            ago = int(time.time() - (prior or {}).get("at", time.time()))
            self._audit(resolved, "duplicate", detail="outcome of the first request unknown")
            raise ToolError(UNKNOWN.format(ago=ago))
        if action in ("declined", "cancelled"):
            self._audit(resolved, action)
            message = f"The user did not confirm; nothing was done. (Asked: {statement})"
            return WriteResult(outcome=action, message=message)
        if action in ("preview", "repreview"):
            code, expires = self.codes.issue(resolved.tool, resolved.arguments, resolved.fingerprint)
            self._audit(resolved, "preview")
            changed = (
                "The request changed since the previous preview (a name now points elsewhere), so nothing was sent. "
                if action == "repreview"
                else ""
            )
            return WriteResult(
                outcome="preview",
                message=f"{changed}Nothing was done yet. This would: {statement} Show this to the user and ask them "
                f"to confirm. If they agree, call {resolved.tool} again with the same arguments and "
                f"confirmation_code={code!r} (valid 5 minutes, once).",
                request=resolved.request,
                confirmation_code=code,
                expires_at=expires,
            )
        message = REFUSALS[check]
        self._audit(resolved, "refused", detail=message)
        raise ToolError(message)

    async def _send(
        self, resolved: Resolved, send: Callable[[], Awaitable[ApiResponse]], output: type[BaseModel]
    ) -> WriteResult[Any]:
        """Send the write once. 2xx: done (whatever the body). 4xx: failed, nothing done. Anything else: unknown."""
        try:
            response = await send()
        except SipsimAPIError as exc:
            if exc.status is not None and 200 <= exc.status < 300:
                response = ApiResponse(status=exc.status, request_id=exc.request_id, data=None)
                return await self._done(resolved, response, output, unreadable="; ".join(exc.errors))
            if exc.status is not None and exc.status < 500 and exc.status not in (408, 499):
                await self._release(resolved)
                self._audit(resolved, "failed", request_id=exc.request_id, detail=str(exc))
                raise
            await self._unknown(resolved, exc.request_id, str(exc))
            raise
        except SipsimError as exc:  # token or scope problem: raised before anything was sent
            await self._release(resolved)
            self._audit(resolved, "failed", detail=str(exc))
            raise
        except BaseException as exc:
            await self._unknown(resolved, None, type(exc).__name__)
            if isinstance(exc, Exception):
                request = f"{resolved.endpoint.method} {resolved.path}"
                raise ToolError(
                    f"The request to SIPSIM ({request}) failed ({type(exc).__name__}). {NOT_KNOWN}"
                ) from exc
            raise
        return await self._done(resolved, response, output)

    async def _done(
        self, resolved: Resolved, response: ApiResponse, output: type[BaseModel], unreadable: str | None = None
    ) -> WriteResult[Any]:
        plan = resolved.plan
        done: WriteResult[Any] = WriteResult[output](  # type: ignore[valid-type]
            outcome="done", message=f"Done: {plan.statement}", request_id=response.request_id
        )
        if unreadable is None:
            try:
                done.result = plan.finish(response)
            except Exception as exc:  # SIPSIM accepted it: its answer's shape is not the write's outcome
                unreadable = f"{type(exc).__name__}"
        if unreadable is not None:
            shown = canonical(response.data)
            done.returned = response.data if len(shown) <= 500 else excerpt(shown, 500)
            done.note = (
                f"SIPSIM accepted the request (HTTP {response.status}) but answered with something other than the "
                f"expected {output.__name__} ({excerpt(unreadable, 120)}); 'returned' shows what it sent."
            )
        self._audit(resolved, "done", request_id=response.request_id, detail=done.note)
        try:
            if resolved.plan.dedupe_key:  # not repeated within the guard window
                entry = {"state": "done", "at": time.time(), "result": done.model_dump(mode="json", exclude_none=True)}
                await self.store.put(resolved.guard_key, json.dumps(entry, default=str), self.guard_seconds)
            else:  # other writes only never run twice at the same time
                await self.store.delete(resolved.guard_key)
        except StoreUnavailable as exc:
            logger.error("Done, but the duplicate guard could not record it: %s", exc)
        return done

    async def _unknown(self, resolved: Resolved, request_id: str | None, detail: str) -> None:
        self._audit(resolved, "unknown", request_id=request_id, detail=detail)
        entry = json.dumps({"state": "unknown", "at": time.time(), "request_id": request_id})
        with anyio.CancelScope(shield=True):
            try:
                await self.store.put(resolved.guard_key, entry, self.guard_seconds)
            except StoreUnavailable as exc:
                logger.error("Outcome unknown, and the duplicate guard could not record it: %s", exc)

    async def _release(self, resolved: Resolved) -> None:
        """SIPSIM refused the request (or it was never sent): an identical one may be sent again."""
        try:
            await self.store.delete(resolved.guard_key)
        except StoreUnavailable as exc:
            logger.error("Could not release the duplicate guard: %s", exc)

    def _audit(self, resolved: Resolved, outcome: Any, **details: Any) -> None:
        self.audit.record(
            resolved.tool,
            resolved.arguments,
            outcome,
            request=resolved.request.model_dump(mode="json", exclude_none=True),
            **details,
        )


def _state(prior: dict[str, Any] | None) -> Prior:
    return prior.get("state") if prior else None
