"""`sipsim-mcp doctor`: is the setup right? Configuration, credentials, configured vs granted scopes,
which tools are offered (and why the others are not), and whether the API answers."""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Literal

import anyio
from pydantic import BaseModel, Field

from .. import __version__
from ..api import endpoints as ep
from ..api.client import SipsimClient
from ..api.config import ConfigError, Settings, load_settings
from ..api.errors import SipsimError, TokenError
from ..api.models import Account
from ..mcp.server import availability
from ..mcp.signin import check_sign_in
from ..mcp.state import StoreUnavailable, open_store
from .demo import demo_environment, demo_settings
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
    """The store the write guards share: writes are refused while it cannot be reached."""
    try:
        store = open_store(settings.state_url)
        try:
            await store.check()
        finally:
            await store.aclose()
    except StoreUnavailable as exc:
        report.add("state", "fail", f"{exc}: writes would be refused (reads still work). Check SIPSIM_STATE_URL.")
        return
    shared = "" if settings.state_url else "; set SIPSIM_STATE_URL to share it between replicas or --workers"
    report.add("state", "ok", f"write guards {store.description}{shared}")


async def diagnose(settings: Settings, report: Report | None = None, *, probe: bool = False) -> Report:
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
            with demo_environment(now=settings.now) as sandbox:
                report.add("demo", "ok", f"the bundled SIPSIM simulator at {sandbox.base_url}, no real account used")
                await diagnose(demo_settings(sandbox), report, probe=probe)
        else:
            await diagnose(settings, report, probe=probe)

    try:
        anyio.run(main)
    except ConfigError as exc:
        report.add("configuration", "fail", str(exc))
    sys.stdout.write((report.model_dump_json(indent=2) if as_json else render(report)) + "\n")
    return 0 if report.ok else 1
