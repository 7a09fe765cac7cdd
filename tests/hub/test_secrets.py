"""No password, personal access token, bearer token or 2FA code in any log record or error."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from janitor.emulator.config import EmulatorConfig, ManualClock
from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.hub.auth import Credentials
from janitor.hub.errors import HubError
from janitor.hub.inventory import iter_inventory
from janitor.hub.models import ManifestRef

from .clock import FakeClock
from .conftest import BOB_PASSWORD, INDEX, OTP, PASSWORD, PAT, Connect, Serve
from .test_spec_requests import Recording


def bearer_tokens(transport: Recording) -> set[str]:
    found = set()
    for request in transport.requests:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            found.add(header.removeprefix("Bearer "))
    return found


def test_nothing_secret_is_logged_or_raised(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)
    hub_clock = ManualClock(start)
    emu: RunningEmulator = serve(EmulatorConfig(clock=hub_clock, rate_limit=1000))
    transport = Recording()
    clock = FakeClock(start.timestamp())
    errors: list[HubError] = []
    with caplog.at_level(logging.DEBUG):
        hub = connect(emu, transport=transport, clock=clock, sleep=clock.sleep, max_wait=3600)
        list(iter_inventory(hub, "acme"))
        hub_clock.advance(700)  # the token expires on Hub's side: a 401, then a new login
        clock.advance(100)
        hub.delete_images("acme", [ManifestRef("web", INDEX)], dry_run=True)
        emu.faults.add(Fault("rate_limit", path="/tags$"))
        emu.faults.add(Fault("status", status=503, path="/tags$"))
        list(hub.iter_tags("acme", "web"))
        bob = Credentials("bob", BOB_PASSWORD, otp=lambda: OTP)
        list(connect(emu, bob, transport=transport).iter_tags("acme", "web"))
        for creds in (
            Credentials("alice", "wrong-password"),
            Credentials("bob", BOB_PASSWORD, otp=lambda: "987123"),
            Credentials("carol", "carols-password"),
        ):
            try:
                list(connect(emu, creds, transport=transport).iter_images("acme", "web"))
            except HubError as exc:
                errors.append(exc)
    tokens = bearer_tokens(transport)
    assert len(tokens) >= 3  # alice twice (renewed), bob, carol
    secrets = {PAT, PASSWORD, BOB_PASSWORD, OTP, "wrong-password", "987123", *tokens}
    texts = [caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    texts += [f"{e} {e!r} {e.errinfo} {e.message}" for e in errors]
    assert len(errors) == 3
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert "Authorization" not in caplog.text
    assert any(r.name == "janitor.hub" and r.levelno == logging.INFO for r in caplog.records)


def test_one_debug_line_per_request(
    serve: Serve, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    emu = serve()
    with caplog.at_level(logging.DEBUG, logger="janitor.hub"):
        hub = connect(emu)
        list(hub.iter_tags("acme", "web"))
    lines = [r.getMessage() for r in caplog.records if r.name == "janitor.hub"]
    assert any(line.startswith("POST /v2/auth/token 200 ") for line in lines)
    assert any(
        line.startswith("GET /v2/namespaces/acme/repositories/web/tags 200 ") for line in lines
    )
    assert all("page_size" not in line for line in lines)


def test_http_over_plain_text_to_a_remote_host_warns(caplog: pytest.LogCaptureFixture) -> None:
    from janitor.hub.client import HubClient

    with caplog.at_level(logging.WARNING, logger="janitor.hub"):
        HubClient("http://hub.example.test", Credentials("alice", PAT)).close()
        HubClient("http://127.0.0.1:1", Credentials("alice", PAT)).close()
    assert [r.getMessage() for r in caplog.records] == [
        "Docker Hub credentials will travel unencrypted to hub.example.test (http://)"
    ]
    assert httpx  # the module under test builds on it
