"""Performance of sipsim-mcp, every figure a ratio against a baseline measured in the same run.

    python bench/run.py                 # every measure (a few minutes); writes bench/results/latest.json
    python bench/run.py answer cold     # only the measures named

The machine these run on is shared and noisy: timed measures interleave ours and the baseline round
by round and keep the median of ROUNDS rounds. Read the ratios, not the absolute times; no test
asserts a time.

tools_list  bytes of tools/list (compact JSON, default scopes, then all scopes); baseline: the same
            tools with the schemas the SDK derives from the same models.
answer      bytes on the wire for a default 20-call page, text plus structuredContent; baseline: the
            SDK's default text (the JSON again) plus the same structuredContent.
server      the server's own work for one list_calls (tool call and result serialised, no transport), CPU
            time of the process; baseline: the raw HTTP call (GET /calls, JSON decoded); server_floor:
            floor.py's tool the same way (the SDK's own share).
validate    a client validating a 20-row answer against the tool's output schema, as the SDK client
            does (compiled validator, best_match); baseline: the schema the SDK would derive.
memory_call one list_calls through an in-memory MCP client; baselines: the raw HTTP call, and the
            thinnest MCPServer making the same call (bench/floor.py), its ratio is the SDK's floor.
stdio_call  the same over stdio, client and server in separate processes; baseline: floor.py over stdio.
cold        spawn to the tools/list answer over stdio; baseline: a bare MCPServer (floor.py bare);
            cold_cpu: the CPU each server process used to that answer; cold_exit_cpu: spawn to exit.
tokens      token requests for 100 concurrent calls; baseline: 100 calls each through a new client.
keepalive   200 reads through one client; baseline: the same client with keep-alive off (a new
            connection per read; the token is cached in both).
summaries   summarize_calls over 10,000 and 100,000 calls (by line), in a server process of its own (started as
            the stdio server starts, its start-up frozen out of the garbage collector's view); baseline:
            a raw httpx loop paging through the same calls and counting them by line, in a process of
            its own; the simulator in a third. Wall time, and CPU per call of each process. Peak RSS
            of the server process at 300,000 calls vs 10,000 (flat means the scan streams), and vs a
            server process that only answered get_account.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import platform
import resource
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from statistics import median
from types import SimpleNamespace
from typing import Annotated, Any

import anyio
import httpx
from mcp import Client, StdioServerParameters
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolRequestParams
from pydantic import Field

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sipsim_mcp.api import endpoints as ep  # noqa: E402
from sipsim_mcp.api.client import SipsimClient  # noqa: E402
from sipsim_mcp.api.config import DEFAULT_SCOPES, KNOWN_SCOPES  # noqa: E402
from sipsim_mcp.app.demo import simulator_settings  # noqa: E402
from sipsim_mcp.mcp.register import CODE_DESCRIPTION, CODE_FIELD  # noqa: E402
from sipsim_mcp.mcp.server import build_server  # noqa: E402
from sipsim_mcp.sandbox import Sandbox, SandboxConfig, dataset  # noqa: E402
from sipsim_mcp.sandbox.dataset import build_dataset  # noqa: E402
from sipsim_mcp.tools.base import ToolSpec  # noqa: E402
from sipsim_mcp.tools.inventory import TOOLS_BY_NAME  # noqa: E402

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
ROUNDS = 5
WINDOW = {"start_time": "2026-11-21T09:00:00Z", "end_time": "2026-11-28T08:59:59Z", "limit": 20}
CALL = {"since": "7d"}  # the same window as WINDOW, 20 rows
#: What hosts put in front of the model of each tool (the rest of tools/list: output schemas, `_meta`).
MODEL_FACING = ("name", "title", "description", "inputSchema", "annotations")


def size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def row(ours: float, baseline: float, unit: str, note: str = "", digits: int = 3) -> dict[str, Any]:
    return {
        "ours": round(ours, digits),
        "baseline": round(baseline, digits),
        "ratio": round(ours / baseline, 3),
        "unit": unit,
        "note": note,
    }


async def interleaved(runs: dict[str, Callable[[], Awaitable[float]]], rounds: int = ROUNDS) -> dict[str, float]:
    """Median seconds of each run, the runs taking turns round by round."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(await run())
    return {name: median(values) for name, values in times.items()}


