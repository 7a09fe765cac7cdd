"""Who may read the dashboard: open on loopback, a token (bearer or basic) everywhere else, and
no dashboard at all off loopback without one; the token's settings."""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from janitor.config import Secret, Settings, load_settings
from janitor.errors import ConfigError
from janitor.service import access as access_module
from janitor.service.access import Access, is_loopback
from janitor.service.scheduler import Service, ServiceOptions
from janitor.store import Store
from tests.service.conftest import sqlite_store
from tests.service.dashboard_browser import dump_dom
from tests.service.dashboard_seed import NOW, seed, serve
from tests.service.helpers import settings_for

TOKEN = "tok-3f9a0c51d2e84b7a9c1e"
DASHBOARD = ("/", "/runs/1", "/schedule", "/weekly")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("10.0.0.1", False),
        ("no-such-host.invalid", False),
    ],
)
def test_what_counts_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_off_loopback_without_a_token_the_dashboard_is_refused_in_one_line() -> None:
    access = Access.decide("0.0.0.0", None)
    assert not access.dashboard
    assert access.dashboard_refused is not None
    assert "\n" not in access.dashboard_refused
    assert "0.0.0.0" in access.dashboard_refused
    assert "JANITOR_HTTP_TOKEN" in access.dashboard_refused
    assert Access.decide("127.0.0.1", None).dashboard
    assert Access.decide("0.0.0.0", Secret(TOKEN)).dashboard


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = sqlite_store(tmp_path / "janitor.db")
    seed(store)
    yield store
    store.close()


def _served(store: Store, access: Access) -> Iterator[str]:
    # Bound to every interface, reached through loopback.
    for server in serve(store, host="0.0.0.0", access=access):
        yield f"http://127.0.0.1:{server.port}"


@pytest.fixture
def guarded(store: Store) -> Iterator[str]:
    yield from _served(store, Access.decide("0.0.0.0", Secret(TOKEN)))


def test_every_page_but_healthz_and_metrics_needs_the_token(guarded: str) -> None:
    for path in DASHBOARD:
        response = httpx.get(guarded + path, timeout=30)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith('Basic realm="janitor"')
        assert TOKEN not in response.text
    assert httpx.get(guarded + "/healthz", timeout=30).status_code == 200
    assert httpx.get(guarded + "/metrics", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("authorization", "allowed"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer {TOKEN}", True),
        (_basic("ops", TOKEN), True),
        (_basic("", TOKEN), True),
        (f"Bearer {TOKEN}x", False),
        (f"Bearer {TOKEN[:-1]}", False),
        ("Bearer", False),
        (f"Token {TOKEN}", False),
        (_basic(TOKEN, "nope"), False),
        (_basic("ops", TOKEN + " "), False),
        ("Basic not-base64!!", False),
        ("Basic " + base64.b64encode(TOKEN.encode()).decode(), False),  # no colon
        (f"Bearer {TOKEN.upper()}", False),
    ],
)
def test_bearer_or_basic_with_the_right_token_and_nothing_else(
    guarded: str, authorization: str, allowed: bool
) -> None:
    response = httpx.get(guarded + "/", headers={"Authorization": authorization}, timeout=30)
    assert response.status_code == (200 if allowed else 401)
    if allowed:
        assert "Runs" in response.text


