"""Command line: `sipsim-mcp` (serve over stdio or HTTP, `--demo` against the bundled simulator),
`sipsim-mcp sandbox` (run the simulator), `sipsim-mcp receive` (the webhook receiver alone) and
`sipsim-mcp doctor` (check the setup)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import importlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from .. import __version__
from ..api.config import ConfigError, Settings, load_settings
from ..api.redact import RedactingFilter
from .demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, demo_environment, demo_settings

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from ..mcp.server import SipsimServer

logger = logging.getLogger("sipsim_mcp")


def configure_logging(level: str, *, pid: bool = False) -> None:
    """Log to stderr only (stdout is the MCP channel on stdio), secrets scrubbed, HTTP request lines off;
    with `pid`, each line names its process (one of several workers)."""
    handler = logging.StreamHandler(sys.stderr)
    process = "[%(process)d] " if pid else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s {process}%(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def _log_level() -> str:
    """SIPSIM_LOG_LEVEL, or WARNING when the configuration cannot be read (doctor reports why)."""
    try:
        return load_settings().log_level
    except ConfigError:
        return "WARNING"


WAITING = """\
sipsim-mcp is an MCP server: it now waits for an MCP client to speak MCP on stdin, so it shows nothing
here. MCP clients (Claude Desktop, Claude Code, the Inspector...) start it themselves: see README.md,
"Connect a client". To see what it does: sipsim-mcp --demo. To check a setup: sipsim-mcp doctor."""
QUIT = "Ctrl-C quits."

#: The settings of the Claude Desktop bundle (the titles of manifest.json's user_config), by the variable
#: each one sets: a bundle user changes those, not variables.
BUNDLE_SETTINGS = {
    "SIPSIM_CLIENT_ID": "SIPSIM client id",
    "SIPSIM_CLIENT_SECRET": "SIPSIM client secret",
    "SIPSIM_SCOPES": "Scopes",
    "SIPSIM_READ_ONLY": "Read-only",
    "SIPSIM_CONFIRM_WRITES": "Write confirmation",
    "SIPSIM_TIMEZONE": "Time zone",
    "SIPSIM_DEFAULT_REGION": "Default country",
    "SIPSIM_DEMO": "Demo mode",
}
BUNDLE_PLACE = "this extension's settings (in Claude Desktop: Settings, Extensions, SIPSIM)"


def setup_problem(exc: ConfigError, *, bundle: bool = False, no_credentials: bool = False) -> str:
    """What a host's user reads on every tool call when the server cannot reach SIPSIM: the fix, in the
    words of where it is made (`bundle`: the Desktop extension's settings, not an `env` entry)."""
    if not bundle:
        return (
            f"The SIPSIM server is not set up, so its tools cannot answer yet. {exc} Fix this in the `env` of "
            "this server's entry in the MCP client's configuration, then restart the server."
        )
    start = "The SIPSIM extension is not set up, so its tools cannot answer yet."
    after = "then save them (if the tools still answer this, turn the extension off and on again)."
    if no_credentials:
        return (
            f"{start} Open {BUNDLE_PLACE} and fill in 'SIPSIM client id' and 'SIPSIM client secret' with those of "
            "your SIPSIM API integration (SIPSIM dashboard, Integrations, API), or tick 'Demo mode' to try it on a "
            f"bundled simulator with seeded calls and no account; {after}"
        )
    text = str(exc).rstrip(".")
    for variable, title in BUNDLE_SETTINGS.items():
        text = text.replace(variable, f"'{title}'")
    return f"{start} {text}. Correct it in {BUNDLE_PLACE}, {after}"


@contextlib.contextmanager
def starting() -> Iterator[None]:
    """Start-up without the garbage collector: nearly all it makes (modules, classes, the tools and their
    schemas) lives as long as the process, so the collector's passes over it would be wasted (a tenth of
    start-up's CPU). The server's modules are imported and frozen out of the collector's view at once; on
    leaving, what was left unreachable since is collected (a pass over those objects only), the rest is
    frozen too, and the collector runs again before the server answers anything."""
    gc.disable()
    try:
        importlib.import_module("..mcp.server", __package__)  # most of what start-up makes
        gc.freeze()
        yield
        gc.collect()
        gc.freeze()
    finally:
        gc.enable()


def serve_stdio(args: argparse.Namespace) -> None:
    """Serve MCP on stdin/stdout. A configuration problem does not stop the server: the handshake
    completes and every tool call returns the fix (hosts show tool results, not stderr)."""
    with contextlib.ExitStack() as stack:
        with starting():
            serve = stdio_server(args, stack)
        serve()


def stdio_server(args: argparse.Namespace, stack: contextlib.ExitStack) -> Callable[[], object]:
    """What `serve_stdio` runs: the server, the setup server when the configuration is unusable, or the tour
    for a person at a terminal in demo mode (the simulator lives as long as `stack`)."""
    from ..mcp.server import build_server

    try:
        environment = load_settings()
    except ConfigError as exc:
        configure_logging("WARNING")
        return setup_server(exc, None, bundle=args.bundle).serve_stdio
    configure_logging(environment.log_level)
    if args.demo or environment.demo:
        settings = demo_settings(
            stack.enter_context(demo_environment(now=environment.now, live_rate=environment.demo_live_rate))
        )
        if sys.stdin.isatty():
            # A person at a terminal, not an MCP host on a pipe: show what the server does.
            import anyio

            from .tour import tour

            return functools.partial(anyio.run, tour, settings, print)
        return build_server(settings).serve_stdio
    try:
        environment.require_credentials()
        server = build_server(environment)
    except ConfigError as exc:
        return setup_server(exc, environment, bundle=args.bundle).serve_stdio
    if sys.stdin.isatty():
        print(f"{WAITING}\n{QUIT}", file=sys.stderr, flush=True)
    return server.serve_stdio


def setup_server(exc: ConfigError, settings: Settings | None, *, bundle: bool = False) -> SipsimServer:
    """The setup server for `exc`. Its fix is logged once for a host's log; a person at a terminal reads
    what the server is, then the fix in plain words, and no log line."""
    from ..mcp.server import build_setup_server

    text = setup_problem(exc, bundle=bundle, no_credentials=settings is not None and not settings.has_credentials)
    if sys.stdin.isatty():
        print(f"{WAITING}\n\nIt is not set up yet: {exc}\n{QUIT}", file=sys.stderr, flush=True)
    else:
        logger.error("%s", text)
    return build_setup_server(text, settings)


def check_workers(args: argparse.Namespace, settings: Settings) -> None:
    """Several worker processes serve like replicas: only stateless, and only with a state store they
    share (each write guard must see every worker's codes and writes; the embedded store and Redis are
    shared, memory is not), unless nothing is written."""
    from ..state import MEMORY_URL

    workers = args.workers
    if workers == 1:
        return
    if not args.stateless:
        raise ConfigError(
            f"--workers {workers} needs --stateless: an MCP session lives in the worker process that opened it, "
            "and its client's next request may reach another worker. Add --stateless (each request stands alone)."
        )
    if settings.state_url == MEMORY_URL and not settings.read_only:
        raise ConfigError(
            f"--workers {workers} needs a state store every worker shares, and SIPSIM_STATE_URL=memory:// keeps "
            "state in each process: each worker would keep its own record of used confirmation codes and of "
            "writes in flight, so one code could be used once per worker and one call could ring twice. Unset "
            "SIPSIM_STATE_URL (the embedded store is shared by the workers), or set SIPSIM_READ_ONLY=true."
        )


PR_SET_PDEATHSIG = 1


def worker_app(settings: Settings, host: str, port: int, supervisor: int) -> ASGIApp:
    """The app of one worker process (`--workers N`): its own logging (each line with its pid), server,
    API client and connection to the shared state store."""
    from ..mcp.http import http_app

    if sys.platform == "linux":  # SIGTERM when the supervisor dies, even by SIGKILL: no orphan keeps the port
        import ctypes

        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != supervisor:  # it died while this worker was starting, before the line above
            os.kill(os.getpid(), signal.SIGTERM)
    configure_logging(settings.log_level, pid=True)
    with starting():
        return http_app(settings, host=host, port=port, stateless=True)


def serve_http(args: argparse.Namespace) -> None:
    """Serve streamable HTTP. Unlike stdio, a configuration problem stops it: an operator reads stderr,
    and a deployment that cannot work should not look healthy."""
    from ..mcp.http import MCP_PATH, base_url, http_app, listening, run_http, run_workers

    environment = load_settings()
    check_workers(args, environment)
    configure_logging(environment.log_level, pid=args.workers > 1)
    with contextlib.ExitStack() as stack:
        sock = None
        if args.demo or environment.demo:
            receiver = None
            if environment.demo_live_rate > 0:  # the simulator posts to the receiver mounted here: listen first
                sock = stack.enter_context(listening(environment, host=args.host, port=args.port))
                receiver = f"{base_url(args.host, args.port)}{environment.webhook_path}"
            live = demo_environment(now=environment.now, live_rate=environment.demo_live_rate, webhook_url=receiver)
            settings = demo_settings(stack.enter_context(live))
        else:
            environment.require_credentials()
            settings = environment
        url = f"{base_url(args.host, args.port)}{MCP_PATH}"
        if args.workers == 1:
            with starting():  # a configuration error (no token off loopback) stops it here, before it says it serves
                app = http_app(settings, host=args.host, port=args.port, stateless=args.stateless)
            print(f"sipsim-mcp: serving MCP over streamable HTTP at {url}; Ctrl-C stops it.", file=sys.stderr)
            run_http(app, settings, host=args.host, port=args.port, stateless=args.stateless, sock=sock)
            return
        http_app(settings, host=args.host, port=args.port, stateless=True)  # a configuration error stops it here, once
        where = f"{url} in {args.workers} worker processes"
        print(f"sipsim-mcp: serving MCP over streamable HTTP at {where}; Ctrl-C stops them all.", file=sys.stderr)
        factory = functools.partial(worker_app, settings, args.host, args.port, os.getpid())
        run_workers(factory, settings, host=args.host, port=args.port, workers=args.workers, sock=sock)


def run_sandbox(args: argparse.Namespace) -> None:
    from ..sandbox import Sandbox, SandboxConfig
    from .live import sandbox_live

    live, note = sandbox_live(args)
    sandbox = Sandbox(SandboxConfig(seed=args.seed, calls=args.calls, variant=args.variant, live=live))
    print(
        f"SIPSIM simulator: API http://{args.host}:{args.port}/api/v2, token http://{args.host}:{args.port}/oauth/token\n"
        f"client id {DEMO_CLIENT_ID!r}, client secret {DEMO_CLIENT_SECRET!r}, {args.calls} calls (seed {args.seed}), "
        f"variant {args.variant}.{note} "
        "Ctrl-C stops it.",
        flush=True,
    )
    sandbox.serve_forever(args.host, args.port)


def _count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"expected a number of processes from 1 to 64, got {text!r}")
    return int(text)