def timed(
    action: Callable[[], Awaitable[Any]], repeat: int, clock: Callable[[], float] = time.perf_counter
) -> Callable[[], Awaitable[float]]:
    """Seconds per action on `clock` (wall time, or `time.process_time` for CPU-bound work on a busy machine)."""

    async def run() -> float:
        start = clock()
        for _ in range(repeat):
            await action()
        return (clock() - start) / repeat

    return run


def environment(sandbox: Any, **extra: str) -> dict[str, str]:
    settings = simulator_settings(sandbox)
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "SIPSIM_API_URL": settings.api_url,
        "SIPSIM_TOKEN_URL": settings.token_url,
        "SIPSIM_CLIENT_ID": "demo",
        "SIPSIM_CLIENT_SECRET": "demo-secret",
        "SIPSIM_TIMEZONE": "Europe/Paris",
        **extra,
    }


async def raw_http(sandbox: Sandbox) -> tuple[httpx.AsyncClient, Callable[[], Awaitable[Any]]]:
    """A plain httpx client with a token, and the raw GET /calls of one page."""
    grant = {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}
    async with httpx.AsyncClient() as once:
        token = (await once.post(sandbox.token_url, data=grant)).json()["access_token"]
    http = httpx.AsyncClient(base_url=sandbox.api_url, headers={"Authorization": f"Bearer {token}"})

    async def get() -> Any:
        return (await http.get("/calls", params=WINDOW)).json()

    return http, get


# --- bytes -------------------------------------------------------------------------------------------


