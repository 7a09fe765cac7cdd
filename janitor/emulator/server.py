"""Serve an emulator with uvicorn on a background thread, for tests, benchmarks and the CLI.

``start_emulator`` returns once the socket accepts connections; leaving the ``with`` block (or
``stop()``) shuts the server down and joins the thread within a few seconds, cancelling requests
still in flight (a ``slow`` fault, say) after a one-second grace.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from janitor.emulator.app import create_app
from janitor.emulator.config import EmulatorConfig
from janitor.emulator.faults import FaultPlan
from janitor.emulator.model import HubState
from janitor.emulator.registry_auth import REGISTRY_PREFIX
from janitor.emulator.requestlog import RequestLog

START_TIMEOUT = 10.0
GRACE = 1.0


class RunningEmulator:
    """A served emulator: ``url``, ``registry_url``, ``state``, ``config``, ``faults``, ``log``;
    a context manager."""

    def __init__(
        self,
        state: HubState,
        config: EmulatorConfig,
        server: uvicorn.Server,
        thread: threading.Thread,
        sock: socket.socket,
        host: str,
        port: int,
        faults: FaultPlan,
        log: RequestLog,
    ) -> None:
        self.state = state
        self.config = config
        self.faults = faults
        self.log = log
        self.host = host
        self.port = port
        self._server = server
        self._thread = thread
        self._socket = sock
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        self.registry_url = self.url + REGISTRY_PREFIX  # the registry API, on the same server

    def __repr__(self) -> str:
        return f"RunningEmulator(url={self.url!r})"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and join the server thread (idempotent)."""
        server = self._server
        server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            server.force_exit = True
            self._thread.join(timeout)
        self._socket.close()
        if self._thread.is_alive():
            raise RuntimeError(f"the emulator at {self.url} did not stop")

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto
    # says TCP, and without it every answer (headers, then body) waits ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def start_emulator(
    state: HubState,
    config: EmulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    faults: FaultPlan | None = None,
) -> RunningEmulator:
    """Serve ``state`` on ``host:port`` (0: a free port) and return once it accepts connections."""
    config = config or EmulatorConfig()
    app = create_app(state, config, faults)
    sock = _bind(host, port)
    uv_config = uvicorn.Config(
        app,
        log_config=None,  # leave the process's logging alone
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(GRACE),
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(uv_config)
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the starting thread
            failure.append(exc)

    thread = threading.Thread(
        target=serve, name=f"janitor-emulator-{sock.getsockname()[1]}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(2.0)
            sock.close()
            reason = repr(failure[0]) if failure else "timed out"
            raise RuntimeError(f"the emulator did not start: {reason}")
        time.sleep(0.005)
    return RunningEmulator(
        state,
        config,
        server,
        thread,
        sock,
        host,
        sock.getsockname()[1],
        app.ctx.faults,
        app.ctx.log,
    )
