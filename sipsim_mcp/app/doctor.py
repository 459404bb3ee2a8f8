"""`sipsim-mcp doctor`: is the setup right? Configuration, credentials, configured vs granted scopes,
which tools are offered (and why the others are not), whether the API answers, and, when the webhook
receiver is configured, whether a signed test event reaches the event store through it."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import anyio
import httpx
from pydantic import BaseModel, Field

from .. import __version__
from ..api import endpoints as ep
from ..api.client import SipsimClient
from ..api.config import ConfigError, Settings, load_settings
from ..api.errors import SipsimError, TokenError
from ..api.events import EventLog, EventLogUnavailable, open_event_log
from ..api.models import Account
from ..api.redact import REDACTOR
from ..api.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from ..mcp.confirm import unresolved
from ..mcp.receiver import receiver_app, receiver_from_settings
from ..mcp.server import availability
from ..mcp.signin import check_sign_in
from ..state import StoreUnavailable, open_store, state_directory
from ..tools.account import receiver_url
from .demo import demo_environment, demo_settings
from .live import serve_in_thread
from .probe import ProbeReport, render_probe
from .probe import probe as probe_api

Status = Literal["ok", "warn", "fail"]


class Check(BaseModel):
    name: str
    status: Status
    detail: str


class ScopeReport(BaseModel):
    """The scopes in effect (SIPSIM_SCOPES, or its default when unset), and which SIPSIM granted: `granted`
    is None (unknown) until a token was obtained."""

    configured: list[str] = Field(default_factory=list)
    granted: list[str] | None = None
    not_granted: list[str] | None = None


class ToolReport(BaseModel):
    enabled: list[str] = Field(default_factory=list)
    hidden: dict[str, str] = Field(default_factory=dict)


class Report(BaseModel):
    version: str = __version__
    ok: bool = True
    checks: list[Check] = Field(default_factory=list)
    scopes: ScopeReport = Field(default_factory=ScopeReport)
    tools: ToolReport = Field(default_factory=ToolReport)
    probe: ProbeReport | None = Field(None, description="doctor --probe: how the API's answers compare with the docs")

    def add(self, name: str, status: Status, detail: str) -> None:
        self.checks.append(Check(name=name, status=status, detail=detail))
        self.ok = self.ok and status != "fail"


async def _scopes(api: SipsimClient, settings: Settings, report: Report) -> bool:
    configured = settings.scopes
    try:
        granted = await api.tokens.granted(configured)
    except TokenError as exc:
        if exc.error != "invalid_scope":
            report.add("token", "fail", str(exc))
            return False
        granted = frozenset()
        for scope in sorted(configured):  # find out which ones SIPSIM refuses
            with contextlib.suppress(TokenError):
                granted |= await api.tokens.granted(frozenset({scope}))
    report.scopes.granted = sorted(granted & configured)
    report.scopes.not_granted = sorted(configured - granted)
    if report.scopes.not_granted:
        missing = " ".join(report.scopes.not_granted)
        report.add(
            "token",
            "fail",
            f"SIPSIM_SCOPES lists {missing}, which the integration is not granted: enable them in the SIPSIM "
            "dashboard, or remove them from SIPSIM_SCOPES (the tools that need them are then hidden).",
        )
        return False
    report.add("token", "ok", f"got a token; all {len(configured)} configured scopes are granted")
    return True


async def _api(api: SipsimClient, settings: Settings, report: Report) -> None:
    probe = next((e for e in (ep.GET_ACCOUNT, ep.LIST_TAGS, ep.LIST_PHONES) if e.scope_for(settings.scopes)), None)
    if probe is None:
        report.add("api", "warn", "no read scope (account.read, tags.read, phones.read) to test the API with")
        return
    started = time.monotonic()
    try:
        response = await api.request(probe, params={"limit": 20} if probe is not ep.GET_ACCOUNT else None)
    except SipsimError as exc:
        report.add("api", "fail", str(exc))
        return
    elapsed = (time.monotonic() - started) * 1000
    detail = (
        f"{probe.method} {probe.path} answered {response.status} in {elapsed:.0f} ms (request_id {response.request_id})"
    )
    if probe is ep.GET_ACCOUNT:
        detail += f"; account {Account.model_validate(response.data).company_name!r}"
    report.add("api", "ok", detail)


async def _state(settings: Settings, report: Report) -> None:
    """The store the write guards share, named and tried (read and written): writes are refused without it."""
    store = None
    try:
        store = open_store(settings)
        await store.check()
        generation = await store.generation()
    except StoreUnavailable as exc:
        where = "SIPSIM_STATE_URL" if settings.state_url else "SIPSIM_STATE_DIR (or SIPSIM_STATE_URL)"
        report.add("state", "fail", f"{exc}: writes would be refused (reads still work). Check {where}.")
        return
    finally:
        if store is not None:
            await store.aclose()
    report.add("state", "ok", f"{store.description}, shared by {store.reach} (generation {generation})")


async def _audit(settings: Settings, report: Report) -> None:
    """The audit log: where it is, whether it can be written, and the writes whose outcome is unknown."""
    if settings.audit_log == "off":
        report.add("audit", "warn", "off (SIPSIM_AUDIT_LOG=off): writes are sent with no record of them")
        return
    path = settings.audit_log or state_directory(settings.state_dir) / "audit.jsonl"
    existing = next((part for part in (path, *path.parents) if part.exists()), None)
    writable = existing is not None and os.access(existing, os.W_OK) and (existing == path or existing.is_dir())
    if not writable:
        report.add("audit", "fail", f"{path} cannot be written: writes would be refused. Check SIPSIM_AUDIT_LOG.")
        return
    now = time.time()
    unknown = await anyio.to_thread.run_sync(
        lambda: unresolved(path, since=now - AUDIT_DAYS * 86_400, settled_before=now - settings.timeout - 10)
    )
    if not unknown:
        report.add("audit", "ok", f"{path}; no write of unknown outcome in the last {AUDIT_DAYS} days")
        return
    zone = ZoneInfo(settings.timezone)
    listed = "; ".join(_unknown_write(line, zone) for line in unknown[-5:])
    report.add(
        "audit",
        "warn",
        f"{len(unknown)} write(s) of the last {AUDIT_DAYS} days have an unknown outcome (SIPSIM did not answer, or "
        f"the server stopped mid-request): {listed}. Check each with a read tool (list_calls for a call) before "
        f"doing it again. Audit log: {path}",
    )


AUDIT_DAYS = 7


def _unknown_write(line: dict[str, Any], zone: ZoneInfo) -> str:
    when = datetime.fromisoformat(line["time"].replace("Z", "+00:00")).astimezone(zone).strftime("%Y-%m-%d %H:%M")
    request = line.get("request") or {}
    body = json.dumps(request.get("body"), ensure_ascii=False) if request.get("body") else ""
    person = line.get("person")
    by = f" (asked by {person.get('email') or person.get('sub')})" if isinstance(person, dict) and person else ""
    return f"{when} {line.get('tool')} {request.get('method', '')} {request.get('path', '')} {body}".rstrip() + by


#: Seconds the receiver gets to answer a test event, and then to show it in the event store.
RECEIVER_SECONDS = 5.0


async def _receiver(settings: Settings, report: Report, url: str | None = None) -> None:
    """The webhook receiver end to end: a `test` event signed with SIPSIM_WEBHOOK_SECRET is posted to it (at
    `url`, else at its public address, else to one started here on the same settings) and must be answered
    as SIPSIM's dashboard test is, then found in the event store this server reads."""
    if not settings.webhook_secrets:
        report.add("receiver", "ok", "off: set SIPSIM_WEBHOOK_SECRET for live calls (recent_call_events)")
        return
    try:
        log = open_event_log(settings.events_store)
        await log.check()
    except EventLogUnavailable as exc:
        report.add("receiver", "fail", f"{exc}: webhooks cannot be kept. Check SIPSIM_EVENTS_URL.")
        return
    async with AsyncExitStack() as stack:
        stack.push_async_callback(log.aclose)
        local = url is None and receiver_url(settings) is None
        if local:  # no public address to reach: the receiver this configuration makes, on loopback
            app = receiver_app(receiver_from_settings(settings, log), settings.webhook_path)
            url = stack.enter_context(serve_in_thread(app)) + settings.webhook_path
        target = url or receiver_url(settings) or ""
        problem = await _post_test(settings, target, log)
    if problem:
        report.add("receiver", "fail", problem)
        return
    where = (
        f"a receiver started here on this configuration (set SIPSIM_MCP_PUBLIC_URL to check the deployed one "
        f"through its HTTPS address, {settings.webhook_path})"
        if local
        else target
    )
    report.add("receiver", "ok", f"a signed test event posted to {where} was accepted and kept in {log.description}")