def sdk_input_schema(spec: ToolSpec, mode: str) -> dict[str, Any]:
    """The input schema the SDK derives for a function taking the input model's fields, flat (type,
    constraints, description, default), and a write's confirmation code when writes are confirmed by preview."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = []
    for name, info in spec.input.model_fields.items():
        parts = (info.annotation, *info.metadata, Field(description=info.description, examples=info.examples))
        default = inspect.Parameter.empty if info.is_required() else info.get_default(call_default_factory=True)
        params.append(inspect.Parameter(name, keyword, annotation=Annotated[parts], default=default))
    if spec.write and mode == "preview":
        code = Annotated[str | None, Field(description=CODE_DESCRIPTION, max_length=100)]
        params.append(inspect.Parameter(CODE_FIELD, keyword, annotation=code, default=None))

    def published(**arguments: Any) -> None:
        raise NotImplementedError  # never called: only its signature is read

    published.__name__ = published.__qualname__ = spec.name
    published.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return Tool.from_function(published).parameters


async def bench_tools_list(sandbox: Sandbox) -> dict[str, Any]:
    out = {}
    for label, scopes in (("default", DEFAULT_SCOPES), ("all", KNOWN_SCOPES)):
        settings = simulator_settings(sandbox, scopes=" ".join(sorted(scopes)))
        async with SipsimClient(settings) as api:
            server = build_server(settings, api=api, now=lambda: NOW)
            async with Client(server) as client:
                tools = [
                    t.model_dump(mode="json", by_alias=True, exclude_none=True)
                    for t in (await client.list_tools()).tools
                ]
            sdk = []
            for tool in tools:  # the SDK's own schemas for the same functions and result models
                spec = TOOLS_BY_NAME[tool["name"]]
                annotations = {**tool["annotations"], "title": spec.title}
                sdk.append(
                    {
                        **tool,
                        "inputSchema": sdk_input_schema(spec, server.gate.mode),
                        "outputSchema": spec.result_model.model_json_schema(),
                        "annotations": annotations,
                    }
                )
        model = sum(size({k: v for k, v in t.items() if k in MODEL_FACING}) for t in tools)
        sdk_model = sum(size({k: v for k, v in t.items() if k in MODEL_FACING}) for t in sdk)
        out[f"tools_list_{label}"] = row(
            size({"tools": tools}), size({"tools": sdk}), "bytes", f"{len(tools)} tools", 0
        )
        out[f"tools_list_{label}_model"] = row(model, sdk_model, "bytes", "model-facing part", 0)
    return out


async def bench_answer(sandbox: Sandbox) -> dict[str, Any]:
    settings = simulator_settings(sandbox)
    async with SipsimClient(settings) as api:
        server = build_server(settings, api=api, now=lambda: NOW)
        async with Client(server) as client:
            result = await client.call_tool("list_calls", {"since": "last_week"})
    text = len(result.content[0].text.encode())
    structured = size(result.structured_content)
    return {
        "answer": row(text + structured, structured * 2, "bytes", "20-call page, text + structuredContent", 0),
        "answer_text": row(text, structured, "bytes", "20-call page, the text a model reads vs the JSON", 0),
    }


# --- time per call ----------------------------------------------------------------------------------


async def bench_server(sandbox: Sandbox) -> dict[str, Any]:
    """CPU time of this process per call (the simulator's thread does the same work for each run), which a
    loaded machine disturbs far less than wall time."""
    settings = simulator_settings(sandbox)
    http, get = await raw_http(sandbox)
    floor = _floor_server(sandbox)
    async with SipsimClient(settings) as api, http:
        server = build_server(settings, api=api, now=lambda: NOW)
        request = SimpleNamespace(session=SimpleNamespace(report_progress=_no_progress))  # no client asked for any
        params = CallToolRequestParams(name="list_calls", arguments=CALL)

        async def ours() -> None:
            result = await server.tools.call_tool(request, params)  # type: ignore[arg-type]
            result.model_dump_json(by_alias=True, exclude_none=True)

        async def thin() -> None:
            result = await floor.call_tool("list_calls", WINDOW)
            result.model_dump_json(by_alias=True, exclude_none=True)

        runs = {
            name: timed(run, 50, time.process_time) for name, run in (("ours", ours), ("floor", thin), ("raw", get))
        }
        for run in runs.values():
            await run()
        medians = await interleaved(runs, rounds=9)
    ms = {name: value * 1e3 for name, value in medians.items()}
    return {
        "server": row(ms["ours"], ms["raw"], "CPU ms per call", "vs the raw HTTP call"),
        "server_floor": row(ms["floor"], ms["raw"], "CPU ms per call", "floor.py's tool vs the raw HTTP call"),
    }


async def bench_validate(sandbox: Sandbox) -> dict[str, Any]:
    from jsonschema import exceptions
    from jsonschema.validators import validator_for
    from referencing import Registry

    settings = simulator_settings(sandbox)
    async with SipsimClient(settings) as api:
        server = build_server(settings, api=api, now=lambda: NOW)
        async with Client(server) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            content = (await client.call_tool("list_calls", CALL)).structured_content
    schemas = {
        "ours": tools["list_calls"].output_schema,
        "sdk": TOOLS_BY_NAME["list_calls"].result_model.model_json_schema(),
    }
    validators = {name: validator_for(schema)(schema, registry=Registry()) for name, schema in schemas.items()}

    def check(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            assert exceptions.best_match(validators[name].iter_errors(content)) is None

        return run

    medians = await interleaved({name: timed(check(name), 200) for name in validators})
    return {"validate": row(medians["ours"] * 1e3, medians["sdk"] * 1e3, "ms per answer", "20 rows")}


async def bench_memory_call(sandbox: Sandbox) -> dict[str, Any]:
    settings = simulator_settings(sandbox)
    http, get = await raw_http(sandbox)
    floor = _floor_server(sandbox)
    async with SipsimClient(settings) as api, http:
        server = build_server(settings, api=api, now=lambda: NOW)
        async with Client(server) as ours, Client(floor) as thin:
            runs = {
                "ours": timed(lambda: ours.call_tool("list_calls", CALL), 30),
                "floor": timed(lambda: thin.call_tool("list_calls", WINDOW), 30),
                "raw": timed(get, 30),
            }
            for run in runs.values():
                await run()
            medians = await interleaved(runs)
    return {
        "memory_call": row(medians["ours"] * 1e3, medians["raw"] * 1e3, "ms per call", "vs the raw HTTP call"),
        "memory_call_floor": row(medians["floor"] * 1e3, medians["raw"] * 1e3, "ms per call", "SDK floor vs raw"),
        "memory_call_vs_floor": row(medians["ours"] * 1e3, medians["floor"] * 1e3, "ms per call", "ours vs floor"),
    }


async def _no_progress(*_: Any) -> None:
    return None


def _floor_server(sandbox: Sandbox) -> Any:
    """bench/floor.py's `call` server, in this process."""
    for name, value in environment(sandbox).items():
        os.environ.setdefault(name, value)
    sys.argv[1:] = ["call"]
    namespace: dict[str, Any] = {"__name__": "floor"}
    exec(compile((ROOT / "bench" / "floor.py").read_text(), "floor.py", "exec"), namespace)
    return namespace["server"]


def stdio(command: list[str], env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=command, env=env, cwd=str(ROOT))


def children() -> set[int]:
    """This process's child processes (Linux)."""
    return {int(pid) for path in Path("/proc/self/task").glob("*/children") for pid in path.read_text().split()}


def cpu_of(pid: int) -> float:
    """CPU seconds a process has used so far, over its threads (Linux schedstat: nanoseconds)."""
    return sum(int(path.read_text().split()[0]) for path in Path(f"/proc/{pid}/task").glob("*/schedstat")) / 1e9


async def bench_stdio_call(sandbox: Sandbox) -> dict[str, Any]:
    """Wall time per call, and CPU per call: the server process's plus this one's (the client, and the
    simulator's thread, which does the same work for both)."""
    env = environment(sandbox)
    cpu: dict[str, list[float]] = {"ours": [], "floor": []}

    def measured(name: str, action: Callable[[], Awaitable[Any]], pid: int, repeat: int = 30) -> Any:
        async def run() -> float:
            begin, mine, theirs = time.perf_counter(), time.process_time(), cpu_of(pid)
            for _ in range(repeat):
                await action()
            took = (time.perf_counter() - begin) / repeat
            cpu[name].append((time.process_time() - mine + cpu_of(pid) - theirs) / repeat)
            return took

        return run

    async with AsyncExitStack() as stack:
        runs = {}
        for name, command, arguments in (
            ("ours", ["-m", "sipsim_mcp"], CALL),
            ("floor", [str(ROOT / "bench" / "floor.py"), "call"], WINDOW),
        ):
            known = children()
            client = await stack.enter_async_context(Client(stdio(command, env)))
            (pid,) = children() - known
            runs[name] = measured(name, partial(client.call_tool, "list_calls", arguments), pid)
        for run in runs.values():
            await run()
        for values in cpu.values():
            values.clear()
        medians = await interleaved(runs, rounds=9)
    ours_cpu, floor_cpu = median(cpu["ours"]) * 1e3, median(cpu["floor"]) * 1e3
    return {
        "stdio_call": row(medians["ours"] * 1e3, medians["floor"] * 1e3, "ms per call", "vs floor.py over stdio"),
        "stdio_call_cpu": row(ours_cpu, floor_cpu, "CPU ms per call", "server and client processes"),
    }


async def bench_cold(sandbox: Sandbox) -> dict[str, Any]:
    """Wall time from spawn to the tools/list answer; the CPU the server process used to that answer (its
    schedstat), and to its exit (its rusage once reaped): CPU a loaded machine disturbs far less."""
    env = environment(sandbox)
    cpu: dict[str, list[float]] = {"ours": [], "bare": []}
    whole: dict[str, list[float]] = {"ours": [], "bare": []}

    def start(name: str, command: list[str]) -> Callable[[], Awaitable[float]]:
        async def run() -> float:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            known = children()
            begin = time.perf_counter()
            async with Client(stdio(command, env)) as client:
                await client.list_tools()
                took = time.perf_counter() - begin
                (pid,) = children() - known
                cpu[name].append(cpu_of(pid))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the client waits for the process to exit
            whole[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            return took

        return run

    medians = await interleaved(
        {
            "ours": start("ours", ["-m", "sipsim_mcp"]),
            "bare": start("bare", [str(ROOT / "bench" / "floor.py"), "bare"]),
        },
        rounds=9,
    )
    ours, bare = median(cpu["ours"]) * 1e3, median(cpu["bare"]) * 1e3
    ours_whole, bare_whole = median(whole["ours"]) * 1e3, median(whole["bare"]) * 1e3
    return {
        "cold": row(medians["ours"] * 1e3, medians["bare"] * 1e3, "ms to tools/list", "spawn over stdio", 0),
        "cold_cpu": row(ours, bare, "CPU ms to tools/list", "the server process, spawn to the answer", 0),
        "cold_exit_cpu": row(ours_whole, bare_whole, "CPU ms", "the server process, spawn to exit", 0),
    }


# --- the API client ----------------------------------------------------------------------------------


def token_requests(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.path == "/oauth/token")


async def bench_tokens(sandbox: Sandbox) -> dict[str, Any]:
    settings = simulator_settings(sandbox)
    sandbox.clear_log()
    async with SipsimClient(settings) as api, anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(api.request, ep.LIST_TAGS)
    ours = token_requests(sandbox)

    async def naive() -> None:
        async with SipsimClient(settings) as fresh:
            await fresh.request(ep.LIST_TAGS)

    sandbox.clear_log()
    async with anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(naive)
    return {"tokens": row(ours, token_requests(sandbox), "token requests", "100 concurrent calls", 0)}


async def bench_keepalive(sandbox: Sandbox, reads: int = 200) -> dict[str, Any]:
    settings = simulator_settings(sandbox)
    fresh = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_keepalive_connections=0))
    async with SipsimClient(settings) as kept, SipsimClient(settings, transport=fresh) as closed:
        for api in (kept, closed):
            await api.request(ep.GET_ACCOUNT)  # both hold a token
        medians = await interleaved(
            {
                "kept": timed(lambda: kept.request(ep.GET_ACCOUNT), reads),
                "closed": timed(lambda: closed.request(ep.GET_ACCOUNT), reads),
            },
            rounds=3,
        )
    return {"keepalive": row(medians["kept"] * 1e3, medians["closed"] * 1e3, "ms per read", "vs a new connection each")}


