"""HTTP throughput: calls/s, p50 and p99 of `list_calls` over streamable HTTP with 20, 50 and 100
concurrent clients, served by one process and by N stateless worker processes (`--workers N`, sharing a
Redis); baseline: direct simulator calls (the same GET /calls the server sends) at the same concurrency.

    python bench/throughput.py                  # N = the number of cores (at least 2), 3 rounds of 3 s
    python bench/throughput.py --workers 4 --rounds 5 --seconds 5

Every process is real and separate: redis-server, the simulator (`sipsim-mcp sandbox`), the two servers
and this load generator, which sends the exact tools/call a 2026-07-28 MCP client sends (one connection
per client, keep-alive) with the same httpx client as the baseline. Runs interleave the three targets
round by round, each run a 1 s warm-up and then `--seconds` counted; the figures are medians over
rounds. On a small machine the load generator and the simulator share the cores with the servers: read
the ratios, not the absolute rates. CPU ms per call is the CPU time of the process that answers (the
simulator for direct calls, a server and its workers otherwise) over a run, divided by its calls: it
does not depend on how busy the machine is. Writes bench/results/throughput.json; needs redis-server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack, ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import median
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[1]
CONCURRENCY = (20, 50, 100)
WARMUP = 1.0
TLS = ssl.create_default_context()  # unused on loopback http, but each client would load its own
CALL = {
    "jsonrpc": "2.0",
    "method": "tools/call",
    "params": {
        "name": "list_calls",
        "arguments": {"since": "7d"},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}
HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "list_calls",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port}")


def start(stack: ExitStack, args: list[str], port: int, env: dict[str, str], log: Path) -> int:
    """Start `args`, stopped when `stack` closes; wait until it listens on `port`; its pid."""
    with log.open("w") as out:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(stop)
    wait_for(port, process, f"{args[2:]} (log: {log})")
    return process.pid


def start_all(stack: ExitStack, workers: int, logs: Path) -> dict[str, tuple[str, int]]:
    """redis, the simulator and the two servers; the URL of each target and the pid of the process that
    answers it (the simulator for direct calls)."""
    redis = shutil.which("redis-server")
    if redis is None:
        raise SystemExit("redis-server is not installed (Debian: apt-get install redis-server)")
    redis_port, simulator_port = free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIPSIM_")}
    redis_args = [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    start(stack, redis_args, redis_port, base, logs / "redis.log")
    simulator = [sys.executable, "-m", "sipsim_mcp", "sandbox", "--port", str(simulator_port)]
    simulator_pid = start(stack, simulator, simulator_port, base, logs / "simulator.log")
    api = f"http://127.0.0.1:{simulator_port}"
    env = {
        **base,
        "SIPSIM_API_URL": f"{api}/api/v2",
        "SIPSIM_TOKEN_URL": f"{api}/oauth/token",
        "SIPSIM_CLIENT_ID": "demo",
        "SIPSIM_CLIENT_SECRET": "demo-secret",
        "SIPSIM_STATE_URL": f"redis://127.0.0.1:{redis_port}/0",
    }
    targets = {"direct": (f"{api}/api/v2/calls", simulator_pid)}
    port = free_port()
    floor = [sys.executable, str(ROOT / "bench" / "floor.py"), "call", "--http", str(port)]
    targets["SDK floor"] = (f"http://127.0.0.1:{port}/mcp", start(stack, floor, port, env, logs / "floor.log"))
    for name, count in (("1 worker", 1), (f"{workers} workers", workers)):
        port = free_port()
        args = [sys.executable, "-m", "sipsim_mcp", "--transport", "http", "--stateless", "--port", str(port)]
        args += ["--workers", str(count)] if count > 1 else []
        pid = start(stack, args, port, env, logs / f"server-{count}.log")
        targets[name] = (f"http://127.0.0.1:{port}/mcp", pid)
    return targets


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of `pid` and every process under it, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, parents = 0.0, {}
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split() if entry.name.isdigit() else None
        except OSError:
            continue
        if fields:
            parents[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    tree = {pid}
    for _ in range(3):  # workers, and what they start
        tree |= {child for child, (parent, _) in parents.items() if parent in tree}
    for member in tree:
        total += parents.get(member, (0, 0.0))[1]
    return total


async def token(url: str) -> str:
    grant = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}
    async with httpx.AsyncClient() as client:
        return (await client.post(url.replace("/api/v2/calls", "/oauth/token"), data=grant)).json()["access_token"]


async def load(url: str, pid: int, clients: int, seconds: float, kind: str, bearer: str) -> dict[str, float]:
    """`clients` concurrent clients calling as fast as answers come for WARMUP + `seconds`: the calls
    completed in the counted window, their rate and latency percentiles (ms), the errors, and the CPU
    time per call of process `pid` (and its workers) over the whole run."""
    latencies: list[float] = []
    errors = answered = 0
    now = datetime.now(timezone.utc).replace(microsecond=0)  # the request the server sends for since=7d
    params = {"start_time": (now - timedelta(days=7)).isoformat(), "end_time": now.isoformat(), "limit": 20}
    auth = {"Authorization": f"Bearer {bearer}"}
    call: dict[str, Any] = json.loads(json.dumps(CALL))
    if kind == "SDK floor":  # its tool takes the API's own parameters and answers the API's JSON
        call["params"]["arguments"] = params

    async def client(index: int, http: httpx.AsyncClient, counted: float, stop: float) -> None:
        nonlocal errors, answered
        sequence = 0
        while time.perf_counter() < stop:
            sequence += 1
            began = time.perf_counter()
            if kind == "direct":
                response = await http.get(url, params=params, headers=auth)
                ok = response.status_code == 200 and len(response.json()["data"]) == 20
            else:
                response = await http.post(url, json={**call, "id": index * 1_000_000 + sequence}, headers=HEADERS)
                answer = response.json().get("result", {}) if response.status_code == 200 else {}
                content = answer.get("structuredContent", {})
                ok = (len(content.get("data", ())) if kind == "SDK floor" else content.get("returned")) == 20
            ended = time.perf_counter()
            answered += ok
            if counted <= ended <= stop:
                if ok:
                    latencies.append(ended - began)
                else:
                    errors += 1

    # One httpx client (one connection) per client, made before the clock starts: one pool of 100
    # connections costs the load generator more than the server costs, and a new client loads TLS roots
    # unless it is given a context.
    async with AsyncExitStack() as stack:
        https = [await stack.enter_async_context(httpx.AsyncClient(timeout=60, verify=TLS)) for _ in range(clients)]
        cpu, start = cpu_seconds(pid), time.perf_counter()
        async with anyio.create_task_group() as group:
            for index, http in enumerate(https):
                group.start_soon(client, index, http, start + WARMUP, start + WARMUP + seconds)
        cpu = cpu_seconds(pid) - cpu
    latencies.sort()
    calls = len(latencies)
    return {
        "calls_per_s": calls / seconds,
        "p50_ms": 1000 * latencies[calls // 2] if calls else float("nan"),
        "p99_ms": 1000 * latencies[min(calls - 1, int(calls * 0.99))] if calls else float("nan"),
        "errors": errors,
        "cpu_ms_per_call": 1000 * cpu / answered if answered else float("nan"),
    }


def machine() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


async def measure(targets: dict[str, tuple[str, int]], rounds: int, seconds: float) -> dict[str, Any]:
    bearer = await token(targets["direct"][0])
    for name, (url, pid) in targets.items():  # first calls: tokens, connections, imports
        await load(url, pid, 5, 0.5, name, bearer)
    runs: dict[int, dict[str, list[dict[str, float]]]] = {c: {name: [] for name in targets} for c in CONCURRENCY}
    for round_ in range(rounds):
        for clients in CONCURRENCY:
            for name, (url, pid) in targets.items():
                figures = await load(url, pid, clients, seconds, name, bearer)
                runs[clients][name].append(figures)
                print(f"round {round_ + 1} c={clients:<3} {name:<10} {json.dumps(figures)}", file=sys.stderr)
    results: dict[str, Any] = {}
    for clients, by_target in runs.items():
        direct = median(run["calls_per_s"] for run in by_target["direct"])
        for name, figures in by_target.items():
            rate = median(run["calls_per_s"] for run in figures)
            results[f"c{clients} {name}"] = {
                "calls_per_s": round(rate, 1),
                "p50_ms": round(median(run["p50_ms"] for run in figures), 1),
                "p99_ms": round(median(run["p99_ms"] for run in figures), 1),
                "vs_direct": round(rate / direct, 3),
                "cpu_ms_per_call": round(median(run["cpu_ms_per_call"] for run in figures), 2),
                "errors": sum(run["errors"] for run in figures),
                "runs": [round(run["calls_per_s"], 1) for run in figures],
            }
    return results


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2))
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--seconds", type=float, default=3.0)
    args = options.parse_args()
    with tempfile.TemporaryDirectory() as logs, ExitStack() as stack:
        targets = start_all(stack, args.workers, Path(logs))
        before = machine()
        results = anyio.run(measure, targets, args.rounds, args.seconds)
    head = f"{'clients / target':<18} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs direct':>9}"
    print(f"{head} {'CPU ms/call':>11} errors")
    for name, row in results.items():
        print(
            f"{name:<18} {row['calls_per_s']:>8} {row['p50_ms']:>7} {row['p99_ms']:>7} {row['vs_direct']:>9} "
            f"{row['cpu_ms_per_call']:>11} {row['errors']}"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    report = {"machine": before, "workers": args.workers, "rounds": args.rounds, "seconds": args.seconds}
    (out / "throughput.json").write_text(json.dumps({**report, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
