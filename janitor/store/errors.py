"""The store's one error type, and the helpers that keep database passwords out of messages."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from sqlalchemy.engine import URL

from janitor.errors import JanitorError


class StoreError(JanitorError):
    """The database could not do what the store asked.

    The message is one readable line meant for an operator (it names the database by its URL with
    the password hidden and says what to check). It never contains a password: the store raises it
    ``from None`` so that the driver's own exception, which the store does not control, is not
    printed with it.
    """


def safe_url(url: URL) -> str:
    """The URL as text with its password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def redact(text: str, url: URL | None) -> str:
    """``text`` with the URL's password (raw and URL-encoded) replaced by ``***``."""
    if url is None or not url.password:
        return text
    password = str(url.password)
    for secret in sorted({password, quote(password, safe=""), quote_plus(password)}, key=len)[::-1]:
        text = text.replace(secret, "***")
    return text


def driver_reason(exc: BaseException, url: URL | None) -> str:
    """The first line of a driver exception's message, made short: e.g. ``connection refused``,
    ``database "x" does not exist``, ``UNIQUE constraint failed: run_items.digest``.

    libpq nests connection failures ("connection failed: connection to server at "127.0.0.1",
    port 1 failed: Connection refused"); for those the last part is the cause.
    """
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    if not lines:
        return type(orig).__name__
    reason = lines[0]
    if reason.startswith("connection failed:") or "connection to server" in reason:
        reason = reason.rsplit(" failed: ", 1)[-1]
    for prefix in ("FATAL:", "ERROR:"):
        reason = reason.removeprefix(prefix).strip()
    if reason[:1].isupper() and reason[1:2].islower():
        reason = reason[0].lower() + reason[1:]
    return redact(reason, url)
