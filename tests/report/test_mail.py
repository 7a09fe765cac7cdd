"""Mail delivery against a real SMTP server on loopback (aiosmtpd), and the settings from env."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import socket
import ssl
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from janitor.errors import JanitorError
from janitor.report import RenderedReport
from janitor.report.mail import (
    Mailer,
    MailError,
    RecordingMailer,
    SmtpMailer,
    SmtpSettings,
    build_message,
)

from .conftest import PASSWORD, USERNAME, Received, Server, Tls, free_port

REPORT = RenderedReport(
    subject="[janitor] nightly on acme: deleted 3 images (ünïcødé ☃)",
    html="<!DOCTYPE html><html><body><p>Deleted <b>3</b> images: ☃</p></body></html>\n",
    text="Deleted 3 images: ☃\nsha256:abc\n",
)
TO = ["ops@example.com", "dev@example.com"]

StartServer = Callable[..., Server]


def settings(server: Server | None = None, **kw: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port if server else free_port(),
        "sender": "janitor@example.com",
        "security": "none",
        "timeout": 10.0,
    }
    values.update(kw)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def parsed(received: Received) -> EmailMessage:
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_is_the_report(message: EmailMessage) -> None:
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    text, html = (p.get_content().replace("\r\n", "\n") for p in parts)  # type: ignore[attr-defined]
    assert text == REPORT.text
    assert html == REPORT.html
    assert message["Subject"] == REPORT.subject
    assert message["From"] == "janitor@example.com"
    assert [a.addr_spec for a in message["To"].addresses] == TO
    assert message["Date"] and message["Message-ID"].endswith("@example.com>")


def test_plain_delivery(smtp_server: StartServer) -> None:
    server = smtp_server()
    SmtpMailer(settings(server)).send(REPORT, TO)
    (received,) = server.messages
    assert received.mail_from == "janitor@example.com"
    assert received.rcpt_tos == TO
    assert not received.tls and not received.authenticated
    assert_is_the_report(parsed(received))


def test_starttls_with_login(smtp_server: StartServer, tls: Tls) -> None:
    server = smtp_server(starttls=tls.server, auth=True, auth_require_tls=True)
    mailer = SmtpMailer(
        settings(
            server,
            security="starttls",
            ssl_context=tls.client,
            username=USERNAME,
            password=PASSWORD,
        )
    )
    mailer.send(REPORT, TO)
    (received,) = server.messages
    assert received.tls and received.authenticated
    assert server.mechanisms == ["PLAIN"]
    assert_is_the_report(parsed(received))


def test_auth_login_mechanism(smtp_server: StartServer, tls: Tls) -> None:
    server = smtp_server(starttls=tls.server, auth=True, exclude=("PLAIN",))
    mailer = SmtpMailer(
        settings(
            server,
            security="starttls",
            ssl_context=tls.client,
            username=USERNAME,
            password=PASSWORD,
        )
    )
    mailer.send(REPORT, TO[:1])
    assert server.mechanisms == ["LOGIN"]
    assert server.messages[0].authenticated


def test_implicit_tls_with_login(smtp_server: StartServer, tls: Tls) -> None:
    server = smtp_server(implicit_tls=tls.server, auth=True, auth_require_tls=False)
    mailer = SmtpMailer(
        settings(
            server, security="tls", ssl_context=tls.client, username=USERNAME, password=PASSWORD
        )
    )
    mailer.send(REPORT, TO)
    (received,) = server.messages
    assert received.authenticated
    assert_is_the_report(parsed(received))


def assert_no_secret(error: BaseException) -> None:
    rendered = "".join(traceback.format_exception(error)) + repr(error) + str(error)
    assert PASSWORD not in rendered


def test_wrong_password(smtp_server: StartServer, tls: Tls) -> None:
    server = smtp_server(starttls=tls.server, auth=True)
    wrong = "not-" + PASSWORD
    mailer = SmtpMailer(
        settings(
            server, security="starttls", ssl_context=tls.client, username=USERNAME, password=wrong
        )
    )
    with pytest.raises(MailError) as caught:
        mailer.send(REPORT, TO)
    message = str(caught.value)
    assert message.startswith(f"could not deliver the report to 127.0.0.1:{server.port}: ")
    assert "refused the login of 'janitor'" in message
    assert "535" in message
    assert "JANITOR_SMTP_PASSWORD" in message
    assert wrong not in message
    rendered = "".join(traceback.format_exception(caught.value))
    assert wrong not in rendered and PASSWORD not in rendered
    assert not server.messages
    assert isinstance(caught.value, JanitorError)


def test_refused_connection_fails_quickly() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(MailError) as caught:
        SmtpMailer(settings(port=port, password=PASSWORD, username=USERNAME)).send(REPORT, TO)
    assert str(caught.value) == (
        f"could not deliver the report to 127.0.0.1:{port}: connection refused; "
        "check JANITOR_SMTP_HOST/PORT"
    )
    assert_no_secret(caught.value)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


def test_a_server_that_never_answers_times_out(silent_server: int) -> None:
    with pytest.raises(MailError, match=r"no answer within 0.5 s; check JANITOR_SMTP_HOST/PORT"):
        SmtpMailer(settings(port=silent_server, timeout=0.5)).send(REPORT, TO)


class DrippingServer:
    """An SMTP server on loopback that answers one byte at a time, never fast enough to finish
    and never slow enough to trip a per-read timeout: from its banner on (``at="banner"``), or
    after a normal greeting, to EHLO (``at="ehlo"``). Connections it served are counted."""

    def __init__(self, *, at: str = "banner", interval: float = 0.05) -> None:
        self.at = at
        self.interval = interval
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self.at == "ehlo":
                    conn.sendall(b"220 slow.example ESMTP\r\n")
                    conn.recv(1024)  # EHLO
                    line = b"250-slow.example\r\n"
                else:
                    line = b"220-slow.example\r\n"
                while not self._stop.is_set():
                    for byte in line:
                        conn.sendall(bytes([byte]))
                        if self._stop.wait(self.interval):
                            return
            except OSError:
                return  # the client hung up: what the deadline is for

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=10)


@pytest.fixture
def dripping() -> Iterator[Callable[..., DrippingServer]]:
    servers: list[DrippingServer] = []

    def start(**kw: Any) -> DrippingServer:
        servers.append(DrippingServer(**kw))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _send_in_thread(mailer: SmtpMailer) -> BaseException | None:
    """Send REPORT from a thread and wait for it; a send that never ends fails the test (after
    a minute) instead of hanging the suite."""
    outcome: list[BaseException | None] = []

    def send() -> None:
        try:
            mailer.send(REPORT, TO)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert outcome, "the delivery never ended: the deadline did not cut it"
    return outcome[0]


@pytest.mark.parametrize("at", ["banner", "ehlo"])
def test_a_server_that_drips_is_cut_off_at_the_deadline(
    dripping: Callable[..., DrippingServer], at: str
) -> None:
    """Each byte comes well within the 5 s read timeout, so only the whole delivery's deadline
    can end it; the error says so and names the setting."""
    server = dripping(at=at)
    error = _send_in_thread(
        SmtpMailer(
            settings(
                port=server.port, timeout=5.0, deadline=1.0, username=USERNAME, password=PASSWORD
            )
        )
    )
    assert isinstance(error, MailError)
    assert str(error) == (
        f"could not deliver the report to 127.0.0.1:{server.port}: the server did not complete "
        "the delivery within 1 s (JANITOR_SMTP_TIMEOUT); check JANITOR_SMTP_HOST/PORT"
    )
    assert server.connections == 1
    assert_no_secret(error)


def test_a_quick_delivery_is_not_cut_by_its_deadline(smtp_server: StartServer) -> None:
    """The deadline's timer ends with the delivery: two sends in a row both arrive whole."""
    server = smtp_server()
    mailer = SmtpMailer(settings(server, deadline=30.0))
    mailer.send(REPORT, TO)
    mailer.send(REPORT, TO)
    assert len(server.messages) == 2


