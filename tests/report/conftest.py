"""A real SMTP server on loopback (aiosmtpd) and a trustme certificate authority, for mail tests."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

USERNAME = "janitor"
PASSWORD = "s3cret-Pa55word!"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps each message; refuses the recipients it is told to."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=bytes(envelope.original_content or b""),
                tls=session.ssl is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 Message accepted for delivery"


@dataclass
class Server:
    host: str
    port: int
    recorder: Recorder
    mechanisms: list[str]

    @property
    def messages(self) -> list[Received]:
        return self.recorder.messages


def free_port() -> int:
    """A port nothing listens on (bound then released; aiosmtpd's Controller cannot use 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext  # the server's certificate for 127.0.0.1, issued by the test CA
    client: ssl.SSLContext  # trusts the test CA only


@pytest.fixture(scope="session")
def tls() -> Tls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Tls(server=server, client=client)


def _authenticator(mechanisms: list[str]) -> Callable[..., AuthResult]:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        mechanisms.append(mechanism)
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USERNAME.encode()
            and auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Server]]:
    """Start aiosmtpd servers on 127.0.0.1: ``smtp_server(starttls=ctx, implicit_tls=ctx,
    auth=True, auth_require_tls=True, exclude=("PLAIN",))``. All are stopped at the end."""
    controllers: list[Controller] = []

    def start(
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        auth: bool = False,
        auth_require_tls: bool = True,
        exclude: tuple[str, ...] = (),
        refuse: tuple[str, ...] = (),
    ) -> Server:
        recorder = Recorder(refuse=set(refuse))
        mechanisms: list[str] = []
        kwargs: dict[str, Any] = {
            "server_hostname": "localhost",
            "ready_timeout": 10.0,
            "auth_require_tls": auth_require_tls,
        }
        if starttls is not None:
            kwargs["tls_context"] = starttls
        if implicit_tls is not None:
            kwargs["ssl_context"] = implicit_tls
        if auth:
            kwargs["authenticator"] = _authenticator(mechanisms)
        if exclude:
            kwargs["auth_exclude_mechanism"] = exclude
        last_error: Exception | None = None
        for _ in range(5):  # another process may grab the free port between probe and bind
            port = free_port()
            controller = Controller(recorder, hostname="127.0.0.1", port=port, **kwargs)
            try:
                controller.start()
            except (OSError, RuntimeError) as exc:
                last_error = exc
                continue
            controllers.append(controller)
            return Server("127.0.0.1", port, recorder, mechanisms)
        raise RuntimeError(f"could not start an SMTP server on loopback: {last_error}")

    yield start
    for controller in controllers:
        controller.stop()
