"""The write gate: one place that decides whether a write is sent, answered without sending, or refused,
and that sends it at most once and records what happened.

`decide()` is the whole policy as a pure function (tested as a table). `WriteGate.run()` gathers its
inputs (the user's answer, the confirmation code or form, the duplicate guard's state), acts on the
decision, and keeps the shared state true: a write is reserved before it is sent, for as long as it can
be in flight (the API client's total deadline on a write), audited before it leaves, recorded as done once
SIPSIM accepted it (2xx, whatever the body), and kept as "outcome unknown" for the guard window after a
timeout, a 5xx, a dropped connection or a process that died mid-request, so a repeat is never sent
blindly; later previews of the same request say so. Outcomes are named as `tools.base.Outcome` names them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import anyio
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from ..api.client import ApiResponse, SipsimClient
from ..api.config import Settings
from ..api.endpoints import Endpoint
from ..api.errors import SipsimAPIError, SipsimError
from ..state import StateStore, StoreUnavailable, open_store, state_directory
from ..tools.base import Outcome, PlannedRequest, WritePlan, WriteResult
from .confirm import (
    CODE_TTL,
    AuditLog,
    AuditUnavailable,
    CodeCheck,
    ConfirmationCodes,
    SharedCodec,
    SharedSecrets,
    canonical,
    excerpt,
)
from .policy import Caller

logger = logging.getLogger(__name__)

#: How long a sealed form answer is remembered: past the SDK's 600 s requestState lifetime.
FORM_TTL = 660.0
#: How long an identical start_call is not sent again, and how long an unknown outcome blocks a repeat.
GUARD_SECONDS = 60.0
#: Margin on a deadline another process set (its clock may differ a little from ours).
SKEW = 5.0
#: How long later previews of a request mention an earlier attempt whose outcome is unknown.
NOTE_SECONDS = 86_400.0

Mode = Literal["preview", "host"]
#: The user's answer to the confirmation form; None when the client cannot ask.
Approval = Literal["accepted", "declined", "cancelled"] | None
#: What the duplicate guard knows of an identical request.
Prior = Literal["sending", "unknown", "done"] | None
#: What the gate does next when the decision is not yet an outcome.
Step = Literal["send", "wait"]


def decide(*, mode: Mode, approval: Approval, proof: CodeCheck, prior: Prior) -> Outcome | Step:
    """What to do with one write: the whole confirmation and duplicate policy. `proof` is what the code
    (preview mode) or the form's round trip (an accepted answer) is worth."""
    if prior == "done":
        return "duplicate"
    if prior == "sending":
        return "wait"
    if prior == "unknown":
        return "unknown"
    if approval == "accepted":
        return "send" if proof in ("none", "valid") else "refused"
    if approval is not None:
        return approval
    if mode == "host":
        return "send"
    by_code: dict[CodeCheck, Outcome | Step] = {"none": "preview", "valid": "send", "changed": "preview"}
    return by_code.get(proof, "refused")


AGAIN = (
    " Nothing was done. Call the tool again without confirmation_code to get a fresh preview, show it to the user "
    "and ask them."
)
ASK_AGAIN = " Nothing was done. Call the tool again so the user is asked again."
REFUSALS: dict[CodeCheck, str] = {
    "malformed": "That is not a confirmation code issued by this server." + AGAIN,
    "other": "The confirmation code does not match these arguments: it was issued for a different request "
    "(the arguments changed since the preview) or it is wrong." + AGAIN,
    "expired": "The confirmation code has expired (codes are valid for 5 minutes)." + AGAIN,
    "used": "The confirmation code has already been used; each code works once." + AGAIN,
    "reset": "The confirmation code was issued before this server's state store was reset (or by a server that "
    "does not share it), so whether it was already used cannot be known." + AGAIN,
}
NOT_YOURS = (
    "The confirmation code does not match this request from you: it was issued for a different request (the "
    "arguments changed since the preview), to another signed-in person (a code works only for the person who saw "
    "its preview), or it is wrong." + AGAIN
)
FORM_REFUSALS: dict[CodeCheck, str] = {
    "replayed": "This answer to the confirmation form was already used; each answer confirms one write." + ASK_AGAIN,
    "reset": "This answer to the confirmation form was given before this server's state store was reset, so "
    "whether it was already used cannot be known." + ASK_AGAIN,
}
STORE_DOWN = (
    "Writes are refused while {problem}: without it a write could be sent twice. Nothing was sent. Reads still "
    "work; try the write again once the store is back (sipsim-mcp doctor checks it)."
)
AUDIT_DOWN = (
    "Writes are refused while {problem}: every write is recorded before it is sent. Nothing was sent. Fix the "
    "file's directory or permissions, or set SIPSIM_AUDIT_LOG (sipsim-mcp doctor checks it)."
)
NOT_KNOWN = (
    "It is not known whether the change was made: check with a read tool (list_calls, list_tags, get_phone...) "
    "before trying again."
)
UNKNOWN = (
    "An identical request was sent {ago} s ago and its outcome is unknown (SIPSIM did not answer in time, failed, "
    "or the server stopped). It was not sent again. Check with {check} whether it took effect before asking the "
    "user again."
)
EARLIER = (
    "Note: an identical request was sent at {when} and its outcome is unknown (SIPSIM did not answer in time, "
    "failed, or the server stopped): check with {check} whether it took effect before confirming this one."
)
#: The read tool that shows whether a write took effect.
CHECK_WITH = {
    "start_call": "list_calls",
    "tag_call": "get_call",
    "untag_call": "get_call",
    "update_phone": "get_phone",
    "request_transcription": "get_transcription",
    "request_summary": "get_summary",
    "enable_webhook": "list_webhook_events",
    "disable_webhook": "list_webhook_events",
}


