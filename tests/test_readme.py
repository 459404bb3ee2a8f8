"""Every fenced block of README.md runs as pasted: here, in another test (named below), or it is listed with
the reason it cannot run here. A new block fails `test_every_block_of_readme_is_run_or_says_why_not` until
it is one of these.

What differs from a reader's machine is only the environment: `sipsim-mcp` is this checkout's, an account
is the bundled simulator's (its client id and secret for README's placeholders, its URLs in
SIPSIM_API_URL/SIPSIM_TOKEN_URL), a port README fixes (8000, 6379) is a free one, and the model APIs of the
agent recipes are a local stand-in (their SDKs' own base-URL variables) that asks for one `summarize_calls`
and answers with what the tool said, so each recipe's whole path is real: script, framework, MCP, server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from .external import CACHE, ROOT, against, framework_python, node_tool, server_env
from .replicas import Command

pytestmark = pytest.mark.external

README = (ROOT / "README.md").read_text()
#: This checkout's `sipsim-mcp` first on PATH, as README's "virtualenv active" has it.
BIN = str(Path(sys.executable).parent)


@dataclass
class Block:
    section: str
    language: str
    text: str


def blocks() -> list[Block]:
    found, section = [], ""
    for match in re.finditer(r"^## ([^\n]+)$|^```(\w*)\n(.*?)^```", README, re.M | re.S):
        if match.group(1):
            section = match.group(1)
        else:
            found.append(Block(section, match.group(2), match.group(3)))
    return found


def block(marker: str) -> Block:
    [found] = [b for b in blocks() if marker in b.text]
    return found


def commands(text: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", "", text)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


#: Each block by a text only it holds: the test here that runs it, the test elsewhere that does, or why not.
RUN_HERE = {
    "SIPSIM_CLIENT_ID=... SIPSIM_CLIENT_SECRET=... sipsim-mcp doctor": "test_the_doctor_line_checks_an_account",
    '"mcpServers"': "test_the_desktop_config_entry_serves_the_account",
    "npx @modelcontextprotocol/inspector --cli": "test_the_inspector_cli_lines",
    "from agents.mcp import MCPServerStdio": "test_the_openai_agents_recipe",
    "from langchain_mcp_adapters.client import MultiServerMCPClient": "test_the_langchain_recipe",
    "from pydantic_ai.mcp import MCPToolset": "test_the_pydantic_ai_recipe",
    "sipsim-mcp --transport http --port 8000": "test_the_http_lines",
    "--workers 2": "test_the_workers_block",
    "sipsim-mcp receive --port 8001": "test_the_receive_block",
    "sipsim-mcp --transport http --host 127.0.0.1 --port 8000": "test_the_live_calls_deployment_block",
}
RUN_ELSEWHERE = {
    "pip install -e . && sipsim-mcp --demo": (
        "test_install.py::test_the_one_command_tryout_runs_as_written_in_a_terminal"
    ),
    "python -m pytest -n auto": ".ci/run runs it (test_docs.py::test_the_test_command_is_what_ci_runs)",
    "pip install .\nsipsim-mcp --version": "test_install.py::test_readme_install_blocks_run_as_written",
    "pip install build uv && python -m build": "test_install.py::test_readme_install_blocks_run_as_written",
    "claude mcp add --scope user sipsim-demo": (
        "test_install.py::test_claude_code_connects_with_the_readme_lines_from_any_directory"
    ),
    "# /etc/sipsim-mcp/policy.toml": "test_team.py: README's policy file gives the roles of every test there",
}
NOT_RUN = {
    "export SIPSIM_STATE_URL=redis://10.0.0.5:6379/0": (
        "a deployment template: sudo apt-get, the operator's own Redis host and public name; test_once.py and "
        "test_replicas.py run server processes sharing a real Redis"
    ),
    "sipsim_mcp/            layers are folders": "a folder tree, not a command",
    "export SIPSIM_MCP_OAUTH_ISSUER=https://login.acme.com/realms/acme": (
        "a deployment template: the operator's own Keycloak and public name; test_team.py runs the same settings "
        "against a real OpenID provider (oidc-provider) and server processes"
    ),
    "reverse_proxy 127.0.0.1:8000": (
        "a reverse proxy's configuration (a public name and its certificate); test_the_live_calls_deployment_block "
        "runs the server behind it with the Host header the proxy passes on"
    ),
}


def test_every_block_of_readme_is_run_or_says_why_not():
    markers = [*RUN_HERE, *RUN_ELSEWHERE, *NOT_RUN]
    for found in blocks():
        claimed = [m for m in markers if m in found.text]
        assert len(claimed) == 1, f"README block in {found.section!r} ({found.text[:60]!r}): claimed by {claimed}"
    for marker in markers:
        assert sum(marker in b.text for b in blocks()) == 1, marker
    tests = {name for name in globals() if name.startswith("test_")}
    assert set(RUN_HERE.values()) <= tests


def shell(**extra: str) -> dict[str, str]:
    return {**server_env(**extra), "PATH": os.pathsep.join([BIN, os.environ["PATH"]])}


def simulator(sandbox: Any) -> dict[str, str]:
    """Where README's account is: the simulator (its URLs and clock; the credentials go where README puts them)."""
    env = against(sandbox)
    return {k: v for k, v in env.items() if k in ("SIPSIM_API_URL", "SIPSIM_TOKEN_URL", "SIPSIM_NOW")}