async def _post_test(settings: Settings, url: str, log: EventLog) -> str | None:
    """Post one signed test event to `url` and look for it in `log`; what went wrong, or None."""
    now = settings.clock()()
    marker = now.isoformat(timespec="microseconds")
    body = json.dumps({"event": "test", "message": "sipsim-mcp doctor", "timestamp": marker, "pbx_id": "test_000000"})
    stamp = str(int(now.timestamp()))
    secret = settings.webhook_secrets[0].encode()
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: sign(secret, stamp.encode(), body.encode()),
    }
    try:
        async with httpx.AsyncClient(timeout=RECEIVER_SECONDS) as http:
            answer = await http.post(url, content=body.encode(), headers=headers)
    except httpx.HTTPError as exc:
        return f"the receiver at {url} could not be reached ({type(exc).__name__}): is it running, at that URL?"
    if answer.status_code == 401:
        return (
            f"the receiver at {url} refused the signature: it checks another SIPSIM_WEBHOOK_SECRET than this one "
            "(or its clock is off by more than SIPSIM_WEBHOOK_MAX_AGE)."
        )
    if answer.status_code != 200:
        return f"the receiver at {url} answered {answer.status_code} to a signed test event."
    deadline = time.monotonic() + RECEIVER_SECONDS
    since = (now - timedelta(minutes=5)).timestamp()
    while time.monotonic() < deadline:
        events = await log.recent(since)
        if any(e.kind == "test" and marker in e.body for e in events):
            return None
        await anyio.sleep(0.2)
    return (
        f"the receiver at {url} accepted the test event, but it is not in {log.description}: it keeps its events "
        "elsewhere. Give the receiver and this server the same SIPSIM_EVENTS_URL."
    )