@dataclass(frozen=True)
class Resolved:
    """A write tool call after validation and name resolution: exactly what would be sent, and who asks
    (`caller`: the signed-in person, None without team sign-in)."""

    tool: str
    arguments: dict[str, Any]  # validated, as JSON (for codes and the audit log)
    endpoint: Endpoint  # the tool's declared endpoint: previewed, confirmed and sent
    plan: WritePlan
    caller: Caller | None = None

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

    @property
    def check_with(self) -> str:
        return CHECK_WITH.get(self.tool, "list_tags" if "tag" in self.tool else "a read tool")


@dataclass
class WriteGate:
    """Confirmation, single use, the duplicate guard and the audit log of every write tool of one server."""

    store: StateStore
    codes: ConfirmationCodes
    audit: AuditLog
    mode: Mode
    deadline: float = 30.0  # the API client's total deadline on one write request (SIPSIM_TIMEOUT)
    guard_seconds: float = GUARD_SECONDS
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))  # of the times a result shows (SIPSIM_TIMEZONE)
    account: str = ""  # the API and client this server writes to: its keys in a store others may share
    shared: SharedSecrets | None = None  # the keys of codes and forms (SIPSIM_CONFIRM_KEY, or the store's)
    generation: str = field(default="", init=False)  # the store's, as last read (sealed into forms)

    @classmethod
    def configured(cls, settings: Settings) -> WriteGate:
        """The gate `settings` describe: their state store, audit log, confirmation mode, deadline and zone."""
        store = open_store(settings)
        confirm_key = settings.confirm_key.get_secret_value() if settings.confirm_key else None
        shared = SharedSecrets(confirm_key, store)
        if settings.audit_log == "off":
            audit = AuditLog(None)
        else:
            audit = AuditLog(settings.audit_log or state_directory(settings.state_dir) / "audit.jsonl")
        return cls(
            store=store,
            codes=ConfirmationCodes(lambda: shared.key("confirmation codes")),
            audit=audit,
            mode=settings.confirm_writes,
            deadline=settings.timeout,
            zone=ZoneInfo(settings.timezone),
            account=_account(settings),
            shared=shared,
        )

    @property
    def form_codec(self) -> SharedCodec:
        """The sealing of confirmation forms' round trips, under this gate's shared secrets."""
        shared = self.shared or SharedSecrets(None, self.store)
        return SharedCodec(lambda: shared.key("request state"))

    def round_trip(self) -> str:
        """The id of a new 2026-07-28 form round trip (sealed into its state): the store generation `ask` read,
        so an answer given before the store lost its data is refused, and a random part (an accepted answer
        confirms one write)."""
        return f"{self.generation}-{secrets.token_urlsafe(12)}"

    async def ask(self, resolved: Resolved) -> str | None:
        """The question of the user's form, or None for a request the duplicate guard answers without asking.
        StoreUnavailable when the store cannot be read."""
        self.generation = await self.store.generation()
        if _state(await self._entry(resolved)) in ("done", "unknown"):
            return None
        earlier = await self._earlier(resolved)
        return f"{resolved.question}\n\n{earlier}" if earlier else resolved.question

    async def run(
        self,
        resolved: Resolved,
        approval: Approval,
        code: str | None,
        send: Callable[[], Awaitable[ApiResponse]],
        output: type[BaseModel],
        form: str | None = None,
    ) -> WriteResult[Any]:
        """Decide, then answer or send once; raises ToolError for refusals and failures. `form` is the id of the
        round trip that carried an accepted form answer (2026-07-28, see `round_trip`), which then works once."""
        try:
            self.generation = await self.store.generation()
            proof: CodeCheck = "none"
            if approval is None and self.mode == "preview":
                subject = self._subject(resolved)
                proof = self.codes.check(subject, resolved.arguments, resolved.fingerprint, code, self.generation)
            elif approval == "accepted" and form is not None and form.split("-", 1)[0] != self.generation:
                proof = "reset"
            outcome, entry, proof, attempt = await self._settle(resolved, approval, proof, code, form)
            if outcome != "send":
                return await self._answer(resolved, outcome, proof, entry, output, approval == "accepted", code)
            await self._audit(resolved, "sending", attempt=attempt)
        except StoreUnavailable as exc:
            await self._audit(resolved, "refused", detail=str(exc))
            raise ToolError(STORE_DOWN.format(problem=exc)) from None
        except AuditUnavailable as exc:
            await self._release(resolved)
            raise ToolError(AUDIT_DOWN.format(problem=exc)) from None
        return await self._send(resolved, send, output, attempt)

    async def _settle(
        self, resolved: Resolved, approval: Approval, proof: CodeCheck, code: str | None, form: str | None
    ) -> tuple[Outcome | Step, dict[str, Any] | None, CodeCheck, str]:
        """The decision, the guard's entry it rests on, the proof's worth and the attempt's id; when the
        decision is "send", the code or form has been used up and the request reserved (after waiting out an
        identical one in flight), for as long as it can be in flight and then the guard window."""
        waited_until: float | None = None
        while True:
            entry = await self._entry(resolved)
            decision = decide(mode=self.mode, approval=approval, proof=proof, prior=_state(entry))
            if decision == "wait":
                waited_until = waited_until or time.monotonic() + self.deadline + SKEW + 1
                if time.monotonic() < waited_until:
                    await anyio.sleep(0.1)
                    continue
                decision = "unknown"
            if decision != "send":
                return decision, entry, proof, ""
            if proof == "valid" and code is not None:
                nonce = ConfirmationCodes.nonce(code)
                if await self.store.claim(f"code:{nonce}", "used", CODE_TTL + 60) is not None:
                    return "refused", entry, "used", ""
                approval, proof = "accepted", "none"  # spent: the user's agreement stands for this request
            if approval == "accepted" and form is not None:
                if await self.store.claim(f"form:{form}", "used", FORM_TTL) is not None:
                    return "refused", entry, "replayed", ""
                form = None  # spent, as above
            now, attempt = time.time(), secrets.token_hex(6)
            sending = {"state": "sending", "at": now, "deadline": now + self.deadline + SKEW, "attempt": attempt}
            held = self.deadline + SKEW + self.guard_seconds
            if await self.store.claim(self._key(resolved), json.dumps(sending), held) is None:
                await self.store.put(self._note(resolved), json.dumps(sending), NOTE_SECONDS)
                return "send", None, proof, attempt

    async def _entry(self, resolved: Resolved) -> dict[str, Any] | None:
        value = await self.store.get(self._key(resolved))
        return json.loads(value) if value else None

    async def _earlier(self, resolved: Resolved) -> str:
        """The note a preview carries when an identical request's outcome is unknown (no longer in flight)."""
        value = await self.store.get(self._note(resolved))
        note = json.loads(value) if value else None
        if note is None or time.time() < note["deadline"]:
            return ""
        when = datetime.fromtimestamp(note["at"], self.zone).strftime("%Y-%m-%d %H:%M %Z")
        return EARLIER.format(when=when, check=resolved.check_with)

    async def _answer(
        self,
        resolved: Resolved,
        outcome: Outcome | Step,
        proof: CodeCheck,
        entry: dict[str, Any] | None,
        output: type[BaseModel],
        by_form: bool,
        code: str | None,
    ) -> WriteResult[Any]:
        statement = resolved.plan.statement
        if outcome == "duplicate":
            assert entry is not None
            earlier = WriteResult[output].model_validate(entry["result"])  # type: ignore[valid-type]
            await self._audit(resolved, "duplicate", request_id=earlier.request_id)
            return earlier.model_copy(
                update={
                    "outcome": "duplicate",
                    "message": "An identical request was made less than a minute ago; it was not sent again. "
                    "This is its result.",
                }
            )
        if outcome == "unknown":
            ago = int(time.time() - (entry or {}).get("at", time.time()))
            await self._audit(resolved, "refused", detail="an identical request's outcome is unknown")
            raise ToolError(UNKNOWN.format(ago=ago, check=resolved.check_with))
        if outcome in ("declined", "cancelled"):
            await self._audit(resolved, outcome)
            message = f"The user did not confirm; nothing was done. (Asked: {statement})"
            return WriteResult(outcome=outcome, message=message)
        if outcome == "preview":
            return await self._preview(resolved, changed_from=code if proof == "changed" else None)
        message = (FORM_REFUSALS if by_form else REFUSALS)[proof]
        if proof == "other" and resolved.caller is not None:
            message = NOT_YOURS
        await self._audit(resolved, "refused", detail=message)
        raise ToolError(message)

    async def _preview(self, resolved: Resolved, changed_from: str | None) -> WriteResult[Any]:
        """A preview and its code; after a confirmation whose request changed, what changed."""
        request = resolved.request.model_dump(mode="json", exclude_none=True)
        statement = resolved.plan.statement
        code, expires = self.codes.issue(
            self._subject(resolved), resolved.arguments, resolved.fingerprint, self.generation
        )
        shown = {"request": request, "statement": statement}
        await self.store.put(f"preview:{ConfirmationCodes.nonce(code)}", json.dumps(shown), CODE_TTL + 60)
        changed = ""
        if changed_from is not None:
            before = await self.store.get(f"preview:{ConfirmationCodes.nonce(changed_from)}")
            changed = _changes(json.loads(before) if before else None, request)
        earlier = await self._earlier(resolved)
        await self._audit(resolved, "preview")
        return WriteResult(
            outcome="preview",
            message=f"{changed}Nothing was done yet. This would: {statement} Show this to the user and ask them "
            f"to confirm. If they agree, call {resolved.tool} again with the same arguments and "
            f"confirmation_code={code!r} (valid 5 minutes, once).{' ' + earlier if earlier else ''}",
            request=resolved.request,
            confirmation_code=code,
            expires_at=expires.astimezone(self.zone),
        )

    async def _send(
        self, resolved: Resolved, send: Callable[[], Awaitable[ApiResponse]], output: type[BaseModel], attempt: str
    ) -> WriteResult[Any]:
        """Send the write once. 2xx: done (whatever the body). 4xx: failed, nothing done. Anything else
        (no answer within the deadline, a 5xx, a redirect, a dropped connection): unknown."""
        try:
            response = await send()
        except SipsimAPIError as exc:
            if exc.status is not None and 200 <= exc.status < 300:
                response = ApiResponse(status=exc.status, request_id=exc.request_id, data=None)
                return await self._done(resolved, response, output, attempt, unreadable="; ".join(exc.errors))
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 499):
                await self._release(resolved)
                await self._audit(resolved, "failed", request_id=exc.request_id, attempt=attempt, detail=str(exc))
                raise
            await self._unknown(resolved, exc.request_id, str(exc), attempt)
            if exc.status is not None and exc.status < 400:  # a redirect: what became of the write is not known
                raise ToolError(f"{exc}. {NOT_KNOWN}") from None
            raise
        except SipsimError as exc:  # token or scope problem: raised before anything was sent
            await self._release(resolved)
            await self._audit(resolved, "failed", attempt=attempt, detail=str(exc))
            raise
        except BaseException as exc:
            await self._unknown(resolved, None, type(exc).__name__, attempt)
            if isinstance(exc, Exception):
                request = f"{resolved.endpoint.method} {resolved.path}"
                raise ToolError(
                    f"The request to SIPSIM ({request}) failed ({type(exc).__name__}). {NOT_KNOWN}"
                ) from exc
            raise
        return await self._done(resolved, response, output, attempt)

    async def _done(
        self,
        resolved: Resolved,
        response: ApiResponse,
        output: type[BaseModel],
        attempt: str,
        unreadable: str | None = None,
    ) -> WriteResult[Any]:
        plan = resolved.plan
        done: WriteResult[Any] = WriteResult[output](  # type: ignore[valid-type]
            outcome="done", message=f"Done: {plan.statement}", request_id=response.request_id
        )
        if unreadable is None:
            try:
                done.result = in_zone(plan.finish(response), self.zone)
            except Exception as exc:  # SIPSIM accepted it: its answer's shape is not the write's outcome
                unreadable = f"{type(exc).__name__}"
        if unreadable is not None:
            shown = canonical(response.data)
            done.returned = response.data if len(shown) <= 500 else excerpt(shown, 500)
            done.note = (
                f"SIPSIM accepted the request (HTTP {response.status}) but answered with something other than the "
                f"expected {output.__name__} ({excerpt(unreadable, 120)}); 'returned' shows what it sent."
            )
        with anyio.CancelScope(shield=True):
            await self._audit(resolved, "done", request_id=response.request_id, attempt=attempt, detail=done.note)
            try:
                if plan.dedupe_key:  # not repeated within the guard window
                    result = done.model_dump(mode="json", exclude_none=True)
                    entry = {"state": "done", "at": time.time(), "result": result}
                    await self.store.put(self._key(resolved), json.dumps(entry, default=str), self.guard_seconds)
                else:  # other writes only never run twice at the same time
                    await self.store.delete(self._key(resolved))
                await self.store.delete(self._note(resolved))
            except StoreUnavailable as exc:
                logger.error("Done, but the duplicate guard could not record it: %s", exc)
        return done

    async def _unknown(self, resolved: Resolved, request_id: str | None, detail: str, attempt: str) -> None:
        """Kept as unknown for the guard window (and mentioned by later previews for NOTE_SECONDS)."""
        with anyio.CancelScope(shield=True):
            await self._audit(resolved, "unknown", request_id=request_id, attempt=attempt, detail=detail)
            now = time.time()
            entry = json.dumps({"state": "unknown", "at": now, "request_id": request_id})
            try:
                await self.store.put(self._key(resolved), entry, self.guard_seconds)
                sent = json.loads(await self.store.get(self._note(resolved)) or "{}")
                note = {"at": sent.get("at", now), "deadline": now}  # settled: no longer in flight
                await self.store.put(self._note(resolved), json.dumps(note), NOTE_SECONDS)
            except StoreUnavailable as exc:
                logger.error("Outcome unknown, and the duplicate guard could not record it: %s", exc)

    async def _release(self, resolved: Resolved) -> None:
        """SIPSIM refused the request (or it was never sent): an identical one may be sent again."""
        with anyio.CancelScope(shield=True):
            try:
                await self.store.delete(self._key(resolved))
                await self.store.delete(self._note(resolved))
            except StoreUnavailable as exc:
                logger.error("Could not release the duplicate guard: %s", exc)

    async def _audit(self, resolved: Resolved, outcome: Outcome, **details: Any) -> None:
        await self.audit.record(
            resolved.tool,
            resolved.arguments,
            outcome,
            request=resolved.request.model_dump(mode="json", exclude_none=True),
            person=resolved.caller.person.audited() if resolved.caller else None,
            **details,
        )

    def _subject(self, resolved: Resolved) -> str:
        """What a code is bound to besides its request: the account, the tool, and the person who saw the
        preview (a code works for them alone)."""
        person = f":{resolved.caller.person.key}" if resolved.caller else ""
        return f"{self.account}:{resolved.tool}{person}"

    def _key(self, resolved: Resolved) -> str:
        return f"{self.account}:{resolved.guard_key}"

    def _note(self, resolved: Resolved) -> str:
        return f"{self.account}:earlier:{resolved.guard_key}"