def _variant(text: str) -> str:
    from ..sandbox.variants import parse_variants

    try:
        parse_variants(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class _Help(argparse.HelpFormatter):
    """Lists the simulator's variants in `%(variants)s` only when help is shown (they import the simulator)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = super()._get_help_string(action)
        if text is None or "%(variants)s" not in text:
            return text
        from ..sandbox.variants import VARIANTS

        return text.replace("%(variants)s", "; ".join(f"{v.name} ({v.description})" for v in VARIANTS.values()))


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="sipsim-mcp",
        description="MCP server for the SIPSIM telephony API. Configuration: SIPSIM_* environment variables.",
    )
    main.add_argument("--version", action="version", version=f"sipsim-mcp {__version__}")
    main.add_argument("--demo", action="store_true", help="serve against the bundled simulator (no account needed)")
    main.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    main.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default 127.0.0.1)")
    main.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    main.add_argument(
        "--stateless",
        action="store_true",
        help="HTTP without sessions, for several replicas behind a load balancer",
    )
    main.add_argument(
        "--workers",
        type=_count,
        default=1,
        metavar="N",
        help="HTTP: serve in N processes on one port, to use N cores (needs --stateless)",
    )
    commands = main.add_subparsers(dest="command", metavar="{sandbox,receive,doctor}")
    sandbox = commands.add_parser(
        "sandbox", help="run the bundled SIPSIM simulator on loopback HTTP", formatter_class=_Help
    )
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--seed", type=int, default=7, help="seed of the generated data set (default 7)")
    sandbox.add_argument("--calls", type=int, default=5000, help="number of calls to generate (default 5000)")
    sandbox.add_argument(
        "--variant",
        default="standard",
        type=_variant,
        metavar="NAME[,NAME]",
        help="serve the same data in another plausible shape of the real API: %(variants)s",
    )
    from .live import add_commands

    add_commands(commands, sandbox)
    doctor = commands.add_parser("doctor", help="check the configuration, credentials, scopes and API")
    # SUPPRESS: `--demo` given before the subcommand is not reset by the subcommand's default.
    doctor.add_argument(
        "--demo", action="store_true", default=argparse.SUPPRESS, help="check against the bundled simulator"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument(
        "--probe",
        action="store_true",
        help="also read one page of each endpoint and report how its fields compare with the docs "
        "(types and key names only, never values: safe to paste into a bug report)",
    )
    return main


def main(argv: Sequence[str] | None = None, *, bundle: bool = False) -> None:
    """The command line; `bundle`: started by the Claude Desktop bundle (server/main.py), whose user fixes
    the setup in the extension's settings."""
    args = parser().parse_args(argv)
    args.bundle = bundle
    try:
        if args.command == "sandbox":
            configure_logging("WARNING")
            run_sandbox(args)
            return
        if args.command == "receive":
            from .live import run_receive

            configure_logging(_log_level())
            run_receive(args)
            return
        if args.command == "doctor":
            from .doctor import run_doctor

            configure_logging(_log_level())
            sys.exit(run_doctor(demo=args.demo, as_json=args.json, probe=args.probe))
        if args.transport == "stdio":
            if args.workers > 1:
                raise ConfigError(f"--workers {args.workers} serves HTTP: add --transport http --stateless.")
            serve_stdio(args)
        else:
            serve_http(args)
    except ConfigError as exc:
        print(f"sipsim-mcp: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass
