"""Mail delivery against a real SMTP server on loopback (aiosmtpd), and the settings from env."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import ssl
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

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
