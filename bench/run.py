"""Performance, measured as ratios against a baseline taken in the same run (these machines are noisy).

    python bench/run.py            # prints a table; writes bench/results/latest.json

1. tokens:    token requests for 100 concurrent calls; baseline: one token per call (the naive client).
2. keepalive: time of 200 reads through one client (keep-alive, cached token); baseline: a new
              client (new connection, new token) per read.
3. answer:    bytes a model must read to answer "missed calls per line last month"; summarize_calls
              vs. paging list_calls (200 rows a page) through every call of the month.
4. memory:    peak live memory of summarize_calls over 80,000 calls vs over 20,000 (bounded: ratio ~1);
              baseline: the same aggregation holding every call in a list (grows with the calls).
5. overhead:  time of one list_calls through an in-memory MCP client vs the same API call directly.
"""

from __future__ import annotations

import gc
import json
import socket
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import median
from types import SimpleNamespace

import anyio
import httpx
from mcp import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sipsim_mcp import endpoints as ep
from sipsim_mcp.client import SipsimClient
from sipsim_mcp.demo import simulator_settings
from sipsim_mcp.models import Call
from sipsim_mcp.sandbox import Sandbox, SandboxConfig
from sipsim_mcp.server import build_server
from sipsim_mcp.tools.insights import Aggregate

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


def token_requests(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.path == "/oauth/token")


async def bench_tokens(sandbox: Sandbox) -> dict:
    sandbox.clear_log()
    async with SipsimClient(simulator_settings(sandbox)) as api, anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(api.call, ep.LIST_TAGS)
    ours = token_requests(sandbox)
    return {"ours": ours, "baseline": 100, "ratio": ours / 100, "unit": "token requests"}


async def bench_keepalive(sandbox: Sandbox, reads: int = 200) -> dict:
    async def shared() -> float:
        start = time.perf_counter()
        async with SipsimClient(simulator_settings(sandbox)) as api:
            for _ in range(reads):
                await api.call(ep.GET_ACCOUNT)
        return time.perf_counter() - start

    async def fresh() -> float:
        start = time.perf_counter()
        for _ in range(reads):
            async with SipsimClient(simulator_settings(sandbox)) as api:
                await api.call(ep.GET_ACCOUNT)
        return time.perf_counter() - start

    ours = median([await shared() for _ in range(3)])
    baseline = median([await fresh() for _ in range(3)])
    return {"ours": round(ours, 3), "baseline": round(baseline, 3), "ratio": round(ours / baseline, 3), "unit": "s"}


async def bench_answer(sandbox: Sandbox) -> dict:
    settings = simulator_settings(sandbox)
    async with SipsimClient(settings) as api:
        server = build_server(settings, api=api, now=lambda: NOW)
        async with Client(server) as client:
            summary = await client.call_tool(
                "summarize_calls", {"since": "last_month", "group_by": ["line"], "call_types": ["missed", "voicemail"]}
            )
            ours = len(summary.content[0].text)
            baseline, page = 0, None
            while True:
                arguments = {"since": "last_month", "limit": 200, "call_types": ["missed", "voicemail"]}
                result = await client.call_tool("list_calls", {**arguments, **({"page": page} if page else {})})
                baseline += len(result.content[0].text)
                page = result.structured_content.get("page")
                if not page:
                    break
    return {"ours": ours, "baseline": baseline, "ratio": round(ours / baseline, 4), "unit": "characters"}


async def peak(sandbox: Sandbox | SimpleNamespace, keep_calls: bool) -> int:
    """Peak memory while aggregating every call of the simulator, streaming or holding them all."""
    async with SipsimClient(simulator_settings(sandbox)) as api:
        aggregate = Aggregate(group_by=("line", "hour"), zone=NOW.tzinfo)  # type: ignore[arg-type]
        held: list[Call] = []
        tracemalloc.start()
        since = datetime.now(timezone.utc) - timedelta(days=400)
        async for page in api.pages(ep.LIST_CALLS, params={"start_time": since}):
            for raw in page.data:
                call = Call.model_validate(raw)
                aggregate.add(call)
                if keep_calls:
                    held.append(call)
            del page
            gc.collect()  # measure live memory, not when the collector happens to run
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return top


async def bench_memory() -> dict:
    """The simulator runs in its own process here, so only the client's memory is traced."""
    sizes = {}
    for calls in (20_000, 80_000):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "sipsim_mcp", "sandbox", "--port", str(port), "--calls", str(calls)]
        async with await anyio.open_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as simulator:
            base = f"http://127.0.0.1:{port}"
            remote = SimpleNamespace(api_url=f"{base}/api/v2", token_url=f"{base}/oauth/token")
            try:
                await wait_until_up(base)
                sizes[calls] = (await peak(remote, keep_calls=False), await peak(remote, keep_calls=True))
            finally:
                simulator.terminate()
    ours = sizes[80_000][0] / sizes[20_000][0]
    baseline = sizes[80_000][1] / sizes[20_000][1]
    return {
        "ours": round(ours, 2),
        "baseline": round(baseline, 2),
        "ratio": round(ours / baseline, 3),
        "unit": "peak live memory at 80k calls / at 20k calls",
    }


async def wait_until_up(base: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                await http.get(base)
                return
            except httpx.TransportError:
                await anyio.sleep(0.1)


async def bench_overhead(sandbox: Sandbox, rounds: int = 100) -> dict:
    settings = simulator_settings(sandbox)
    async with SipsimClient(settings) as api:
        server = build_server(settings, api=api, now=lambda: NOW)
        params = {"start_time": NOW - timedelta(days=7), "limit": 20}
        async with Client(server) as client:
            await client.call_tool("list_calls", {"since": "7d", "limit": 19})
            start = time.perf_counter()
            for _ in range(rounds):
                await client.call_tool("list_calls", {"since": "7d", "limit": 19})
            ours = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(rounds):
            await api.call(ep.LIST_CALLS, params=params)
        baseline = time.perf_counter() - start
    return {"ours": round(ours, 3), "baseline": round(baseline, 3), "ratio": round(ours / baseline, 2), "unit": "s"}


async def main() -> None:
    results = {}
    with Sandbox(SandboxConfig(anchor=NOW)) as sandbox:
        results["tokens"] = await bench_tokens(sandbox)
        results["keepalive"] = await bench_keepalive(sandbox)
        results["answer"] = await bench_answer(sandbox)
        results["overhead"] = await bench_overhead(sandbox)
    results["memory"] = await bench_memory()
    print(f"{'measure':<10} {'ours':>12} {'baseline':>12} {'ratio':>8}  unit")
    for name, row in results.items():
        print(f"{name:<10} {row['ours']:>12} {row['baseline']:>12} {row['ratio']:>8}  {row['unit']}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    anyio.run(main)
