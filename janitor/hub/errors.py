"""The Hub client's error tree, and the one place transport exceptions are mapped into it.

Every error carries what Hub said (``message``, ``txnid``, ``errinfo``), what was asked
(``method`` and a query-free ``url``) and reads, as a string, as one line saying what failed and
what to do. None of them ever holds a token, a password or an ``Authorization`` header: URLs lose
their query string and Hub's own text is passed through the client's redaction first.

    HubError
     ├── HubAuthError         401, or a login that cannot complete (wrong secret, 2FA, no code)
     ├── HubForbidden         403 (no access, plan lacks the feature, ``library``, PAT on old paths)
     ├── HubNotFound          404 (unknown namespace/repository, or a retired endpoint)
     ├── HubRateLimited       429s past the client's patience, or a wait asked for past
     │                        JANITOR_MAX_WAIT_SECONDS (``retry_at``: when to try again)
     ├── HubServerError       5xx
     ├── HubTransportError    no usable HTTP answer: connect failure, timeout, dropped connection
     └── HubProtocolError     an answer janitor cannot read (bad JSON, missing or mistyped fields)

``maybe_applied`` is True when a state-changing call (a real ``delete-images``) may have taken
effect although it failed: the caller must re-check instead of repeating it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

__all__ = [
    "HubAuthError",
    "HubError",
    "HubForbidden",
    "HubNotFound",
    "HubProtocolError",
    "HubRateLimited",
    "HubServerError",
    "HubTransportError",
    "map_transport_error",
    "safe_url",
]


def safe_url(url: str | httpx.URL | None) -> str | None:
    """``url`` without query string, fragment or user info: nothing in it can be a secret."""
    if url is None:
        return None
    parts = urlsplit(str(url))
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class HubError(Exception):
    """A Docker Hub call failed. ``str()`` says what failed and what to do about it."""

    default_hint = ""

    def __init__(
        self,
        summary: str,
        *,
        status: int | None = None,
        message: str | None = None,
        txnid: str | None = None,
        errinfo: dict[str, Any] | None = None,
        method: str | None = None,
        url: str | httpx.URL | None = None,
        hint: str | None = None,
        maybe_applied: bool = False,
    ) -> None:
        self.summary = summary
        self.status = status
        self.message = message
        self.txnid = txnid
        self.errinfo: dict[str, Any] = dict(errinfo or {})
        self.method = method
        self.url = safe_url(url)
        self.hint = self.default_hint if hint is None else hint
        self.maybe_applied = maybe_applied
        super().__init__(self._render())

    def _render(self) -> str:
        text = self.summary
        if self.message and self.message not in text:
            text += f": Hub said {self.message!r}"
        if self.txnid:
            text += f" (txnid {self.txnid})"
        if self.maybe_applied:
            text += "; the change may have been applied, check before repeating it"
        if self.hint:
            text += f": {self.hint}"
        return text

    def __str__(self) -> str:
        return self._render()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, url={self.url!r}, {self._render()!r})"
        )


class HubAuthError(HubError):
    default_hint = "check JANITOR_HUB_USERNAME and JANITOR_HUB_TOKEN"


class HubForbidden(HubError):
    default_hint = (
        "the account lacks access to this namespace, or its plan lacks the feature "
        "(image management needs a Pro, Team or Business plan)"
    )


class HubNotFound(HubError):
    default_hint = "check the namespace and repository names"


class HubRateLimited(HubError):
    default_hint = "Docker Hub kept answering 429; wait a few minutes or lower the call rate"

    def __init__(self, summary: str, *, retry_at: float | None = None, **kwargs: Any) -> None:
        self.retry_at = retry_at
        super().__init__(summary, **kwargs)


class HubServerError(HubError):
    default_hint = "Docker Hub had a server error; try again later"


class HubTransportError(HubError):
    default_hint = "check the network path to Docker Hub (DNS, proxy, firewall) and JANITOR_HUB_URL"

    def __init__(self, summary: str, *, kind: str = "network", **kwargs: Any) -> None:
        self.kind = kind  # connect | timeout | dropped | network
        super().__init__(summary, **kwargs)


class HubProtocolError(HubError):
    default_hint = "Docker Hub's answer did not have the documented shape"


class UnknownShape(HubProtocolError):
    """An answer of an endpoint outside the published spec (the manifests listing) in a shape
    janitor does not understand: never guessed at; the caller falls back to what it knows."""


class IncompleteListing(HubProtocolError):
    """A paged listing whose rows do not add up (fewer or more than its ``count``, a row or a
    page repeated, a ``count`` that changed): janitor never plans from it."""

    default_hint = (
        "the listing changed while janitor read it, or Docker Hub dropped rows; the next run "
        "reads it again"
    )


# Transport exceptions raised before a single byte of the request left: repeating is always safe.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _transport_kind(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return "connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "dropped"
    return "network"


_KIND_TEXT = {
    "connect": "could not connect to Docker Hub",
    "timeout": "Docker Hub did not answer in time",
    "dropped": "Docker Hub closed the connection without a complete answer",
    "network": "a network error interrupted the call to Docker Hub",
}


def map_transport_error(
    exc: httpx.TransportError,
    *,
    method: str,
    url: str | httpx.URL,
    maybe_applied: bool = False,
    redact: Callable[[str], str] = lambda text: text,
) -> HubTransportError:
    """The single mapping from httpx's transport exceptions into the error tree.

    httpx's messages name hosts and errno texts, never headers; they pass ``redact`` anyway.
    """
    kind = _transport_kind(exc)
    clean = safe_url(url)
    detail = redact(str(exc) or type(exc).__name__)
    return HubTransportError(
        f"{method} {clean}: {_KIND_TEXT[kind]} ({type(exc).__name__}: {detail})",
        kind=kind,
        method=method,
        url=clean,
        maybe_applied=maybe_applied,
    )
