"""Mailing reports: settings from the environment, the message, and SMTP delivery.

``Mailer`` is the protocol the engine and the service use; ``SmtpMailer`` delivers with smtplib
(STARTTLS, implicit TLS or plain), ``RecordingMailer`` keeps what it was given, for tests.
The SMTP password never appears in a repr, a log line or an error message.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import smtplib
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Literal, Protocol, get_args, runtime_checkable

from janitor.errors import JanitorError
from janitor.fileio import SECRET_LIMIT, FileInputError, read_text_capped
from janitor.report.formatting import as_utc, oneline
from janitor.report.rendered import RenderedReport

log = logging.getLogger("janitor.report.mail")

Security = Literal["starttls", "tls", "none"]
_SECURITY_VALUES: tuple[str, ...] = get_args(Security)
_DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "tls": 465, "none": 25}
DEFAULT_DEADLINE = 60.0
MAX_DEADLINE = 600


class MailError(JanitorError):
    """A report could not be delivered; the message says why and what to check."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "janitor@localhost"
    security: Security = "starttls"
    timeout: float = 30.0
    """The longest one read or write on the connection may wait."""
    deadline: float = DEFAULT_DEADLINE
    """The longest a whole delivery may take, from connecting to QUIT: a server that answers a
    byte at a time is cut off then, and the report is queued like one for a server that is down."""
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    """Trust for the server's certificate; None uses the system's default trust store."""

    def __post_init__(self) -> None:
        if self.security not in _SECURITY_VALUES:
            raise ValueError(
                f"SMTP security must be one of {', '.join(_SECURITY_VALUES)}, not {self.security!r}"
            )
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port must be between 1 and 65535, not {self.port}")
        if self.timeout <= 0 or self.deadline <= 0:
            raise ValueError("SMTP timeout and deadline must be positive")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpSettings | None:
        """Settings from ``JANITOR_SMTP_*``; None when ``JANITOR_SMTP_HOST`` is unset or empty.

        The port defaults by security: 587 for starttls, 465 for tls, 25 for none.
        Raises ValueError naming the variable that is wrong (never its secret value).
        """
        host = env.get("JANITOR_SMTP_HOST", "").strip()
        if not host:
            return None
        raw_security = env.get("JANITOR_SMTP_SECURITY", "").strip().lower() or "starttls"
        if raw_security not in _SECURITY_VALUES:
            raise ValueError(
                f"JANITOR_SMTP_SECURITY must be one of {', '.join(_SECURITY_VALUES)}, "
                f"not {oneline(raw_security)!r}"
            )
        security: Security = raw_security  # type: ignore[assignment]
        port = _DEFAULT_PORTS[security]
        raw_port = env.get("JANITOR_SMTP_PORT", "").strip()
        if raw_port:
            try:
                port = int(raw_port)
            except ValueError:
                raise ValueError(
                    f"JANITOR_SMTP_PORT must be a port number, not {oneline(raw_port)!r}"
                ) from None
            if not 0 < port < 65536:
                raise ValueError(f"JANITOR_SMTP_PORT must be between 1 and 65535, not {port}")
        username = env.get("JANITOR_SMTP_USERNAME", "").strip() or None
        password = _password(env)
        if password is not None and username is None:
            raise ValueError(
                "JANITOR_SMTP_PASSWORD is set but JANITOR_SMTP_USERNAME is not: set both to log in"
            )
        if username is not None and password is None:
            raise ValueError(
                "JANITOR_SMTP_USERNAME is set but no password: set JANITOR_SMTP_PASSWORD or "
                "JANITOR_SMTP_PASSWORD_FILE"
            )
        deadline = DEFAULT_DEADLINE
        raw_deadline = env.get("JANITOR_SMTP_TIMEOUT", "").strip()
        if raw_deadline:
            try:
                deadline = float(int(raw_deadline))
            except ValueError:
                raise ValueError(
                    f"JANITOR_SMTP_TIMEOUT must be a whole number of seconds, "
                    f"not {oneline(raw_deadline[:40])!r}"
                ) from None
            if not 1 <= deadline <= MAX_DEADLINE:
                raise ValueError(
                    f"JANITOR_SMTP_TIMEOUT must be between 1 and {MAX_DEADLINE} seconds, "
                    f"not {deadline:g}"
                )
        sender = env.get("JANITOR_SMTP_FROM", "").strip() or "janitor@localhost"
        try:
            _check_address(sender)
        except ValueError as exc:
            raise ValueError(f"JANITOR_SMTP_FROM: {exc}") from None
        return cls(
            host=host,
            port=port,
            username=username,
            password=password,
            sender=sender,
            security=security,
            deadline=deadline,
        )


