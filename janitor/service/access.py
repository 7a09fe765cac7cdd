"""Who may read the service's pages.

Bound to loopback, the dashboard may be open (only this machine reaches it). Bound to any other
address, every page but ``/healthz`` (and ``/metrics``, unless ``JANITOR_METRICS_AUTH``) needs
``JANITOR_HTTP_TOKEN``: as a bearer token or as the password of HTTP basic auth (any user name),
compared in constant time. Without a token off loopback the dashboard is not served at all, and
the service says why in one line. A configured token is required on loopback too; without one,
the open dashboard answers only to loopback Host names (no DNS rebinding).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from janitor.config import Secret
from janitor.logs import register_secret

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
REALM = "janitor"


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address (``0.0.0.0`` and ``::``, every
    interface, are not)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).partition("%")[0]).is_loopback for info in infos
    )


@dataclass(frozen=True)
class Access:
    """The access rules of one HTTP server."""

    token: Secret | None
    metrics_auth: bool = False
    dashboard_refused: str | None = None
    """Why the dashboard is not served (one line), or None when it is."""

    @classmethod
    def decide(cls, host: str, token: Secret | None, *, metrics_auth: bool = False) -> Access:
        if token is not None:
            register_secret(token.reveal())  # the log's last line of defence
        refused = None
        if token is None and not is_loopback(host):
            refused = (
                f"dashboard not started: janitor serve listens on {host}, which is not a "
                "loopback address, and no JANITOR_HTTP_TOKEN (or JANITOR_HTTP_TOKEN_FILE) is "
                "set; set one, or listen on 127.0.0.1 with --host"
            )
        return cls(token, metrics_auth, refused)

    @property
    def dashboard(self) -> bool:
        return self.dashboard_refused is None

    @property
    def loopback_only(self) -> bool:
        """Open on loopback: pages answer only to a loopback Host header, so that a web page
        elsewhere cannot read them through a DNS name rebound to 127.0.0.1."""
        return self.token is None and self.dashboard_refused is None

    def host_allowed(self, path: str, host_header: str | None) -> bool:
        if not self.loopback_only or path in (HEALTH_PATH, METRICS_PATH):
            return True
        host = (host_header or "").strip().lower()
        if host.startswith("["):
            name = host[1 : host.find("]")] if "]" in host else host
        else:
            name = host.rpartition(":")[0] if host.count(":") == 1 else host
        if name == "localhost" or name.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def needs_token(self, path: str) -> bool:
        if self.token is None or path == HEALTH_PATH:
            return False
        return path != METRICS_PATH or self.metrics_auth

    def allows(self, authorization: str | None) -> bool:
        """Whether the Authorization header carries the token (bearer, or basic's password)."""
        if self.token is None:
            return True
        offered = _offered_token(authorization or "")
        # Compare digests, so that neither the content nor the length of the token shows in
        # the time the comparison takes.
        expected = hashlib.sha256(self.token.reveal().encode("utf-8")).digest()
        given = hashlib.sha256((offered or "").encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(given, expected) and offered is not None


def _offered_token(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, colon, password = decoded.partition(":")
        return password if colon else None
    return None


class AccessControl:
    """ASGI middleware enforcing ``access`` before any route runs."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name: value.decode("latin-1") for name, value in scope.get("headers", [])}
        path = scope["path"]
        if not self.access.host_allowed(path, headers.get(b"host")):
            await _plain(
                send,
                421,
                b"421 Misdirected Request: without JANITOR_HTTP_TOKEN the dashboard answers only "
                b"to localhost and loopback addresses\n",
            )
            return
        if not self.access.needs_token(path) or self.access.allows(headers.get(b"authorization")):
            await self.app(scope, receive, send)
            return
        await _plain(
            send,
            401,
            b"401 Unauthorized: send JANITOR_HTTP_TOKEN as a bearer token or basic password\n",
            [(b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode())],
        )


async def _plain(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