# --- scans ----------------------------------------------------------------------------------------


async def wait_until_up(base: str, tries: int = 200) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(tries):
            try:
                await http.get(base)
                return
            except httpx.TransportError:
                await anyio.sleep(0.1)


# --- summaries: a server process per run, the simulator in another ---------------------------------

SUMMARIES_CHILD = """
import anyio, httpx, sys, time
from collections import Counter
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
sys.path.insert(0, {root!r})

BASE, MODE = {base!r}, {mode!r}
ARGUMENTS = {{"since": "400d", "group_by": ["line"]}}


async def ours(tool="summarize_calls", arguments=ARGUMENTS):
    from mcp import Client
    from sipsim_mcp.api.client import SipsimClient
    from sipsim_mcp.app.cli import starting
    from sipsim_mcp.app.demo import simulator_settings
    from sipsim_mcp.mcp.server import build_server

    remote = SimpleNamespace(api_url=BASE + "/api/v2", token_url=BASE + "/oauth/token")
    settings = simulator_settings(remote, scan_limit=1_000_000)
    async with SipsimClient(settings) as api:
        with starting():  # as the stdio server starts: what start-up makes is frozen out of the collector's view
            server = build_server(settings, api=api)
        async with Client(server) as client:
            await client.call_tool("summarize_calls", {{"since": "1d"}})  # warm: token, imports, directory
            start, cpu = time.perf_counter(), time.process_time()
            result = await client.call_tool(tool, arguments)
            took, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert not result.is_error and result.structured_content.get("complete", True), result.content[0].text
    return took, cpu, result.structured_content.get("scanned", 0)


async def raw():
    grant = {{"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}}
    async with httpx.AsyncClient(base_url=BASE + "/api/v2") as http:
        token = (await http.post(BASE + "/oauth/token", data=grant)).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {{token}}"
        since = (datetime.now(timezone.utc) - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%SZ")
        (await http.get("/calls", params={{"start_time": since, "limit": 1}})).json()  # warm
        start, cpu = time.perf_counter(), time.process_time()
        by_line, params = Counter(), {{"start_time": since, "limit": 1000}}
        while True:
            body = (await http.get("/calls", params=params)).json()
            by_line.update(call.get("phone_name") for call in body["data"])
            if not body["pagination"].get("has_more"):
                break
            params["page"] = body["pagination"]["page"]
        return time.perf_counter() - start, time.process_time() - cpu, sum(by_line.values())


took, cpu, count = anyio.run({{"ours": ours, "raw": raw, "idle": lambda: ours("get_account", {{}})}}[MODE])
# VmHWM: this process's own peak (getrusage's ru_maxrss would count the parent's RSS at the fork, too)
peak = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(took, cpu, count, peak)
"""


