"""The webhook receiver: events a second and the p99 time to acknowledge one, against a bare HTTP handler that
does the same HMAC check and nothing else, both measured in the same run.

    python bench/receiver.py                        # SQLite (the default store), 2,000 events, 10 and 50 at a time
    python bench/receiver.py --store redis --events 5000 --rounds 5

Every process is real and separate: the receiver is `sipsim-mcp receive` (its default store, or Redis
Streams on a redis-server of its own); the baseline is `python bench/receiver.py bare`, an ASGI handler that
reads the body, checks X-Webhook-Signature with the same HMAC and answers 200, served by the same uvicorn
configuration (h11 and the header deadline of `sipsim-mcp receive`). The load generator (this process) sends
pre-signed, distinct events (each one is stored: no duplicate short-cut) over keep-alive connections, each
connection sending its next event when the last is acknowledged; the acknowledgement time runs from the
request's first byte to the answer's last. Rounds alternate the two targets; figures are medians over rounds.
CPU ms per event is the serving process's CPU time over a run divided by its events: it does not depend on
how busy the machine is. The rate limit is lifted for the bench (SIPSIM_WEBHOOK_RATE_LIMIT=100000).
Writes bench/results/receiver.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from statistics import median
from typing import Any

from throughput import ROOT, cpu_seconds, free_port, machine, start

SECRET = "bench-secret-" + "b" * 32
PATH = "/webhooks/sipsim"


# --------------------------------------------------------------------------- the baseline


def bare_app() -> Any:
    """Read the body, check the signature as the receiver does (hex HMAC-SHA256, constant-time), answer 200."""
    key = SECRET.encode()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = dict(scope["headers"])
        stamp, given = headers.get(b"x-webhook-timestamp", b""), headers.get(b"x-webhook-signature", b"")
        expected = hmac.new(key, stamp + b"." + body, hashlib.sha256).hexdigest().encode()
        ok = hmac.compare_digest(expected, given.strip().lower())
        answer = b'{"ok":true}' if ok else b'{"error":"signature refused"}'
        headers_out = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 200 if ok else 401, "headers": headers_out})
        await send({"type": "http.response.body", "body": answer})

    return app


def serve_bare(port: int) -> None:
    import uvicorn

    from sipsim_mcp.api.config import load_settings
    from sipsim_mcp.mcp.http import server_config

    uvicorn.Server(server_config(bare_app(), load_settings(), host="127.0.0.1", port=port)).run()


# --------------------------------------------------------------------------- the load


def requests_for(run: str, count: int) -> list[bytes]:
    """`count` distinct incoming_call_start events, signed now, as raw HTTP/1.1 requests."""
    stamp = str(int(time.time())).encode()
    out = []
    for n in range(count):
        body = json.dumps(
            {
                "event": "incoming_call_start",
                "caller": "+33612345678",
                "receiver": "+33184880101",
                "pbx_id": f"call_{run}_{n:06d}",
                "time": "2026-11-28T09:00:00Z",
            }
        ).encode()
        signature = hmac.new(SECRET.encode(), stamp + b"." + body, hashlib.sha256).hexdigest().encode()
        out.append(
            b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"X-Webhook-Timestamp: " + stamp + b"\r\nX-Webhook-Signature: " + signature + b"\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
    return out


async def load(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[float], int]:
    """Send every request over `concurrency` keep-alive connections: wall seconds, ack times, non-200 count."""
    queue = list(reversed(requests))
    times: list[float] = []
    failed = 0

    async def connection() -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                request = queue.pop()
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                await reader.readexactly(length)
                times.append(time.perf_counter() - started)
                failed += head[9:12] != b"200"
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, times, failed


def p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "memory", "redis"), default="sqlite")
    parser.add_argument("--events", type=int, default=2000, help="events per run (default 2000)")
    parser.add_argument("--concurrency", default="10,50", help="connections, comma-separated (default 10,50)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-receiver-")))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIPSIM_")}
        env.update(SIPSIM_WEBHOOK_SECRET=SECRET, SIPSIM_WEBHOOK_RATE_LIMIT="100000", SIPSIM_LOG_LEVEL="WARNING")
        if args.store == "redis":
            redis = free_port()
            binary = shutil.which("redis-server") or "/usr/bin/redis-server"
            start(stack, [binary, "--port", str(redis), "--save", "", "--appendonly", "no"], redis, env, folder / "r")
            env["SIPSIM_EVENTS_URL"] = f"redis://127.0.0.1:{redis}/0"
        else:
            env["SIPSIM_EVENTS_URL"] = f"sqlite:///{folder}/events.sqlite3" if args.store == "sqlite" else "memory:"
        ports = {"receiver": free_port(), "bare": free_port()}
        commands = {
            "receiver": [sys.executable, "-m", "sipsim_mcp", "receive", "--port", str(ports["receiver"])],
            "bare": [sys.executable, str(Path(__file__).resolve()), "bare", str(ports["bare"])],
        }
        pids = {name: start(stack, command, ports[name], env, folder / name) for name, command in commands.items()}
        for name in commands:  # warm-up: imports, first connections, SQLite pages
            asyncio.run(load(ports[name], requests_for(f"warm_{name}", 200), 10))
        runs: dict[tuple[str, int], list[dict[str, float]]] = {}
        for round_ in range(args.rounds):
            for concurrency in levels:
                for name in ("bare", "receiver"):
                    requests = requests_for(f"{round_}_{concurrency}_{name}", args.events)
                    cpu = cpu_seconds(pids[name])
                    wall, times, failed = asyncio.run(load(ports[name], requests, concurrency))
                    if failed:
                        raise SystemExit(f"{name}: {failed} events not acknowledged with 200")
                    used = (cpu_seconds(pids[name]) - cpu) * 1000 / len(times)
                    runs.setdefault((name, concurrency), []).append(
                        {"rate": len(times) / wall, "p99": p99(times), "cpu_ms": used}
                    )
        rows = []
        for concurrency in levels:
            figures = {
                name: {key: median(run[key] for run in runs[(name, concurrency)]) for key in ("rate", "p99", "cpu_ms")}
                for name in ("receiver", "bare")
            }
            ours, base = figures["receiver"], figures["bare"]
            rows.append(
                {
                    "concurrency": concurrency,
                    "events_per_s": round(ours["rate"]),
                    "bare_events_per_s": round(base["rate"]),
                    "throughput_ratio": round(ours["rate"] / base["rate"], 2),
                    "p99_ms": round(ours["p99"] * 1000, 1),
                    "bare_p99_ms": round(base["p99"] * 1000, 1),
                    "p99_ratio": round(ours["p99"] / base["p99"], 2),
                    "cpu_ms_per_event": round(ours["cpu_ms"], 3),
                    "bare_cpu_ms_per_event": round(base["cpu_ms"], 3),
                    "cpu_ratio": round(ours["cpu_ms"] / base["cpu_ms"], 2),
                }
            )
        result = {
            "command": " ".join(["python", "bench/receiver.py", *sys.argv[1:]]),
            "store": args.store,
            "events_per_run": args.events,
            "rounds": args.rounds,
            "machine": machine(),
            "rows": rows,
        }
        print(json.dumps(result, indent=2))
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "receiver.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["bare"]:
        serve_bare(int(sys.argv[2]))
    else:
        main()
