"""The service's HTTP endpoints, /healthz, /metrics and the dashboard, served by uvicorn in a
thread, behind the access rules of :mod:`janitor.service.access`.

The listening socket is bound before uvicorn starts, so port 0 (any free port) is resolved and
logged, and a port already in use is a start-up error rather than a log line in a thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from janitor.errors import JanitorError
from janitor.service.access import HEALTH_PATH, METRICS_PATH, Access, AccessControl
from janitor.service.dashboard import DashboardSource, dashboard_routes
from janitor.service.metrics import ServiceMetrics

log = logging.getLogger("janitor.service.http")

DASHBOARD_PATHS = ("/", "/runs/{rest:path}", "/schedule", "/weekly")


@dataclass(frozen=True)
class Health:
    """What /healthz says: ``healthy`` picks 200 or 503, ``details`` is the JSON body."""

    healthy: bool
    details: dict[str, object] = field(default_factory=dict)


def create_http_app(
    health: Callable[[], Health],
    metrics: ServiceMetrics,
    *,
    access: Access | None = None,
    dashboard: DashboardSource | None = None,
) -> Starlette:
    """The endpoints; the dashboard's pages when ``dashboard`` is given and ``access`` lets it be
    served (else its paths say why it is off). Every route answers GET and HEAD only."""
    access = access or Access(token=None)

    # Plain (sync) endpoints: Starlette runs them in its thread pool, so a slow database ping
    # never blocks the event loop.
    def healthz(request: Request) -> Response:
        state = health()
        return JSONResponse(state.details, status_code=200 if state.healthy else 503)

    def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), headers={"Content-Type": metrics.content_type})

    def dashboard_off(request: Request) -> Response:
        return PlainTextResponse(f"{access.dashboard_refused}\n", status_code=404)

    routes = [
        Route(HEALTH_PATH, healthz, methods=["GET", "HEAD"]),
        Route(METRICS_PATH, metrics_endpoint, methods=["GET", "HEAD"]),
    ]
    if dashboard is not None and access.dashboard:
        routes += dashboard_routes(dashboard)
    elif dashboard is not None:
        routes += [Route(p, dashboard_off, methods=["GET", "HEAD"]) for p in DASHBOARD_PATHS]
    app = Starlette(routes=routes)
    app.add_middleware(AccessControl, access=access)
    return app


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: any free port); JanitorError if it can't be."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise JanitorError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise JanitorError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another port with --port or JANITOR_HTTP_PORT (0: any free port)"
        ) from None
    sock.set_inheritable(False)
    return sock


class HttpServer:
    """uvicorn serving ``app`` on a background thread; ``start()`` returns once it listens."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> int:
        sock = bind_socket(self.host, self.requested_port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
            timeout_keep_alive=5,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="janitor-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                sock.close()
                raise JanitorError(f"the HTTP server did not start on {self.host}:{self.port}")
            time.sleep(0.02)
        log.info("http server listening on %s", self.url)
        return self.port

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():  # a client holding a connection open: don't wait for it
            self._server.force_exit = True
            self._thread.join(timeout)
        self._server = self._thread = None