def test_an_untrusted_certificate_is_refused(smtp_server: StartServer, tls: Tls) -> None:
    server = smtp_server(starttls=tls.server)
    untrusting = ssl.create_default_context(cafile=None, capath=None, cadata=None)
    untrusting.load_verify_locations(cadata=_unrelated_ca_pem())
    with pytest.raises(MailError, match="TLS certificate is not trusted"):
        SmtpMailer(settings(server, security="starttls", ssl_context=untrusting)).send(REPORT, TO)
    assert not server.messages


def _unrelated_ca_pem() -> str:
    import trustme

    return trustme.CA().cert_pem.bytes().decode()


def test_starttls_not_offered(smtp_server: StartServer) -> None:
    server = smtp_server()
    with pytest.raises(MailError, match="does not offer STARTTLS; check JANITOR_SMTP_SECURITY"):
        SmtpMailer(settings(server, security="starttls")).send(REPORT, TO)
    assert not server.messages


def test_implicit_tls_against_a_plain_server(smtp_server: StartServer, tls: Tls) -> None:
    server = smtp_server()
    with pytest.raises(MailError, match=r"TLS failed .*check JANITOR_SMTP_SECURITY"):
        SmtpMailer(settings(server, security="tls", ssl_context=tls.client, timeout=5)).send(
            REPORT, TO
        )


