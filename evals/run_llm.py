"""Let a real model answer the question set with the server's tools, and score it.

    ANTHROPIC_API_KEY=... python -m evals.run_llm [--model claude-sonnet-4-5] [--only 5]

The model sees only the question, the server's instructions and its tools (connected in memory, against
the simulator at the tests' fixed date); it picks the tools itself. An answer scores when it contains the
expected value (numbers in any usual writing, rates as percentages, names case-insensitively). Not run in
CI: it needs a key and costs tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from typing import Any

import anyio
import httpx
from mcp import Client

from sipsim_mcp.api.client import SipsimClient
from sipsim_mcp.app.demo import simulator_settings
from sipsim_mcp.mcp.server import build_server
from sipsim_mcp.sandbox import Sandbox, SandboxConfig

from .oracle import Oracle
from .questions import QUESTIONS

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
API = "https://api.anthropic.com/v1/messages"
MAX_TURNS = 8


def anthropic_tools(tools: list[Any]) -> list[dict[str, Any]]:
    """MCP tool definitions as the Anthropic Messages API takes them."""
    return [{"name": t.name, "description": t.description or "", "input_schema": t.input_schema} for t in tools]


def renderings(value: Any) -> list[list[str]]:
    """Ways an answer may write `value`: one list of alternatives per part that must appear."""
    if isinstance(value, tuple | list):
        return [alt for item in value for alt in renderings(item)]
    if isinstance(value, bool):
        return [["yes", "true", "on", "enabled"] if value else ["no", "false", "off", "disabled"]]
    if isinstance(value, int):
        return [[str(value), f"{value:,}", f"{value:,}".replace(",", " "), f"{value:,}".replace(",", "\u202f")]]
    if isinstance(value, float):
        if value <= 1:  # a rate
            percent = value * 100
            return [[f"{percent:.1f}%", f"{percent:.1f} %", f"{percent:.0f}%", f"{percent:.0f} %", f"{value:.3f}"]]
        return [[f"{value:.1f}", f"{value:.0f}"]]
    text = str(value)
    forms = [text]
    if text.startswith("+") and text[1:].isdigit():  # a phone number, written with spaces or not
        forms.append(" ".join([text[:3], text[3], *[text[i : i + 2] for i in range(4, len(text), 2)]]))
    return [forms]


def matches(answer: str, expected: Any) -> bool:
    """Every part of `expected` appears in `answer`, a number not as part of a longer number."""
    flat = re.sub(r"\s+", " ", answer).lower()

    def found(form: str) -> bool:
        return re.search(rf"(?<![\d.,]){re.escape(form.lower())}(?!\d)", flat) is not None

    return all(any(found(form) for form in alternatives) for alternatives in renderings(expected))


async def ask(
    http: httpx.AsyncClient, client: Client, model: str, question: str, tools: list[dict]
) -> tuple[str, list[str]]:
    """One conversation: the model calls tools until it answers. Returns the answer and the tools it used."""
    system = (
        f"{client.instructions}\n\nYou help the team of a company that uses SIPSIM. It is Saturday 28 November "
        "2026, 10:00 in Paris (Europe/Paris). Answer in one or two sentences with the figures asked for."
    )
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    used = []
    for _ in range(MAX_TURNS):
        response = await http.post(
            API,
            json={"model": model, "max_tokens": 1024, "system": system, "tools": tools, "messages": messages},
        )
        response.raise_for_status()
        reply = response.json()
        messages.append({"role": "assistant", "content": reply["content"]})
        calls = [block for block in reply["content"] if block["type"] == "tool_use"]
        if not calls:
            return " ".join(b["text"] for b in reply["content"] if b["type"] == "text"), used
        results = []
        for call in calls:
            used.append(call["name"])
            result = await client.call_tool(call["name"], call["input"], read_timeout_seconds=120)
            text = "\n".join(getattr(c, "text", "") for c in result.content)
            results.append(
                {"type": "tool_result", "tool_use_id": call["id"], "content": text, "is_error": result.is_error}
            )
        messages.append({"role": "user", "content": results})
    return "(no answer within the turn limit)", used


async def main(model: str, only: int | None) -> int:
    key = os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        print("Set ANTHROPIC_API_KEY to run the model evaluation.", file=sys.stderr)
        return 2
    with Sandbox(SandboxConfig(anchor=NOW)) as sandbox:
        settings = simulator_settings(sandbox, read_only=True)
        oracle = Oracle.of(sandbox.data, NOW)
        headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
        async with SipsimClient(settings) as api, httpx.AsyncClient(headers=headers, timeout=120) as http:
            server = build_server(settings, api=api, now=lambda: NOW)
            async with Client(server) as client:
                tools = anthropic_tools((await client.list_tools()).tools)
                passed = 0
                questions = QUESTIONS[:only] if only else QUESTIONS
                for question in questions:
                    text, _, values = question.render(oracle)
                    expected = question.expected(oracle, values)
                    answer, used = await ask(http, client, model, text, tools)
                    ok = matches(answer, expected)
                    passed += ok
                    print(
                        json.dumps(
                            {"ok": ok, "question": text, "expected": expected, "tools": used, "answer": answer},
                            ensure_ascii=False,
                            default=str,
                        )
                    )
    print(f"{passed}/{len(questions)} answered correctly ({passed / len(questions):.0%}) by {model}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("ANTHROPIC_MODEL", "claude-sonnet-4-5"))
    parser.add_argument("--only", type=int, help="ask only the first N questions")
    options = parser.parse_args()
    sys.exit(anyio.run(main, options.model, options.only))
