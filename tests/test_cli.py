"""The command line as users run it: the demo (tour and stdio server), doctor, the simulator, logs."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters

from sipsim_mcp.api.config import DEFAULT_SCOPES
from sipsim_mcp.app.doctor import diagnose, render
from sipsim_mcp.app.tour import tour
from sipsim_mcp.sandbox import ClientSpec, Sandbox, SandboxConfig

from .conftest import NOW, settings_for
from .external import ROOT, against, in_a_terminal, server_env
from .mcp_helpers import data
from .replicas import Command

pytestmark = [pytest.mark.anyio, pytest.mark.clock]


async def run(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    with anyio.fail_after(120):
        return await anyio.run_process(
            [sys.executable, "-m", "sipsim_mcp", *args], cwd=ROOT, env=server_env(**env), check=False
        )


async def test_demo_serves_the_simulator_over_stdio_as_a_host_launches_it():
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "sipsim_mcp", "--demo"], cwd=str(ROOT), env=server_env()
    )
    async with Client(params, mode="legacy") as client:
        tools = (await client.list_tools()).tools
        summary = data(await client.call_tool("summarize_calls", {"since": "last_30_days", "group_by": ["line"]}))
    assert len(tools) == 22  # the demo has every scope, and live calls
    assert summary["totals"]["calls"] > 100 and summary["window"]["timezone"] == "Europe/Paris"


async def test_the_demo_tour_shows_tools_answers_and_a_write_preview(shared_sandbox):
    lines: list[str] = []
    await tour(settings_for(shared_sandbox), lines.append)
    text = "\n".join(lines)
    assert "21 tools" in text  # not live: no webhook receiver
    assert "-> summarize_calls" in text and "window: last_week" in text
    assert 'outcome: "preview"' in text and "Nothing was done yet" in text
    assert "claude mcp add --scope user sipsim-demo" in text


async def test_doctor_demo_passes_with_readable_output():
    human = await run("doctor", "--demo")
    text = human.stdout.decode()
    assert human.returncode == 0, text
    assert "[ ok ] demo: the bundled SIPSIM simulator" in text and "all good" in text


@pytest.mark.parametrize(
    ("args", "env"),
    [(("doctor", "--demo"), {}), (("--demo", "doctor"), {}), (("doctor",), {"SIPSIM_DEMO": "true"})],
    ids=["after", "before", "environment"],
)
async def test_doctor_in_demo_mode_however_it_is_asked_for(args, env):
    result = await run(*args, "--json", **env)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"] is True, report
    assert report["scopes"]["granted"] == report["scopes"]["configured"]
    assert len(report["tools"]["enabled"]) == 22
    assert [check["name"] for check in report["checks"]] == [
        "demo",
        "configuration",
        "sign-in",
        "tools",
        "state",
        "audit",
        "receiver",
        "credentials",
        "token",
        "api",
    ]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
async def test_doctor_reports_a_configuration_error_on_stdout_in_either_format(as_json):
    result = await run("doctor", *(["--json"] if as_json else []), SIPSIM_TIMEZONE="Paris")
    out = result.stdout.decode()
    assert result.returncode == 1
    if as_json:
        report = json.loads(out)
        assert report["ok"] is False and report["scopes"]["granted"] is None
        [check] = report["checks"]
        assert check["name"] == "configuration" and check["status"] == "fail"
        assert "SIPSIM_TIMEZONE 'Paris' is not an IANA time zone" in check["detail"]
    else:
        assert "[FAIL] configuration: Invalid configuration: SIPSIM_TIMEZONE 'Paris'" in out


async def test_doctor_without_credentials_fails_and_says_what_to_set():
    result = await run("doctor")
    out = result.stdout.decode()
    assert result.returncode == 1
    assert "[FAIL] credentials" in out and "SIPSIM_CLIENT_ID" in out
    assert "hidden get_transcription: needs the scope calls.transcription.read" in out
    assert f"scopes configured: {' '.join(sorted(DEFAULT_SCOPES))}" in out


async def test_doctor_json_shows_the_scopes_in_effect_when_none_are_set():
    """SIPSIM_SCOPES unset: the default scopes are the ones in effect, and the tools offered follow them."""
    report = json.loads((await run("doctor", "--json")).stdout)
    assert report["scopes"]["configured"] == sorted(DEFAULT_SCOPES)
    assert report["scopes"]["granted"] is None  # no credentials: SIPSIM was not asked
    assert len(report["tools"]["enabled"]) == 14


async def test_doctor_reports_scopes_that_are_configured_but_not_granted():
    limited = ClientSpec("demo", "demo-secret", scopes=frozenset({"account.read", "calls.read", "phones.read"}))
    with Sandbox(SandboxConfig(anchor=NOW, clients=[limited], calls=200)) as sandbox:
        report = await diagnose(settings_for(sandbox, scopes="account.read calls.read tags.read"))
    assert report.ok is False
    assert report.scopes.not_granted == ["tags.read"]
    assert report.scopes.granted == ["account.read", "calls.read"]
    token = next(c for c in report.checks if c.name == "token")
    assert token.status == "fail" and "tags.read" in token.detail and "SIPSIM_SCOPES" in token.detail


async def test_doctor_reports_wrong_credentials_and_does_not_guess_the_granted_scopes(shared_sandbox):
    report = await diagnose(settings_for(shared_sandbox, client_secret="not-the-secret"))
    assert report.ok is False
    assert any(c.name == "token" and "invalid_client" in c.detail for c in report.checks)
    assert "not-the-secret" not in report.model_dump_json()
    assert report.scopes.granted is None and report.scopes.not_granted is None
    assert "scopes granted:    unknown (no token was obtained)" in render(report)


def test_the_sandbox_command_serves_the_simulator(tmp_path):
    small = ["--calls", "300", "--seed", "3"]
    with Command(
        lambda port: [sys.executable, "-m", "sipsim_mcp", "sandbox", "--port", str(port), *small],
        tmp_path / "sandbox.log",
        "sipsim-mcp sandbox",
        cwd=ROOT,
        env=server_env(),
    ) as sandbox:
        port = sandbox.port
        token = httpx.post(
            f"http://127.0.0.1:{port}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"},
        )
        account = httpx.get(
            f"http://127.0.0.1:{port}/api/v2/account",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    banner = sandbox.log.read_text()
    assert f"http://127.0.0.1:{port}/api/v2" in banner and "demo-secret" in banner
    assert account.json()["data"]["company_name"] == "Acme Corporation"


@pytest.mark.parametrize(("level", "http_lines"), [("INFO", False), ("DEBUG", True)])
async def test_logs_go_to_stderr_at_the_chosen_level_without_secrets(shared_sandbox, tmp_path, level, http_lines):
    from mcp.client.stdio import stdio_client

    errlog = tmp_path / "stderr.log"
    env = against(shared_sandbox, SIPSIM_LOG_LEVEL=level)
    params = StdioServerParameters(command=sys.executable, args=["-m", "sipsim_mcp"], cwd=str(ROOT), env=env)
    with errlog.open("w") as handle:
        async with Client(stdio_client(params, errlog=handle)) as client:
            await client.call_tool("list_tags", {})
            await client.call_tool("get_call", {"call_id": "1"})  # a failing call is logged too
    text = errlog.read_text()
    assert ("HTTP Request:" in text) is http_lines
    assert "get_call" in text
    assert "demo-secret" not in text
    assert not any(token in text for token in shared_sandbox.issued_tokens())


def test_the_readme_demo_command_in_a_terminal_shows_the_tour():
    """`sipsim-mcp --demo` typed by a person (stdin a terminal) tours the server and exits."""
    output, code = in_a_terminal([sys.executable, "-m", "sipsim_mcp", "--demo"], server_env())
    text = output.decode()
    assert code == 0, text
    assert "22 tools" in text and "-> summarize_calls" in text and "the tour ends here" in text
    assert "WARNING" not in text  # start-up lines are INFO, below the default level


def test_a_bare_command_in_a_terminal_says_what_it_waits_for():
    env = server_env(SIPSIM_CLIENT_ID="id", SIPSIM_CLIENT_SECRET="secret")
    output, code = in_a_terminal([sys.executable, "-m", "sipsim_mcp"], env, until=b"quits")
    text = output.decode()
    assert code is None  # still waiting for a client when stopped
    assert "waits for an MCP client" in text and "sipsim-mcp --demo" in text and "Connect a client" in text


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({}, "It is not set up yet: SIPSIM credentials are missing: set SIPSIM_CLIENT_ID and SIPSIM_CLIENT_SECRET"),
        ({"SIPSIM_TIMEZONE": "Paris"}, "It is not set up yet: Invalid configuration: SIPSIM_TIMEZONE 'Paris'"),
    ],
    ids=["no-credentials", "invalid-setting"],
)
def test_a_bare_command_that_is_not_set_up_explains_first_and_logs_nothing_in_a_terminal(env, problem):
    """A person who types `sipsim-mcp` reads what it is, then what is missing and how to fix it; no timestamped
    log line (hosts, on a pipe, still get the fix logged once: test_stdio.py)."""
    output, code = in_a_terminal([sys.executable, "-m", "sipsim_mcp"], server_env(**env), until=b"quits")
    text = output.decode().replace("\r\n", "\n")
    assert code is None
    assert text.startswith("sipsim-mcp is an MCP server: it now waits for an MCP client"), text
    assert problem in " ".join(text.split())
    assert text.rstrip().endswith("Ctrl-C quits.")
    assert "ERROR" not in text and not re.search(r"\d\d:\d\d:\d\d", text)


async def test_http_off_loopback_without_a_token_refuses_before_saying_it_serves():
    result = await run("--demo", "--transport", "http", "--host", "0.0.0.0", "--port", "0")
    err = result.stderr.decode()
    assert result.returncode == 2
    assert err.startswith("sipsim-mcp: Refusing to serve MCP over HTTP on 0.0.0.0"), err
    assert "serving MCP" not in err and "SIPSIM_MCP_AUTH_TOKEN" in err


START_UP = """
import gc, weakref
from sipsim_mcp.app.cli import starting

class Node:
    pass

with starting():
    during = gc.isenabled()
    dropped = Node()
    dropped.cycle = dropped  # garbage only the collector frees
    freed = weakref.ref(dropped)
    del dropped
print(during, gc.isenabled(), freed() is None)
"""


def test_start_up_turns_the_garbage_collector_back_on_and_frees_what_it_dropped():
    """The stdio server starts without the collector's passes (`starting`), but serves with the collector on,
    and the cycles start-up dropped are freed, not kept for the life of the process."""
    run = subprocess.run([sys.executable, "-c", START_UP], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["False", "True", "True"], run.stderr