def test_login_without_tls_when_the_server_requires_it(smtp_server: StartServer, tls: Tls) -> None:
    server = smtp_server(starttls=tls.server, auth=True, auth_require_tls=True)
    mailer = SmtpMailer(settings(server, security="none", username=USERNAME, password=PASSWORD))
    with pytest.raises(MailError, match=r"does not offer AUTH.*JANITOR_SMTP_SECURITY") as caught:
        mailer.send(REPORT, TO)
    assert_no_secret(caught.value)
    assert not server.messages


def test_every_recipient_refused(smtp_server: StartServer) -> None:
    server = smtp_server(refuse=tuple(TO))
    with pytest.raises(MailError, match=r"every recipient was refused: ops@example\.com \(550"):
        SmtpMailer(settings(server)).send(REPORT, TO)


def test_some_recipients_refused_is_logged(
    smtp_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    server = smtp_server(refuse=("dev@example.com",))
    with caplog.at_level(logging.WARNING, logger="janitor.report.mail"):
        SmtpMailer(settings(server)).send(REPORT, TO)
    assert server.messages[0].rcpt_tos == ["ops@example.com"]
    assert "refused some recipients" in caplog.text and "dev@example.com" in caplog.text


def test_password_never_in_a_repr() -> None:
    s = settings(username=USERNAME, password=PASSWORD)
    assert PASSWORD not in repr(s)
    assert PASSWORD not in repr(SmtpMailer(s))
    assert PASSWORD not in str(s)


def test_build_message_structure() -> None:
    date = datetime(2026, 5, 11, 8, 0, tzinfo=UTC)
    message = build_message(REPORT, sender="janitor@example.com", recipients=TO, date=date)
    assert message["Date"] == "Mon, 11 May 2026 08:00:00 +0000"
    assert message["Date"].datetime == date
    assert message["Auto-Submitted"] == "auto-generated"
    wire = message.as_bytes(policy=email.policy.SMTP)
    again = email.message_from_bytes(wire, policy=email.policy.default)
    assert again["Subject"] == REPORT.subject
    assert b"\xe2\x98\x83" not in wire.split(b"\r\n\r\n")[0]  # headers are RFC 2047-encoded
    parts = list(again.iter_parts())  # type: ignore[attr-defined]
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    "recipients",
    [[], ["not-an-address"], ["a@example.com\r\nBcc: evil@example.com"], ["a@b@c"]],
)
def test_build_message_refuses_bad_recipients(recipients: list[str]) -> None:
    with pytest.raises(ValueError):
        build_message(REPORT, sender="janitor@example.com", recipients=recipients)


def test_build_message_refuses_one_string() -> None:
    with pytest.raises(TypeError):
        build_message(REPORT, sender="janitor@example.com", recipients="ops@example.com")


def test_recording_mailer() -> None:
    mailer = RecordingMailer("janitor@example.com")
    assert isinstance(mailer, Mailer)
    mailer.send(REPORT, TO)
    (message,) = mailer.sent
    assert message["Subject"] == REPORT.subject
    assert mailer.reports == [REPORT]
    failing = RecordingMailer(error=MailError("could not deliver: down"))
    with pytest.raises(MailError, match="down"):
        failing.send(REPORT, TO)
    assert failing.sent == []


# --- SmtpSettings.from_env ---------------------------------------------------------------


def test_from_env_unset_means_no_mail() -> None:
    assert SmtpSettings.from_env({}) is None
    assert SmtpSettings.from_env({"JANITOR_SMTP_HOST": "  "}) is None


