"""A real webhook receiver on loopback for the notification tests (apprise's ``json://``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SECRET = "T0k3n-9f2b7c4e1a8d"


@dataclass
class Endpoint:
    """A webhook receiver on loopback; ``status`` is what it answers next."""

    status: int = 200
    received: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    port: int = 0

    def url(self, secret: str = SECRET) -> str:
        return f"json://127.0.0.1:{self.port}/hooks/{secret}"


@pytest.fixture(name="endpoint")
def endpoint_fixture() -> Iterator[Endpoint]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if state.status == 200:
                state.received.append(json.loads(body))
                state.paths.append(self.path)
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