async def summaries_run(base: str, mode: str) -> tuple[float, float, int, float]:
    """One summary (ours) or raw paging loop in a fresh process: seconds, CPU seconds of that process,
    calls read, the process's peak RSS in MB."""
    script = SUMMARIES_CHILD.format(root=str(ROOT), base=base, mode=mode)
    done = await anyio.run_process([sys.executable, "-c", script])
    took, cpu, count, peak = done.stdout.split()[-4:]
    return float(took), float(cpu), int(count), int(peak) / 1024


async def bench_summaries(
    sizes: tuple[int, ...] = (10_000, 100_000), rss_only: tuple[int, ...] = (300_000,)
) -> dict[str, Any]:
    """summarize_calls (group_by line, every metric) against a raw httpx loop paging through the same calls
    and counting them by line, each in its own process, interleaved, median of ROUNDS (3 at 100k and more);
    the simulator in a third process. Peak RSS is the server process's, whole run."""
    out: dict[str, Any] = {}
    peaks: dict[int, float] = {}
    for calls in (*sizes, *rss_only):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "-m", "sipsim_mcp", "sandbox", "--port", str(port), "--calls", str(calls)]
        async with await anyio.open_process(command) as simulator:
            base = f"http://127.0.0.1:{port}"
            try:
                await wait_until_up(base, tries=1200)
                if not peaks:
                    *_, idle = await summaries_run(base, "idle")
                if calls in rss_only:
                    *_, peaks[calls] = await summaries_run(base, "ours")
                    continue
                times: dict[str, list[float]] = {"ours": [], "raw": []}
                cpus: dict[str, list[float]] = {"ours": [], "raw": []}
                rss: list[float] = []
                for _ in range(ROUNDS if calls <= 10_000 else 3):
                    for mode in times:
                        took, cpu, count, peak = await summaries_run(base, mode)
                        assert count == calls, (mode, count, calls)
                        times[mode].append(took)
                        cpus[mode].append(cpu / calls * 1e6)
                        if mode == "ours":
                            rss.append(peak)
                peaks[calls] = max(rss)
                ours, raw = median(times["ours"]), median(times["raw"])
                label = f"summaries_{calls // 1000}k"
                out[label] = row(ours, raw, "s", f"{calls:,} calls by line vs raw loop")
                out[f"{label}_cpu"] = row(
                    median(cpus["ours"]), median(cpus["raw"]), "us CPU per call", "server process vs raw loop", 1
                )
            finally:
                simulator.terminate()
    smallest, largest = min(peaks), max(peaks)
    note = f"server process, {largest // 1000}k vs {smallest // 1000}k calls"
    out["summaries_rss"] = row(peaks[largest], peaks[smallest], "MB peak", note, 1)
    out["summaries_rss_idle"] = row(peaks[largest], idle, "MB peak", f"{largest // 1000}k calls vs get_account", 1)
    return out