def test_from_env_defaults_and_ports_by_security() -> None:
    s = SmtpSettings.from_env({"JANITOR_SMTP_HOST": "smtp.example.com"})
    assert s == SmtpSettings(host="smtp.example.com", port=587, security="starttls")
    tls = SmtpSettings.from_env({"JANITOR_SMTP_HOST": "h", "JANITOR_SMTP_SECURITY": "TLS"})
    assert tls is not None and (tls.port, tls.security) == (465, "tls")
    plain = SmtpSettings.from_env({"JANITOR_SMTP_HOST": "h", "JANITOR_SMTP_SECURITY": "none"})
    assert plain is not None and plain.port == 25
    explicit = SmtpSettings.from_env(
        {
            "JANITOR_SMTP_HOST": "h",
            "JANITOR_SMTP_PORT": "2525",
            "JANITOR_SMTP_USERNAME": "u",
            "JANITOR_SMTP_PASSWORD": "p",
            "JANITOR_SMTP_FROM": "janitor@example.com",
        }
    )
    assert explicit is not None
    assert (explicit.port, explicit.username, explicit.password, explicit.sender) == (
        2525,
        "u",
        "p",
        "janitor@example.com",
    )


def test_from_env_password_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    s = SmtpSettings.from_env(
        {
            "JANITOR_SMTP_HOST": "h",
            "JANITOR_SMTP_USERNAME": USERNAME,
            "JANITOR_SMTP_PASSWORD_FILE": str(secret),
        }
    )
    assert s is not None and s.password == PASSWORD


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"JANITOR_SMTP_PORT": "smtp"}, "JANITOR_SMTP_PORT"),
        ({"JANITOR_SMTP_PORT": "70000"}, "JANITOR_SMTP_PORT"),
        ({"JANITOR_SMTP_SECURITY": "ssl"}, "JANITOR_SMTP_SECURITY"),
        ({"JANITOR_SMTP_FROM": "janitor"}, "JANITOR_SMTP_FROM"),
        ({"JANITOR_SMTP_USERNAME": "u"}, "JANITOR_SMTP_USERNAME"),
        ({"JANITOR_SMTP_PASSWORD": PASSWORD}, "JANITOR_SMTP_PASSWORD"),
        (
            {
                "JANITOR_SMTP_USERNAME": "u",
                "JANITOR_SMTP_PASSWORD": PASSWORD,
                "JANITOR_SMTP_PASSWORD_FILE": "/x",
            },
            "JANITOR_SMTP_PASSWORD_FILE",
        ),
        (
            {"JANITOR_SMTP_USERNAME": "u", "JANITOR_SMTP_PASSWORD_FILE": "/nonexistent/pw"},
            "JANITOR_SMTP_PASSWORD_FILE",
        ),
    ],
)
def test_from_env_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable) as caught:
        SmtpSettings.from_env({"JANITOR_SMTP_HOST": "smtp.example.com", **env})
    assert PASSWORD not in str(caught.value)


def test_from_env_delivery_deadline() -> None:
    default = SmtpSettings.from_env({"JANITOR_SMTP_HOST": "h"})
    assert default is not None and default.deadline == 60.0
    short = SmtpSettings.from_env({"JANITOR_SMTP_HOST": "h", "JANITOR_SMTP_TIMEOUT": "5"})
    assert short is not None and short.deadline == 5.0
    for bad in ("0", "601", "1.5", "soon", "9" * 5000):
        with pytest.raises(ValueError, match=r"^JANITOR_SMTP_TIMEOUT"):
            SmtpSettings.from_env({"JANITOR_SMTP_HOST": "h", "JANITOR_SMTP_TIMEOUT": bad})


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "folder", "big"])
def test_from_env_password_file_is_a_small_regular_file(tmp_path: Path, special: str) -> None:
    """A device, a FIFO (which would block an ordinary read forever), a folder or a file over
    64 KiB is refused at once, naming the variable and never showing the content."""
    path = {"/dev/zero": Path("/dev/zero")}.get(special, tmp_path / special)
    if special == "fifo":
        os.mkfifo(path)
    elif special == "folder":
        path.mkdir()
    elif special == "big":
        path.write_text(PASSWORD * 5000)
    env = {"JANITOR_SMTP_HOST": "h", "JANITOR_SMTP_USERNAME": "u"}
    with pytest.raises(ValueError, match=f"^JANITOR_SMTP_PASSWORD_FILE: {path}: is ") as caught:
        SmtpSettings.from_env({**env, "JANITOR_SMTP_PASSWORD_FILE": str(path)})
    assert PASSWORD not in str(caught.value)


def test_from_env_empty_password_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"JANITOR_SMTP_PASSWORD_FILE.*empty"):
        SmtpSettings.from_env(
            {
                "JANITOR_SMTP_HOST": "h",
                "JANITOR_SMTP_USERNAME": "u",
                "JANITOR_SMTP_PASSWORD_FILE": str(empty),
            }
        )
