"""Run the sandbox on loopback: uvicorn in a daemon thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from .app import API_PREFIX, TOKEN_PATH, create_app
from .config import SandboxConfig
from .state import SandboxState

_START_TIMEOUT = 10.0


def _uvicorn_config(app: Starlette, host: str, port: int) -> uvicorn.Config:
    # log_config=None: leave the host's logging alone; nothing is ever written to stdout.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        loop="asyncio",
        timeout_graceful_shutdown=1,
        server_header=False,
    )


class Sandbox(SandboxState):
    """A SIPSIM simulator: seeded data, OAuth token endpoint and ``/api/v2`` on loopback."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        super().__init__(config)
        self.app: Starlette = create_app(self)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Sandbox:
        """Serve in a daemon thread (``port=0``: a free port); returns once it accepts requests."""
        if self._thread is not None:
            raise RuntimeError("sandbox already started")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP proto: asyncio then sets TCP_NODELAY
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        bound_port = sock.getsockname()[1]
        server = uvicorn.Server(_uvicorn_config(self.app, host, bound_port))
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"sipsim-sandbox-{bound_port}", daemon=True
        )
        self._server, self._thread, self._socket = server, thread, sock
        self._host, self._port = host, bound_port
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sandbox server failed to start")
            time.sleep(0.005)
        if self.live is not None:
            self.live.start()
        return self

    def stop(self) -> None:
        """Stop the server thread and release the socket (idempotent)."""
        if self.live is not None:
            self.live.stop()
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        self._port = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=_START_TIMEOUT)
        if sock is not None:
            sock.close()

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8765) -> None:
        """Serve in the foreground until interrupted (Ctrl-C); for the CLI. Blocks."""
        if self._thread is not None:
            raise RuntimeError("sandbox already started in the background")
        self._host, self._port = host, port
        if self.live is not None:
            self.live.start()
        try:
            uvicorn.Server(_uvicorn_config(self.app, host, port)).run()
        except KeyboardInterrupt:  # uvicorn re-raises the captured Ctrl-C after a graceful shutdown
            pass
        finally:
            self._port = None
            if self.live is not None:
                self.live.stop()

    def __enter__(self) -> Sandbox:
        return self.start() if self._thread is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running sandbox."""
        if self._port is None:
            raise RuntimeError("sandbox is not running: call start() first")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def api_url(self) -> str:
        """Base URL of the REST API (``.../api/v2``)."""
        return self.base_url + API_PREFIX

    @property
    def token_url(self) -> str:
        """URL of the OAuth token endpoint."""
        return self.base_url + TOKEN_PATH