def test_the_token_is_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch, guarded: str
) -> None:
    """Both sides go through hmac.compare_digest as digests of one length, whatever was sent."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(access_module.hmac, "compare_digest", spy)
    for offered in ("short", TOKEN, TOKEN * 10):
        httpx.get(guarded + "/", headers={"Authorization": f"Bearer {offered}"}, timeout=30)
    assert len(calls) == 3
    assert all(len(a) == len(b) == 32 for a, b in calls)
    assert all(TOKEN.encode() not in a + b for a, b in calls)


def test_metrics_can_need_the_token_too(store: Store) -> None:
    for url in _served(store, Access.decide("0.0.0.0", Secret(TOKEN), metrics_auth=True)):
        assert httpx.get(url + "/metrics", timeout=30).status_code == 401
        ok = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert ok.status_code == 200
        assert httpx.get(url + "/healthz", timeout=30).status_code == 200


def test_a_token_on_loopback_is_required_too(store: Store) -> None:
    for server in serve(store, access=Access.decide("127.0.0.1", Secret(TOKEN))):
        url = f"http://127.0.0.1:{server.port}/"
        assert httpx.get(url, timeout=30).status_code == 401


def test_without_a_token_off_loopback_the_dashboard_says_why(store: Store) -> None:
    for url in _served(store, Access.decide("0.0.0.0", None)):
        for path in DASHBOARD:
            response = httpx.get(url + path, timeout=30)
            assert response.status_code == 404
            assert response.text.startswith("dashboard not started: janitor serve listens on ")
        assert httpx.get(url + "/healthz", timeout=30).status_code == 200
        assert httpx.get(url + "/metrics", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("localhost:{port}", True),
        ("127.0.0.1:{port}", True),
        ("[::1]:{port}", True),
        ("app.localhost:{port}", True),
        ("evil.example:{port}", False),
        ("evil.example", False),
        ("127.0.0.1.evil.example", False),
        ("", False),
    ],
)
def test_open_on_loopback_it_answers_only_to_loopback_host_names(
    store: Store, host: str, allowed: bool
) -> None:
    """A page elsewhere cannot read the open dashboard through a DNS name rebound to 127.0.0.1."""
    for server in serve(store):
        url = f"http://127.0.0.1:{server.port}"
        headers = {"Host": host.format(port=server.port)}
        response = httpx.get(url + "/", headers=headers, timeout=30)
        assert response.status_code == (200 if allowed else 421)
        assert httpx.get(url + "/healthz", headers=headers, timeout=30).status_code == 200


def test_chromium_reads_the_dashboard_with_basic_auth_in_the_url(guarded: str) -> None:
    port = guarded.rsplit(":", 1)[1]
    dom = dump_dom(f"http://ops:{TOKEN}@127.0.0.1:{port}/")
    assert "All runs" in dom
    assert "401" not in dom.split("<body", 1)[1][:200]


def off_loopback_service(settings: Settings, store: Store) -> Service:
    """A service bound to every address (so off loopback), which never runs a policy."""
    return Service(
        settings=settings,
        store=store,
        hub_factory=lambda: pytest.fail("no run in this test"),  # type: ignore[arg-type,return-value]
        load_policies=list,
        clock=lambda: NOW,
        options=ServiceOptions(host="0.0.0.0", port=0, maintenance_seconds=3600),
    )


def test_serve_off_loopback_without_a_token_starts_without_the_dashboard_and_logs_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = sqlite_store(tmp_path / "janitor.db")
    settings = settings_for("http://127.0.0.1:9", tmp_path, f"sqlite:///{tmp_path}/janitor.db")
    service = off_loopback_service(settings, store)
    caplog.set_level(logging.INFO)
    service.start([])
    try:
        assert service.http is not None
        url = f"http://127.0.0.1:{service.http.port}"
        assert httpx.get(url + "/healthz", timeout=30).status_code == 200
        assert httpx.get(url + "/", timeout=30).status_code == 404
    finally:
        service.stop(grace=10)
        store.close()
    refusals = [r.getMessage() for r in caplog.records if "dashboard not started" in r.getMessage()]
    assert len(refusals) == 1 and "\n" not in refusals[0]


def test_serve_with_a_token_serves_the_dashboard_and_never_logs_the_token(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = sqlite_store(tmp_path / "janitor.db")
    seed(store, NOW - timedelta(days=1))
    settings = settings_for(
        "http://127.0.0.1:9",
        tmp_path,
        f"sqlite:///{tmp_path}/janitor.db",
        http_token=Secret(TOKEN),
    )
    service = off_loopback_service(settings, store)
    caplog.set_level(logging.DEBUG)
    service.start([])
    try:
        assert service.http is not None
        url = f"http://127.0.0.1:{service.http.port}"
        assert httpx.get(url + "/", timeout=30).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(url + "/", headers=auth, timeout=30).status_code == 200
        assert httpx.get(url + "/weekly", headers=auth, timeout=30).status_code == 200
    finally:
        service.stop(grace=10)
        store.close()
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert TOKEN not in repr(settings)


# -- settings ---------------------------------------------------------------------------------


def _env(tmp_path: Path, **values: str) -> dict[str, str]:
    return {"JANITOR_DATA_DIR": str(tmp_path), **values}


def test_the_token_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert load_settings(_env(tmp_path)).http_token is None
    settings = load_settings(_env(tmp_path, JANITOR_HTTP_TOKEN=TOKEN))
    assert settings.http_token == Secret(TOKEN)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    from_file = load_settings(_env(tmp_path, JANITOR_HTTP_TOKEN_FILE=str(token_file)))
    assert from_file.http_token == Secret(TOKEN)


@pytest.mark.parametrize("bad", ["short", "with a space in it ok", "ünïcødé-token-ünïcødé"])
def test_a_weak_or_odd_token_is_refused_without_showing_it(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="JANITOR_HTTP_TOKEN: use at least 16") as caught:
        load_settings(_env(tmp_path, JANITOR_HTTP_TOKEN=bad))
    assert bad not in str(caught.value)


def test_secrets_stay_out_of_the_config_file(tmp_path: Path) -> None:
    for key in ("http_token", "notify"):
        path = tmp_path / f"{key}.toml"
        path.write_text(f'{key} = "{TOKEN}"\n', encoding="utf-8")
        with pytest.raises(ConfigError, match="secrets do not belong") as caught:
            load_settings(_env(tmp_path), config_file=path)
        assert TOKEN not in str(caught.value)


def test_metrics_auth_needs_a_token_and_public_url_is_an_http_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JANITOR_METRICS_AUTH"):
        load_settings(_env(tmp_path, JANITOR_METRICS_AUTH="true"))
    settings = load_settings(
        _env(
            tmp_path,
            JANITOR_METRICS_AUTH="true",
            JANITOR_HTTP_TOKEN=TOKEN,
            JANITOR_PUBLIC_URL="https://janitor.example.com/",
        )
    )
    assert settings.metrics_auth and settings.public_url == "https://janitor.example.com"
    with pytest.raises(ConfigError, match="JANITOR_PUBLIC_URL"):
        load_settings(_env(tmp_path, JANITOR_PUBLIC_URL="ftp://x"))
