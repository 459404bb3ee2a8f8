"""Live calls on the command line. `sipsim-mcp receive`: the SIPSIM webhook receiver on its own, for
deployments whose MCP server runs on stdio (the MCP host starts it, so it cannot listen for SIPSIM): events go
to the shared event store, where the stdio server reads them. `sipsim-mcp sandbox --live-rate/--webhook-url/
--webhook-faults`: the simulator's calls as they happen. And the demo's receiver, in a thread."""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..api.config import ConfigError, load_settings

# The parser reads this module on every start: what serving needs is imported where it serves.


def add_commands(commands: Any, sandbox: argparse.ArgumentParser) -> None:
    """The `receive` command, and the live options of `sandbox`."""
    sandbox.add_argument(
        "--live-rate",
        type=float,
        metavar="N",
        help="place N calls a minute as they happen, after the data (default 2 with --webhook-url, else none)",
    )
    sandbox.add_argument("--webhook-url", help="post each live call's webhooks here, signed with SIPSIM_WEBHOOK_SECRET")
    sandbox.add_argument(
        "--webhook-faults",
        type=_faults,
        default=frozenset(),
        metavar="FAULT[,FAULT]",
        help="misdeliver some webhooks: duplicate, out_of_order, bad_signature",
    )
    receive = commands.add_parser(
        "receive",
        help="receive SIPSIM webhooks (for an MCP server on stdio): verify them, keep them in the event store",
    )
    receive.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    receive.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    receive.add_argument("--path", help="path (default SIPSIM_WEBHOOK_PATH: /webhooks/sipsim)")


def _faults(text: str) -> frozenset[str]:
    from ..sandbox.config import FAULTS

    chosen = frozenset(word.strip().replace("-", "_") for word in text.split(",") if word.strip())
    if not chosen <= set(FAULTS):
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(FAULTS)} (comma-separated), got {text!r}")
    return chosen


def sandbox_live(args: argparse.Namespace) -> tuple[Any, str]:
    """The simulator's LiveConfig from `sandbox`'s options (None: no live calls) and a line saying what it does."""
    from ..sandbox import LiveConfig

    rate = args.live_rate if args.live_rate is not None else (2.0 if args.webhook_url else 0.0)
    if rate <= 0 and not args.webhook_url:
        return None, ""
    secret = next(iter(load_settings().webhook_secrets), "")
    if args.webhook_url and not secret:
        raise ConfigError(
            "--webhook-url needs SIPSIM_WEBHOOK_SECRET: the signing secret the simulator and the receiver share."
        )
    live = LiveConfig(rate=rate, url=args.webhook_url, secret=secret, faults=args.webhook_faults, seed=args.seed)
    where = f", their webhooks signed with SIPSIM_WEBHOOK_SECRET and posted to {args.webhook_url}" if secret else ""
    faults = f" (faults: {', '.join(sorted(live.faults))})" if live.faults else ""
    return live, f" {rate:g} calls a minute happen live{where}{faults}."


def run_receive(args: argparse.Namespace) -> None:
    """Serve the receiver in the foreground until Ctrl-C (a ConfigError without a signing secret)."""
    import anyio
    import uvicorn

    from ..api.events import EventLogUnavailable, open_event_log
    from ..mcp.http import base_url, server_config
    from ..mcp.receiver import receiver_app, receiver_from_settings

    settings = load_settings()
    settings.require_webhook_secrets()
    path = args.path or settings.webhook_path
    try:
        anyio.run(_check, settings.events_store)  # a store that cannot work stops it here, with the reason
        log = open_event_log(settings.events_store)
    except EventLogUnavailable as exc:
        raise ConfigError(f"SIPSIM_EVENTS_URL: {exc}") from None
    app = receiver_app(receiver_from_settings(settings, log), path)
    print(
        f"sipsim-mcp: receiving SIPSIM webhooks at {base_url(args.host, args.port)}{path} (put HTTPS in front: "
        f"SIPSIM posts to https:// URLs only); events kept in {log.description}. Ctrl-C stops it.",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(server_config(app, settings, host=args.host, port=args.port)).run()


async def _check(url: str | None) -> None:
    from ..api.events import open_event_log

    log = open_event_log(url)
    try:
        await log.check()
    finally:
        await log.aclose()


@contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` on a free loopback port in a daemon thread; yields its base URL, stops on leaving."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, log_level="warning", access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"receiver-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the webhook receiver failed to start")
        time.sleep(0.005)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