async def diagnose(
    settings: Settings, report: Report | None = None, *, probe: bool = False, receiver: str | None = None
) -> Report:
    report = report or Report()
    report.scopes.configured = sorted(settings.scopes)  # in effect, whether SIPSIM_SCOPES is set or not
    report.add(
        "configuration",
        "ok",
        f"API {settings.api_url}, token URL {settings.token_url}, timeout {settings.timeout:g} s, writes confirmed "
        f"by {settings.confirm_writes!r}, time zone {settings.timezone}",
    )
    if settings.unknown_scopes:
        report.add(
            "scopes", "warn", f"scopes not named in the SIPSIM docs: {' '.join(sorted(settings.unknown_scopes))}"
        )
    for check in await check_sign_in(settings):  # only when HTTP sign-in is configured
        report.add(check.name, check.status, check.detail)
    try:
        reasons = availability(settings)
    except ConfigError as exc:
        report.add("tools", "fail", str(exc))
        return report
    report.tools.enabled = [name for name, why in reasons.items() if why is None]
    report.tools.hidden = {name: why for name, why in reasons.items() if why is not None}
    report.add(
        "tools",
        "ok" if report.tools.enabled else "warn",
        f"{len(report.tools.enabled)} of {len(reasons)} tools offered",
    )
    if report.tools.enabled and not settings.read_only:
        await _state(settings, report)
        await _audit(settings, report)
    await _receiver(settings, report, receiver)
    try:
        client_id, _ = settings.require_credentials()
    except ConfigError as exc:
        report.add("credentials", "fail", str(exc))
        return report
    report.add("credentials", "ok", f"client id {client_id!r}, secret set")
    async with SipsimClient(settings) as api:
        if await _scopes(api, settings, report):
            await _api(api, settings, report)
            if probe:
                report.probe = await probe_api(api, settings.clock()())
    return report


def render(report: Report) -> str:
    marks = {"ok": " ok ", "warn": "warn", "fail": "FAIL"}
    lines = [f"sipsim-mcp doctor {report.version}"]
    lines += [f"[{marks[c.status]}] {c.name}: {c.detail}" for c in report.checks]
    if report.scopes.configured:
        granted = report.scopes.granted
        lines.append(f"scopes configured: {' '.join(report.scopes.configured)}")
        if granted is None:
            lines.append("scopes granted:    unknown (no token was obtained)")
        else:
            lines.append(f"scopes granted:    {' '.join(granted) or 'none of them'}")
    if report.tools.enabled:
        lines.append(f"tools offered: {', '.join(report.tools.enabled)}")
    for name, why in report.tools.hidden.items():
        lines.append(f"  hidden {name}: {why}")
    if report.probe is not None:
        lines.append(render_probe(report.probe))
    lines.append("all good" if report.ok else "problems found: see FAIL above")
    return "\n".join(lines)


def run_doctor(*, demo: bool, as_json: bool, probe: bool = False) -> int:
    """Print the report on stdout (text or JSON, a configuration error included); 0 when all is well,
    1 otherwise. Demo mode comes from `demo` (--demo) or SIPSIM_DEMO."""
    report = Report()

    async def main() -> None:
        settings = load_settings()
        if demo or settings.demo:
            with demo_environment(now=settings.now, live_rate=settings.demo_live_rate) as sandbox:
                report.add("demo", "ok", f"the bundled SIPSIM simulator at {sandbox.base_url}, no real account used")
                receiver = sandbox.live.url if sandbox.live is not None else None
                await diagnose(demo_settings(sandbox), report, probe=probe, receiver=receiver)
        else:
            await diagnose(settings, report, probe=probe)

    try:
        anyio.run(main)
    except ConfigError as exc:
        report.add("configuration", "fail", str(exc))
    text = report.model_dump_json(indent=2) if as_json else render(report)
    sys.stdout.write(REDACTOR.redact(text) + "\n")  # SIPSIM may have echoed a secret or token in any detail
    return 0 if report.ok else 1