async def bench_dataset(sandbox: Sandbox) -> dict[str, Any]:
    config = SandboxConfig(anchor=NOW)

    async def build() -> None:
        dataset._seeded.cache_clear()
        build_dataset(config)

    async def copy() -> None:
        build_dataset(config)  # the build of this config is cached: a copy of it

    spent = await interleaved({"build": timed(build, 1, time.process_time), "copy": timed(copy, 5, time.process_time)})
    return {"dataset": row(spent["build"], spent["copy"], "s CPU", f"{config.calls:,} calls")}


MEASURES: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "tools_list": bench_tools_list,
    "answer": bench_answer,
    "server": bench_server,
    "validate": bench_validate,
    "memory_call": bench_memory_call,
    "stdio_call": bench_stdio_call,
    "cold": bench_cold,
    "tokens": bench_tokens,
    "keepalive": bench_keepalive,
    "summaries": bench_summaries,
    "dataset": bench_dataset,
}
STANDALONE = {"summaries"}


def machine() -> dict[str, Any]:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


async def main(names: list[str]) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the in-process floor server logs at INFO
    chosen = names or list(MEASURES)
    unknown = set(chosen) - MEASURES.keys()
    if unknown:
        raise SystemExit(f"unknown measures: {', '.join(sorted(unknown))}; known: {', '.join(MEASURES)}")
    results: dict[str, Any] = {}
    with Sandbox(SandboxConfig(anchor=NOW)) as sandbox:
        for name in chosen:
            if name not in STANDALONE:
                results.update(await MEASURES[name](sandbox))
    for name in chosen:
        if name in STANDALONE:
            results.update(await MEASURES[name]())
    print(f"{'measure':<22} {'ours':>10} {'baseline':>10} {'ratio':>7}  unit")
    for name, figures in results.items():
        ours, baseline, ratio = figures["ours"], figures["baseline"], figures["ratio"]
        print(f"{name:<22} {ours:>10} {baseline:>10} {ratio:>7}  {figures['unit']}  {figures['note']}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"machine": machine(), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
