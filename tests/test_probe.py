"""`doctor --probe` against every simulator variant: it names each difference from the documented and inferred
shape, and never a value."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import httpx
import pytest

from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.app.probe import ProbeReport, probe, render_probe
from sipsim_mcp.sandbox import VARIANTS, Sandbox, SandboxConfig

from .conftest import NOW, settings_for

pytestmark = pytest.mark.anyio

#: What the probe must report for each variant: (endpoint path, field, state, a type or value class seen).
FINDINGS: dict[str, list[tuple[str, str, str, str]]] = {
    "string_ids": [("/tags", "id", "other type", "string"), ("/calls", "phone_id", "other type", "string")],
    "tags_as_ids": [("/calls", "tags[]", "other type", "integer")],
    "tags_as_names": [("/calls", "tags[]", "other type", "string")],
    "mixed_case": [("/calls", "status", "other values", "answer"), ("/calls", "direction", "other values", "INBOUND")],
    "naive_times": [("/calls", "start_time", "other values", "ISO 8601 without zone")],
    "epoch_times": [("/calls", "start_time", "other type", "integer")],
    "string_durations": [("/calls", "duration", "other type", "string")],
    "no_plus_numbers": [("/calls", "caller_number", "other values", "digits without +")],
    "minimal_call": [("/calls", "call_type", "missing", "missing"), ("/calls", "start_time", "missing", "missing")],
}


async def probe_of(variant: str) -> ProbeReport:
    sandbox = Sandbox(SandboxConfig(anchor=NOW, calls=300, variant=variant))
    where = SimpleNamespace(api_url="http://127.0.0.1/api/v2", token_url="http://127.0.0.1/oauth/token")
    async with SipsimClient(settings_for(where), transport=httpx.ASGITransport(app=sandbox.app)) as api:
        return await probe(api, NOW)


def differences(report: ProbeReport) -> set[tuple[str, str, str]]:
    return {(e.path, f.name, f.state) for e in report.endpoints for f in e.fields if f.state != "as expected"}


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_the_probe_reports_each_variant_s_differences(variant):
    report = await probe_of(variant)
    assert [e.path for e in report.endpoints if e.error is None][:3] == ["/account", "/calls", "/calls/{call_id}"]
    expected = FINDINGS.get(variant, [])
    for path, name, state, seen in expected:
        field = next(f for e in report.endpoints if e.path == path for f in e.fields if f.name == name)
        assert field.state == state and seen in (field.words or field.seen), (variant, name, field)
    if not expected:  # same fields and types as the standard shape
        assert differences(report) == set(), variant
    pagination = {e.path: e.pagination for e in report.endpoints if e.error is None}
    if variant in ("no_pagination", "never_paginated"):
        assert pagination["/tags"] is None
    elif variant == "loose_pagination":
        assert pagination["/calls"] == {"count": "integer", "page": "integer", "has_more": "null"}
    else:
        assert pagination["/tags"] == {"count": "integer", "limit": "integer", "has_more": "boolean"}


async def test_the_probe_text_carries_no_value():
    report = await probe_of("standard")
    sandbox = Sandbox(SandboxConfig(anchor=NOW, calls=300))
    text = render_probe(report) + report.model_dump_json()
    values = {c["caller_number"] for c in sandbox.data.calls} | {c["caller_name"] for c in sandbox.data.calls}
    values |= {str(c["id"]) for c in sandbox.data.calls} | {p["name"] for p in sandbox.data.phones}
    values |= {t["name"] for t in sandbox.data.tags} | {sandbox.data.account["company_name"]}
    assert not [value for value in values if value and value in text]
    assert "GET /calls: HTTP 200, 20 item(s)" in text and "extra key: plan: string 1" in text


def test_doctor_probe_from_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", "doctor", "--demo", "--probe", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert {e["path"] for e in report["probe"]["endpoints"]} >= {"/account", "/calls", "/phones", "/tags"}
    help_text = subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", "doctor", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--probe" in help_text