def _account(settings: Settings) -> str:
    """Which account a server writes to, as its keys in a store other servers may share: SIPSIM's host and
    the client (not the port: every run of the demo, on its own port, is the same account)."""
    host = urlsplit(settings.api_url).hostname or ""
    return hashlib.sha256(f"{host}\n{settings.client_id}".encode()).hexdigest()[:12]


def _state(entry: dict[str, Any] | None) -> Prior:
    """The guard's state; a request still "sending" past its deadline was abandoned: its outcome is unknown."""
    if entry is None:
        return None
    if entry.get("state") == "sending" and time.time() > entry.get("deadline", 0):
        return "unknown"
    return entry.get("state")


def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """What changed since the preview, in one sentence."""
    if before is None:
        return "The request changed since the previous preview (a name now points elsewhere), so nothing was sent. "
    old, new = _flat(before["request"]), _flat(after)
    diff = "; ".join(
        f"{key}: {old.get(key, '(none)')} -> {new.get(key, '(none)')}"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    )
    return (
        f"The request changed since the previous preview, so nothing was sent: {diff or 'its details'}. The preview "
        f"said: {before['statement']} "
    )


def _flat(request: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in request.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return flat


def in_zone(value: Any, zone: tzinfo) -> Any:
    """`value` with every time in it (in models and lists) shown in `zone`: results read in the server's zone."""
    if isinstance(value, datetime):
        return value.astimezone(zone) if value.tzinfo is not None else value
    if isinstance(value, list):
        return [in_zone(item, zone) for item in value]
    if isinstance(value, BaseModel):
        changed = {}
        for name in type(value).model_fields:
            current = getattr(value, name)
            shown = in_zone(current, zone)
            if shown is not current:
                changed[name] = shown
        return value.model_copy(update=changed) if changed else value
    return value