def _password(env: Mapping[str, str]) -> str | None:
    direct = env.get("JANITOR_SMTP_PASSWORD")
    file_name = env.get("JANITOR_SMTP_PASSWORD_FILE", "").strip()
    if direct and file_name:
        raise ValueError("set JANITOR_SMTP_PASSWORD or JANITOR_SMTP_PASSWORD_FILE, not both")
    if file_name:
        try:
            secret = read_text_capped(Path(file_name).expanduser(), limit=SECRET_LIMIT)
        except FileInputError as exc:  # names the file and the problem, never the content
            raise ValueError(f"JANITOR_SMTP_PASSWORD_FILE: {exc}") from None
        secret = secret.rstrip("\r\n")
        if not secret:
            raise ValueError(f"JANITOR_SMTP_PASSWORD_FILE: {file_name} is empty")
        return secret
    return direct or None


def _check_address(address: str) -> None:
    """A bare address (``name@domain``), as SMTP's envelope needs; no display name, no newline."""
    if any(c in address for c in "\r\n<>,") or address.count("@") != 1:
        raise ValueError(f"{oneline(address)!r} is not an e-mail address (name@domain)")
    local, domain = address.split("@")
    if not local or not domain or any(c.isspace() for c in address):
        raise ValueError(f"{oneline(address)!r} is not an e-mail address (name@domain)")


def build_message(
    report: RenderedReport,
    *,
    sender: str,
    recipients: Sequence[str],
    date: datetime | None = None,
) -> EmailMessage:
    """A multipart/alternative message: text/plain first, then text/html (both utf-8).

    ``date`` sets the Date header (now when None); Message-ID is made on the sender's domain.
    """
    if isinstance(recipients, str):
        raise TypeError("recipients must be a sequence of addresses, not one string")
    if not recipients:
        raise ValueError("a report needs at least one recipient")
    _check_address(sender)
    for recipient in recipients:
        _check_address(recipient)
    message = EmailMessage()
    message["Subject"] = oneline(report.subject)
    message["From"] = Address(addr_spec=sender)
    message["To"] = [Address(addr_spec=r) for r in recipients]
    message["Date"] = as_utc(date or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(report.text, subtype="plain", charset="utf-8")
    message.add_alternative(report.html, subtype="html", charset="utf-8")
    return message


@runtime_checkable
class Mailer(Protocol):
    def send(self, report: RenderedReport, recipients: Sequence[str]) -> None: ...


class SmtpMailer:
    """Delivers reports over SMTP, one connection per report."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"SmtpMailer({self.settings!r})"

    def send(self, report: RenderedReport, recipients: Sequence[str]) -> None:
        message = build_message(report, sender=self.settings.sender, recipients=recipients)
        deadline = _Deadline(self.settings.deadline)
        token = _DEADLINE.set(deadline)
        try:
            with deadline:
                refused = self._deliver(message, list(recipients))
        except Exception as exc:  # smtplib, ssl and socket errors, mapped once, here
            if deadline.expired:  # whatever the cut connection made smtplib conclude
                raise MailError(self._too_slow()) from None
            if isinstance(exc, MailError):
                raise
            raise MailError(self._explain(exc)) from None
        finally:
            _DEADLINE.reset(token)
        if refused:
            log.warning(
                "the SMTP server %s refused some recipients of %r: %s",
                self.settings.address,
                message["Subject"],
                ", ".join(sorted(refused)),
            )
        log.info(
            "mailed %r to %d recipient(s) via %s",
            message["Subject"],
            len(recipients) - len(refused),
            self.settings.address,
        )

    def _deliver(self, message: EmailMessage, recipients: list[str]) -> dict[str, object]:
        s = self.settings
        context = s.ssl_context or ssl.create_default_context()
        timeout = min(s.timeout, s.deadline)
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = _DeadlineSMTPSSL(s.host, s.port, timeout=timeout, context=context)
        else:
            smtp = _DeadlineSMTP(s.host, s.port, timeout=timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailError(
                        f"could not deliver the report to {s.address}: the server does not offer "
                        "STARTTLS; check JANITOR_SMTP_SECURITY (tls for implicit TLS, none for "
                        "an unencrypted relay)"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username is not None:
                if not smtp.has_extn("auth"):
                    hint = (
                        " (servers usually offer it only over TLS: set JANITOR_SMTP_SECURITY)"
                        if s.security == "none"
                        else ""
                    )
                    raise MailError(
                        f"could not deliver the report to {s.address}: the server does not offer "
                        f"AUTH, so janitor cannot log in as {s.username!r}{hint}"
                    )
                smtp.login(s.username, s.password or "")
            refused = smtp.send_message(message, from_addr=s.sender, to_addrs=recipients)
        finally:
            # Once the server took the message, nothing after it (a QUIT cut by the deadline)
            # may turn the delivery into a failure that would send the report twice.
            with contextlib.suppress(Exception):
                smtp.quit()
            smtp.close()
        return dict(refused)

    def _explain(self, exc: BaseException) -> str:
        s = self.settings
        where = f"could not deliver the report to {s.address}"
        reason: str
        if isinstance(exc, ConnectionRefusedError):
            reason = "connection refused; check JANITOR_SMTP_HOST/PORT"
        elif isinstance(exc, socket.gaierror):
            reason = f"cannot resolve the host {s.host!r}; check JANITOR_SMTP_HOST"
        elif isinstance(exc, TimeoutError) or (
            isinstance(exc, smtplib.SMTPServerDisconnected)
            and isinstance(exc.__context__, TimeoutError)
        ):
            reason = (
                f"no answer within {s.timeout:g} s; check JANITOR_SMTP_HOST/PORT and "
                "JANITOR_SMTP_SECURITY"
            )
        elif isinstance(exc, ssl.SSLCertVerificationError):
            reason = (
                f"the server's TLS certificate is not trusted ({exc.verify_message}); check "
                "JANITOR_SMTP_HOST and the certificate"
            )
        elif isinstance(exc, ssl.SSLError):
            reason = (
                f"TLS failed ({exc.reason or exc}); check JANITOR_SMTP_SECURITY "
                "(tls for implicit TLS, usually port 465; starttls, usually port 587)"
            )
        elif isinstance(exc, smtplib.SMTPAuthenticationError):
            reason = (
                f"the server refused the login of {s.username!r}: {_server_said(exc)}; check "
                "JANITOR_SMTP_USERNAME and JANITOR_SMTP_PASSWORD"
            )
        elif isinstance(exc, smtplib.SMTPRecipientsRefused):
            refused = ", ".join(
                f"{addr} ({code} {_text(msg)})" for addr, (code, msg) in exc.recipients.items()
            )
            reason = f"every recipient was refused: {refused}"
        elif isinstance(exc, smtplib.SMTPSenderRefused):
            reason = (
                f"the sender {s.sender} was refused: {_server_said(exc)}; check JANITOR_SMTP_FROM"
            )
        elif isinstance(exc, smtplib.SMTPResponseException):
            reason = f"the server answered {_server_said(exc)}"
        elif isinstance(exc, smtplib.SMTPServerDisconnected):
            reason = f"the server closed the connection ({exc or 'no reason given'})"
        elif isinstance(exc, OSError):
            reason = exc.strerror or str(exc) or type(exc).__name__
        else:
            reason = str(exc) or type(exc).__name__
        return self._scrub(f"{where}: {oneline(reason)}")

    def _too_slow(self) -> str:
        s = self.settings
        return self._scrub(
            f"could not deliver the report to {s.address}: the server did not complete the "
            f"delivery within {s.deadline:g} s (JANITOR_SMTP_TIMEOUT); check JANITOR_SMTP_HOST/PORT"
        )

    def _scrub(self, text: str) -> str:
        password = self.settings.password
        if password:
            text = text.replace(password, "***")
        return text


class _Deadline:
    """A whole delivery's time limit. When it passes, the connection is shut down: the read or
    write that waits on it (a banner dripping one byte a second never trips the per-read
    timeout) fails at once, and ``expired`` tells why.

    The socket is watched through a duplicate of its descriptor, taken when it connects, so the
    cut reaches it even while TLS wraps it, and never reaches another socket that reuses the
    number after this one is closed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._fd: int | None = None
        self._finished = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._finished = True
            self._timer.cancel()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self._finished or self._fd is not None:
                return
            self._fd = os.dup(sock.fileno())
            if self.expired:
                self._cut()

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self.expired = True
            if self._fd is not None:
                self._cut()

    def _cut(self) -> None:
        assert self._fd is not None
        cut = socket.socket(fileno=self._fd)
        try:
            cut.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the other side
        finally:
            cut.detach()  # the descriptor stays ours, closed in __exit__


_DEADLINE: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "janitor_smtp_deadline", default=None
)