def with_account(text: str) -> str:
    """README's credential placeholders replaced by the simulator's client."""
    for placeholder, value in (
        ("SIPSIM_CLIENT_ID=...", "SIPSIM_CLIENT_ID=demo"),
        ("SIPSIM_CLIENT_SECRET=...", "SIPSIM_CLIENT_SECRET=demo-secret"),
        ("your-client-id", "demo"),
        ("your-client-secret", "demo-secret"),
    ):
        text = text.replace(placeholder, value)
    return text


@pytest.mark.clock
def test_the_doctor_line_checks_an_account(sandbox):
    [line] = commands(block("SIPSIM_CLIENT_ID=... SIPSIM_CLIENT_SECRET=... sipsim-mcp doctor").text)
    result = subprocess.run(
        ["bash", "-c", with_account(line)],
        env=shell(**simulator(sandbox)),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[ ok ] token: got a token" in result.stdout and result.stdout.rstrip().endswith("all good")


@pytest.mark.clock
@pytest.mark.anyio
async def test_the_desktop_config_entry_serves_the_account(sandbox):
    """The claude_desktop_config.json entry, with this checkout's command for README's example path."""
    entry = json.loads(with_account(block('"mcpServers"').text))["mcpServers"]["sipsim"]
    assert entry["command"].endswith("/.venv/bin/sipsim-mcp")
    env = {**server_env(), **entry["env"], **simulator(sandbox)}
    params = StdioServerParameters(command=str(Path(BIN) / "sipsim-mcp"), args=entry["args"], env=env)
    async with Client(params, mode="legacy") as client:
        tools = (await client.list_tools()).tools
        result = await client.call_tool("summarize_calls", {"since": "yesterday"})
    assert len(tools) == 14  # the default scopes
    assert result.structured_content["window"]["timezone"] == "Europe/Paris"  # the entry's SIPSIM_TIMEZONE


def test_the_inspector_cli_lines():
    """The Inspector's CLI lines (its first line opens a web page for a person: not run), run in the folder
    where the tests installed the Inspector README names, so npx finds it there."""
    web, *cli = commands(block("npx @modelcontextprotocol/inspector --cli").text)
    assert "--cli" not in web and len(cli) == 2
    node_tool("mcp-inspector")  # installed once into .cache/clients/node
    outputs = []
    for line in cli:
        result = subprocess.run(
            ["bash", "-c", line],
            cwd=CACHE / "node",
            env=shell(npm_config_offline="true"),
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        outputs.append(json.loads(result.stdout))
    listed, called = outputs
    assert len(listed["tools"]) == 22
    assert called["isError"] is False
    assert called["structuredContent"]["window"]["description"].startswith("last_week (Europe/Paris)")


# --- the agent recipes, against a stand-in for their model APIs ---------------------------------------------


class StandIn(BaseHTTPRequestHandler):
    """A model API as the recipes' SDKs call it (OpenAI Responses, Anthropic Messages): the first turn asks
    for `summarize_calls(since="last_week")`, the next answers "The tool said: " and the tool's output."""

    server: Any

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "body": body})
        if self.path.split("?")[0].endswith("/responses"):
            reply = self.openai(body)
        elif self.path.split("?")[0].endswith("/messages"):
            reply = self.anthropic(body)
            if body.get("stream"):
                self.stream(reply)
                return
        else:
            self.send_error(404)
            return
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def stream(self, message: dict[str, Any]) -> None:
        """An Anthropic message as the server-sent events of a streamed answer."""
        content, stop = message["content"], message["stop_reason"]
        events = [{"type": "message_start", "message": {**message, "content": [], "stop_reason": None}}]
        for index, part in enumerate(content):
            if part["type"] == "text":
                start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": part["text"]}
            else:
                start = {**part, "input": {}}
                delta = {"type": "input_json_delta", "partial_json": json.dumps(part["input"])}
            events += [
                {"type": "content_block_start", "index": index, "content_block": start},
                {"type": "content_block_delta", "index": index, "delta": delta},
                {"type": "content_block_stop", "index": index},
            ]
        end = {"stop_reason": stop, "stop_sequence": None}
        events += [{"type": "message_delta", "delta": end, "usage": {"output_tokens": 1}}, {"type": "message_stop"}]
        data = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass

    @staticmethod
    def said(output: Any) -> str:
        if isinstance(output, list):
            return " ".join(part.get("text", json.dumps(part)) for part in output)
        return output if isinstance(output, str) else json.dumps(output)

    def openai(self, body: dict[str, Any]) -> dict[str, Any]:
        items = body["input"] if isinstance(body["input"], list) else []
        outputs = [i["output"] for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]
        if outputs:
            text = f"The tool said: {self.said(outputs[-1])}"
            item = {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        else:
            item = {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "summarize_calls",
                "arguments": json.dumps({"since": "last_week"}),
                "status": "completed",
            }
        return {
            "id": f"resp_{len(self.server.requests)}",
            "object": "response",
            "created_at": 0,
            "model": body.get("model", "stand-in"),
            "status": "completed",
            "output": [item],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 1,
                "output_tokens": 1,
                "total_tokens": 2,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        }

    def anthropic(self, body: dict[str, Any]) -> dict[str, Any]:
        last = body["messages"][-1]["content"]
        results = (
            [b for b in last if isinstance(b, dict) and b.get("type") == "tool_result"]
            if isinstance(last, list)
            else []
        )
        if results:
            content = [{"type": "text", "text": f"The tool said: {self.said(results[-1].get('content'))}"}]
            stop = "end_turn"
        else:
            content = [
                {"type": "tool_use", "id": "toolu_1", "name": "summarize_calls", "input": {"since": "last_week"}}
            ]
            stop = "tool_use"
        return {
            "id": f"msg_{len(self.server.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "stand-in"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }


@pytest.fixture
def model_api() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_recipe(framework: str, marker: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """README's script saved as agent.py and run with the framework's python, `sipsim-mcp` on PATH."""
    script = tmp_path / "agent.py"
    script.write_text(block(marker).text)
    return subprocess.run(
        [str(framework_python(framework)), str(script)],
        cwd=tmp_path,
        env=shell(**env),
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def tools_offered(request: dict[str, Any]) -> set[str]:
    return {tool.get("name") for tool in request["body"].get("tools", [])}


def test_the_openai_agents_recipe(model_api, tmp_path):
    result = run_recipe(
        "openai-agents",
        "from agents.mcp import MCPServerStdio",
        tmp_path,
        OPENAI_API_KEY="stand-in",
        OPENAI_BASE_URL=f"http://127.0.0.1:{model_api.server_port}/v1",
        OPENAI_AGENTS_DISABLE_TRACING="1",  # no trace upload to OpenAI from a test
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, _ = model_api.requests
    assert "summarize_calls" in tools_offered(first) and len(tools_offered(first)) == 22
    assert result.stdout.startswith("The tool said: window: last_week (Europe/Paris)"), result.stdout


def test_the_langchain_recipe(tmp_path):
    result = run_recipe("langchain", "from langchain_mcp_adapters.client import MultiServerMCPClient", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("window: last_week (Europe/Paris)"), result.stdout


def test_the_pydantic_ai_recipe(model_api, tmp_path):
    result = run_recipe(
        "pydantic-ai",
        "from pydantic_ai.mcp import MCPToolset",
        tmp_path,
        ANTHROPIC_API_KEY="stand-in",
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{model_api.server_port}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first, _ = model_api.requests
    assert "summarize_calls" in tools_offered(first) and len(tools_offered(first)) == 22
    assert result.stdout.startswith("The tool said: "), result.stdout
    assert "last_week (Europe/Paris)" in result.stdout
    assert "Warning" not in result.stderr  # the false alarm README explains is filtered, and nothing else warns


# --- the servers README starts ----------------------------------------------------------------------------


async def tools_over_http(url: str) -> list[str]:
    async with Client(streamable_http_client(url)) as client:
        return [tool.name for tool in (await client.list_tools()).tools]


@pytest.mark.clock
def test_the_http_lines(sandbox, tmp_path):
    """README's two HTTP commands (on a free port): the loopback one serves; the off-loopback one, with a
    random token, starts and turns away a request without it."""
    loopback, public = commands(block("sipsim-mcp --transport http --port 8000").text)
    env = shell(**simulator(sandbox), SIPSIM_CLIENT_ID="demo", SIPSIM_CLIENT_SECRET="demo-secret")
    with Command(
        lambda port: ["bash", "-c", loopback.replace("--port 8000", f"--port {port}")],  # bash execs one command
        tmp_path / "loopback.log",
        "README's loopback HTTP server",
        env=env,
    ) as server:
        names = anyio.run(tools_over_http, f"http://127.0.0.1:{server.port}/mcp")
    assert "summarize_calls" in names and len(names) == 14
    with Command(
        lambda port: ["bash", "-c", public.replace("--port 8000", f"--port {port}")],
        tmp_path / "public.log",
        "README's off-loopback HTTP server",
        env=env,
    ) as server:
        url = f"http://127.0.0.1:{server.port}/mcp"
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        headers = {"Accept": "application/json, text/event-stream", "Host": "mcp.example.com:443"}
        without_token = httpx.post(url, json=ping, headers=headers)
    assert without_token.status_code == 401 and "Bearer" in without_token.headers["www-authenticate"]


@pytest.mark.clock
def test_the_workers_block(tmp_path):
    """README's block for several processes on one machine (they share the embedded state store: nothing else
    to start), two workers on a free port instead of 8000."""
    [serve] = commands(block("--workers 2").text)
    with Command(
        lambda port: ["bash", "-c", "exec " + serve.replace("8000", str(port))],
        tmp_path / "workers.log",
        "README's two workers",
        cwd=tmp_path,
        env=shell(),
    ) as server:
        names = anyio.run(tools_over_http, f"http://127.0.0.1:{server.port}/mcp")
        workers = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True)
    assert len(names) == 22
    assert len(workers.stdout.split()) >= 2
    assert "in 2 worker processes" in (tmp_path / "workers.log").read_text()


def test_the_receive_block(tmp_path):
    """README's webhook receiver for a stdio server (a made-up secret for the dashboard's, a free port instead of
    8001): a delivery signed with that secret is stored in the default event file, a forged one refused."""
    import time

    from sipsim_mcp.api.events import SqliteEventLog
    from sipsim_mcp.api.webhooks import sign

    export, serve = commands(block("sipsim-mcp receive --port 8001").text)
    secret = "whsec_" + "r" * 32
    script = [export.replace("whsec_...", secret), "exec " + serve.replace("8001", "{port}")]
    with Command(
        lambda port: ["bash", "-c", "\n".join(script).replace("{port}", str(port))],
        tmp_path / "receive.log",
        "README's webhook receiver",
        env=shell(XDG_STATE_HOME=str(tmp_path / "state")),
    ) as receiver:
        url = f"http://127.0.0.1:{receiver.port}/webhooks/sipsim"
        body = json.dumps({"event": "incoming_call_start", "pbx_id": "call_readme", "caller": "+33612345678"}).encode()
        stamp = str(int(time.time()))
        signed = httpx.post(
            url,
            content=body,
            headers={"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": sign(secret.encode(), stamp.encode(), body)},
        )
        forged = httpx.post(url, content=body, headers={"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": "0" * 64})
    assert (signed.status_code, forged.status_code) == (200, 401)
    stored = anyio.run(SqliteEventLog(tmp_path / "state" / "sipsim-mcp" / "events.sqlite3").read)
    assert [json.loads(e.body)["pbx_id"] for e in stored] == ["call_readme"]
    assert secret not in (tmp_path / "receive.log").read_text()


def test_the_live_calls_deployment_block(sandbox, tmp_path):
    """README's HTTP server with its webhook receiver, as a proxy reaches it (its Host header; a free port
    instead of 8000; made-up secret and token): a delivery signed with the secret is taken without the MCP
    token, and the call it rings is live for an MCP client that sends the token. Neither is in its log."""
    from sipsim_mcp.api.webhooks import sign

    from .conftest import NOW

    lines = commands(block("sipsim-mcp --transport http --host 127.0.0.1 --port 8000").text)
    secret, token = "whsec_" + "d" * 32, "token-" + "e" * 32
    script = [line.replace("whsec_...", secret).replace("TOKEN=...", f"TOKEN={token}") for line in lines[:-1]]
    serve = lines[-1].replace("SIPSIM_CLIENT_ID=...", "SIPSIM_CLIENT_ID=demo")
    serve = serve.replace("SIPSIM_CLIENT_SECRET=...", "SIPSIM_CLIENT_SECRET=demo-secret")
    with Command(
        lambda port: ["bash", "-c", "\n".join([*script, "exec env " + serve.replace("8000", str(port))])],
        tmp_path / "live.log",
        "README's live-calls server",
        env=shell(**simulator(sandbox), XDG_STATE_HOME=str(tmp_path / "state")),
    ) as server:
        base = f"http://127.0.0.1:{server.port}"
        body = json.dumps({"event": "incoming_call_start", "pbx_id": "call_readme_live", "caller": "+33612345678",
                           "receiver": "+33184880101", "time": "2026-11-28T09:00:00Z"}).encode()  # fmt: skip
        stamp = str(int(NOW.timestamp()))  # the server's clock starts at the simulator's: SIPSIM_NOW
        headers = {"X-Webhook-Timestamp": stamp, "X-Webhook-Signature": sign(secret.encode(), stamp.encode(), body)}
        delivered = httpx.post(f"{base}/webhooks/sipsim", content=body, headers={**headers, "Host": "mcp.example.com"})

        async def live() -> list[str]:
            proxied = {"Host": "mcp.example.com", "Authorization": f"Bearer {token}"}
            async with (
                httpx2.AsyncClient(headers=proxied, timeout=30) as http,
                Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
            ):
                text = (await client.read_resource("sipsim://calls/live")).contents[0].text
            return [call["call"] for call in json.loads(text)["calls"]]

        calls = anyio.run(live)
    assert delivered.status_code == 200 and calls == ["call_readme_live"]
    log = (tmp_path / "live.log").read_text()
    assert secret not in log and token not in log
