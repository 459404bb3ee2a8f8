"""No secret in any output: a SIPSIM gateway that echoes the Authorization header, the bearer token and the
client secret (in error bodies, headers and redirects) reaches none of what a person or model sees: `doctor`
plain, `--json` and `--probe`, the logs at DEBUG (the most that is logged), tool results and errors,
resources, the audit log and the HTTP transport's error pages. Real processes throughout."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sipsim_mcp.api.redact import Redactor
from sipsim_mcp.sandbox import Fault
from sipsim_mcp.sandbox.config import ClientSpec

from .conftest import make_sandbox
from .external import ROOT, against
from .replicas import ServerProcess

pytestmark = [pytest.mark.anyio, pytest.mark.clock]

CLIENT, SECRET = "echo-client", "s3cr3t/Echo+&=K9"  # URL-encoding changes it: both forms must go
MCP_TOKEN = "mcp-bearer-" + "t" * 30
CONFIRM_KEY = "confirm-key-" + "c" * 30


@pytest.fixture
def echoing() -> Iterator[object]:
    sandbox = make_sandbox(clients=[ClientSpec(CLIENT, SECRET)])
    yield sandbox
    sandbox.stop()


def environment(sandbox: object, **extra: str) -> dict[str, str]:
    return {
        **against(sandbox),
        "SIPSIM_CLIENT_ID": CLIENT,
        "SIPSIM_CLIENT_SECRET": SECRET,
        "SIPSIM_LOG_LEVEL": "DEBUG",
        "SIPSIM_CONFIRM_KEY": CONFIRM_KEY,
        "SIPSIM_MCP_AUTH_TOKEN": MCP_TOKEN,
        **extra,
    }


def secrets_in(text: str, sandbox: object) -> list[str]:
    """Each secret (in any form an echo takes) found in `text`."""
    basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
    tokens = sandbox.issued_tokens()  # type: ignore[attr-defined]
    assert tokens, "the simulator issued no token: nothing was tested"
    forms = {SECRET, quote(SECRET, safe=""), quote_plus(SECRET), basic, MCP_TOKEN, CONFIRM_KEY, *tokens}
    return sorted(form for form in forms if form in text)


def echo_faults(sandbox: object, times: int = 50) -> None:
    """Echoes on the endpoints a doctor, a probe and the tools below read or write (the token endpoint
    answers normally: the echoes carry the tokens it issued)."""
    for path, status in [
        ("/api/v2/account", 403),
        ("/api/v2/tags", 302),
        ("/api/v2/phones", 400),
        ("/api/v2/calls", 502),
        ("/api/v2/webhooks", 307),
    ]:
        sandbox.add_fault(Fault(path=path, echo=True, status=status, times=times))  # type: ignore[attr-defined]


@pytest.mark.parametrize("options", [[], ["--json"], ["--probe"], ["--json", "--probe"]])
def test_doctor_shows_no_secret_sipsim_echoed(echoing, options):
    echo_faults(echoing)
    done = subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", "doctor", *options],
        cwd=ROOT,
        env=environment(echoing),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    shown = done.stdout + done.stderr
    assert "[redacted]" in shown  # the echoes did reach the output, scrubbed
    assert "FAIL" in shown or '"ok": false' in shown
    assert secrets_in(shown, echoing) == []


def test_a_token_refusal_that_echoes_the_secret_shows_none(echoing):
    echoing.add_fault(Fault(path="/oauth/token", echo=True, status=401, times=5))
    done = subprocess.run(
        [sys.executable, "-m", "sipsim_mcp", "doctor"],
        cwd=ROOT,
        env=environment(echoing),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "[FAIL] token" in done.stdout
    forms = {SECRET, quote(SECRET, safe=""), base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()}
    assert [form for form in forms if form in done.stdout + done.stderr] == []


async def test_a_server_at_debug_shows_no_secret_in_results_logs_audit_or_error_pages(echoing, tmp_path):
    server = ServerProcess(echoing, tmp_path / "server.log", SIPSIM_CONFIRM_WRITES="host")
    server.popen["env"] = environment(echoing, SIPSIM_CONFIRM_WRITES="host")
    seen: list[str] = []
    with server:
        async with httpx2.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {MCP_TOKEN}"}) as http:
            async with Client(streamable_http_client(server.url, http_client=http)) as client:
                seen.append(json.dumps((await client.call_tool("get_account", {})).model_dump(mode="json")))
                echo_faults(echoing)
                for tool, arguments in [
                    ("list_tags", {}),
                    ("list_phones", {}),
                    ("get_account", {}),
                    ("list_webhook_events", {}),
                    ("list_calls", {"since": "yesterday"}),
                    ("start_call", {"line": "101", "number": "+33 6 12 34 56 78"}),
                    ("create_tag", {"name": "Echoed"}),
                ]:
                    result = await client.call_tool(tool, arguments)
                    seen.append(json.dumps(result.model_dump(mode="json")))
                for uri in ("sipsim://lines", "sipsim://tags"):
                    try:
                        seen.append(json.dumps((await client.read_resource(uri)).model_dump(mode="json")))
                    except Exception as exc:  # an error answer: its text is what the client shows
                        seen.append(str(exc))
            for wrong in ("Bearer wrong", f"Basic {base64.b64encode(b'x:y').decode()}"):  # error pages
                page = await http.post(server.url, headers={"Authorization": wrong}, json={})
                seen.append(f"{page.status_code} {page.headers} {page.text}")
    outputs = "\n".join(seen)
    log = (tmp_path / "server.log").read_text()
    audit = (Path(os.environ["XDG_STATE_HOME"]) / "sipsim-mcp" / "audit.jsonl").read_text()
    assert "[redacted]" in outputs and "[redacted]" in log and "[redacted]" in audit  # the echoes came through
    leaks = secrets_in(outputs, echoing)
    assert leaks == [], [
        line[max(0, line.find(leaks[0]) - 300) : line.find(leaks[0]) + 100] for line in seen if leaks[0] in line
    ]
    assert secrets_in(log, echoing) == []
    assert secrets_in(audit, echoing) == []


def test_the_redactor_scrubs_encoded_forms_and_credentials_it_was_not_told_of():
    """Known secrets in every form, everywhere; credentials by their shape in the server's own words."""
    redactor = Redactor()
    redactor.add("p@ss/word+1")
    assert redactor.scrub("a=p%40ss%2Fword%2B1 password: kept") == "a=[redacted] password: kept"  # account data
    text = redactor.redact(
        "a=p@ss/word+1 b=p%40ss%2Fword%2B1 c=p%40ss/word%2B1 Authorization: Bearer abcdefghijklmnop "
        'Basic ZWNoby1jbGllbnQ6c2VjcmV0 {"access_token": "xyz123", "client_secret":"qq"} '
        "?refresh_token=rt-1&x=1 a basic question, the bearer of news"
    )
    assert text == (
        "a=[redacted] b=[redacted] c=[redacted] Authorization: Bearer [redacted] "
        'Basic [redacted] {"access_token": "[redacted]", "client_secret":"[redacted]"} '
        "?refresh_token=[redacted]&x=1 a basic question, the bearer of news"
    )