class _DeadlineSMTP(smtplib.SMTP):
    """smtplib's client, its socket put under the current delivery's :class:`_Deadline` as soon
    as it connects (before the server's banner is read)."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        deadline = _DEADLINE.get()
        if deadline is not None:
            deadline.watch(sock)
        return sock  # type: ignore[no-any-return]


class _DeadlineSMTPSSL(smtplib.SMTP_SSL, _DeadlineSMTP):
    """Implicit TLS: SMTP_SSL wraps the socket that :class:`_DeadlineSMTP` connected and
    watches, so the TLS handshake is under the deadline too."""


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _server_said(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}".strip()


class RecordingMailer:
    """A Mailer that keeps every message it builds, in ``sent``; for tests of other components.

    Set ``error`` to make ``send`` raise it (and record nothing), to test retries.
    """

    def __init__(
        self, sender: str = "janitor@localhost", *, error: MailError | None = None
    ) -> None:
        self.sender = sender
        self.error = error
        self.sent: list[EmailMessage] = []
        self.reports: list[RenderedReport] = []
        self._lock = threading.Lock()

    def send(self, report: RenderedReport, recipients: Sequence[str]) -> None:
        message = build_message(report, sender=self.sender, recipients=recipients)
        with self._lock:
            if self.error is not None:
                raise self.error
            self.sent.append(message)
            self.reports.append(report)
