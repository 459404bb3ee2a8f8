"""Provisioning of the real external clients the `external` tests drive: npm tools (MCP Inspector CLI,
mcpb, the OpenID provider of the sign-in tests) and one virtualenv per agent framework, each installed once
into `.cache/clients/`.

Without npm the external tests are skipped on a developer machine, and fail under CI (CI=true), so a
green CI run always means they ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "clients"

#: The client versions the README recipes name; bump them together.
NODE_PACKAGES = {
    "mcp-inspector": "@modelcontextprotocol/inspector@0.15.0",
    "mcpb": "@anthropic-ai/mcpb@2.1.2",
    "claude": "@anthropic-ai/claude-code@2.1.197",
}
#: The OpenID provider the sign-in tests start (tests/idp/provider.mjs), in its own prefix.
IDENTITY_PROVIDER = ["oidc-provider@9.13.3"]
FRAMEWORKS = {
    "openai-agents": ["openai-agents==0.24.0"],
    "langchain": ["langchain-mcp-adapters==0.3.2"],
    "pydantic-ai": ["pydantic-ai-slim[mcp,anthropic]==2.68.0"],  # README's recipe runs an Anthropic model
}


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the external-client tests)")
    pytest.skip(reason)


@contextmanager
def installing(name: str) -> Iterator[Path]:
    """`.cache/clients/NAME`, held by this process alone (pytest workers run side by side): the client is
    installed there by one of them while the others wait, and used by none before its stamp says it is
    complete."""
    import fcntl

    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield CACHE / name


def installed(place: Path, wanted: list[str]) -> bool:
    stamp = place / "installed.json"
    return stamp.exists() and json.loads(stamp.read_text()) == wanted


def node_tool(name: str) -> Path:
    """The path of an npm-installed command, installing every client's package on first use (one npm run)."""
    return node_packages("node", list(NODE_PACKAGES.values())) / "node_modules" / ".bin" / name


def node_packages(name: str, wanted: list[str]) -> Path:
    """`.cache/clients/NAME`, where the npm packages `wanted` are installed (once, by one process at a time)."""
    with installing(name) as prefix:
        if not installed(prefix, wanted):
            npm = shutil.which("npm")
            if npm is None:
                unavailable("npm is not installed")
            prefix.mkdir(parents=True, exist_ok=True)
            (prefix / "installed.json").unlink(missing_ok=True)
            subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(prefix),
                    "--prefer-offline",  # exact versions: cached packages need no freshness check
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    *wanted,
                ],
                check=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
            )
            (prefix / "installed.json").write_text(json.dumps(wanted))
    return prefix


def framework_python(name: str) -> Path:
    """The python of a virtualenv holding one agent framework (created on first use). Its folder is named
    after what it holds, so checkouts that pin other versions each keep their own."""
    wanted = FRAMEWORKS[name]
    digest = hashlib.sha256(json.dumps(wanted).encode()).hexdigest()[:8]
    with installing(f"{name}-{digest}") as env:
        python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if not installed(env, wanted):
            # uv (a test dependency) installs a framework in seconds where pip takes tens of them
            uv = [sys.executable, "-m", "uv"]
            for command in (
                [*uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(env)],
                [*uv, "pip", "install", "--quiet", "--python", str(python), *wanted],
            ):
                subprocess.run(command, check=True, timeout=900, stdin=subprocess.DEVNULL)
            (env / "installed.json").write_text(json.dumps(wanted))
    return python


def server_env(**extra: str) -> dict[str, str]:
    """The environment for a server subprocess: ours minus any SIPSIM_* of the developer's shell."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SIPSIM_")}, **extra}


def against(sandbox: Any, **extra: str) -> dict[str, str]:
    """The environment of a server subprocess that talks to `sandbox` with its demo client; its clock starts
    where the simulator's data ends (the tests' NOW), whatever the date the suite runs on."""
    anchor = sandbox.config.anchor
    clock = {"SIPSIM_NOW": anchor.isoformat()} if anchor is not None else {}
    return server_env(
        **clock,
        SIPSIM_CLIENT_ID="demo",
        SIPSIM_CLIENT_SECRET="demo-secret",
        SIPSIM_API_URL=sandbox.api_url,
        SIPSIM_TOKEN_URL=sandbox.token_url,
        **extra,
    )


def server_launch(sandbox: Any) -> dict[str, object]:
    """How a client should start the server against `sandbox`: this interpreter, `-m sipsim_mcp`, this checkout."""
    return {"command": sys.executable, "args": ["-m", "sipsim_mcp"], "env": against(sandbox), "cwd": str(ROOT)}


def in_a_terminal(
    command: list[str], env: dict[str, str], *, cwd: Path = ROOT, until: bytes | None = None
) -> tuple[bytes, int | None]:
    """Run `command` with stdin, stdout and stderr on a pseudo-terminal, as a person types it; read until
    it exits, or until `until` shows up (then stop it). Its output and exit code (None if stopped)."""
    import pty

    controller, terminal = pty.openpty()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    output = b""
    while until is None or until not in output:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        output += chunk
    if until is not None and process.poll() is None:
        process.terminate()
        process.wait(10)
        code = None
    else:
        code = process.wait(600)
    os.close(controller)
    return output, code
