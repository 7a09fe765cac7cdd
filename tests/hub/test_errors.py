"""The error tree: readable one-liners, no query strings, one mapping of transport errors."""

from __future__ import annotations

import pickle

import httpx
import pytest

from janitor.hub.errors import (
    HubAuthError,
    HubError,
    HubNotFound,
    HubServerError,
    HubTransportError,
    map_transport_error,
    safe_url,
)


def test_every_error_is_a_hub_error() -> None:
    assert issubclass(HubAuthError, HubError) and issubclass(HubTransportError, HubError)


def test_str_says_what_failed_and_what_to_do() -> None:
    error = HubAuthError(
        "Docker Hub refused the login for user 'alice' (401)",
        status=401,
        message="Incorrect authentication credentials",
        txnid="abc",
    )
    assert str(error) == (
        "Docker Hub refused the login for user 'alice' (401): Hub said "
        "'Incorrect authentication credentials' (txnid abc): check JANITOR_HUB_USERNAME and "
        "JANITOR_HUB_TOKEN"
    )


def test_maybe_applied_is_said() -> None:
    error = HubServerError("Docker Hub failed POST /x (502)", maybe_applied=True)
    assert "may have been applied" in str(error)


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://hub.test/v2/x?page=2&token=abc", "https://hub.test/v2/x"),
        ("https://bob:pw@hub.test:8443/v2/x#frag", "https://hub.test:8443/v2/x"),
        (None, None),
    ],
)
def test_urls_lose_query_and_userinfo(url: str | None, clean: str | None) -> None:
    assert safe_url(url) == clean
    assert HubNotFound("x", url=url).url == clean


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectError("refused"), "connect"),
        (httpx.ConnectTimeout("slow"), "connect"),
        (httpx.PoolTimeout("busy"), "connect"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.WriteTimeout("slow"), "timeout"),
        (httpx.RemoteProtocolError("closed"), "dropped"),
        (httpx.ReadError("reset"), "dropped"),
        (httpx.ProxyError("proxy"), "network"),
    ],
)
def test_transport_mapping(exc: httpx.TransportError, kind: str) -> None:
    error = map_transport_error(exc, method="GET", url="https://hub.test/v2/x?page=3")
    assert error.kind == kind and error.method == "GET"
    assert "page=3" not in str(error) and error.url == "https://hub.test/v2/x"
    assert type(exc).__name__ in str(error)


def test_errors_survive_pickling() -> None:
    error = HubNotFound("Docker Hub has no /v2/x (404)", status=404, message="gone")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
