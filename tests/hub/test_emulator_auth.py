"""Logging in against the emulator over HTTP: both endpoints, the fallback, 2FA, renewal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from janitor.emulator.config import EmulatorConfig, ManualClock
from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import load_seed
from janitor.hub.auth import Credentials
from janitor.hub.errors import HubAuthError
from janitor.hub.inventory import iter_inventory

from .clock import FakeClock
from .conftest import BOB_PASSWORD, OTP, PASSWORD, PAT, Connect, Serve, logged, seed


def calls(emu: RunningEmulator, at_least: int = 0) -> list[tuple[str, str, int]]:
    return [(e.method, e.path, e.status) for e in logged(emu, at_least)]


def logins(emu: RunningEmulator, at_least: int = 1) -> list[tuple[str, int]]:
    entries = calls(emu, at_least)
    return [(p, s) for m, p, s in entries if m == "POST" and "delete-images" not in p]


def test_a_pat_logs_in_once_for_a_whole_inventory(
    emulator: RunningEmulator, connect: Connect
) -> None:
    hub = connect(emulator)
    inventory = list(iter_inventory(hub, "acme", concurrency=4))
    assert len(inventory) == 14
    assert logins(emulator, hub.stats.calls) == [("/v2/auth/token", 200)]
    assert all(status == 200 for _, _, status in calls(emulator, hub.stats.calls))
    assert hub.login_endpoint == "/v2/auth/token" and hub.logins == 1


def test_password_works_too(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator, Credentials("alice", PASSWORD))
    assert [r.name for r in hub.iter_repositories("acme")][:2] == ["api", "big"]


def test_falls_back_to_users_login_where_auth_token_is_absent(
    emulator: RunningEmulator, connect: Connect
) -> None:
    emulator.faults.add(Fault("status", method="POST", path="^/v2/auth/token$", status=404))
    hub = connect(emulator, Credentials("alice", PASSWORD))
    assert len(list(hub.iter_repositories("acme"))) == 14
    assert logins(emulator, 3) == [("/v2/auth/token", 404), ("/v2/users/login", 200)]
    assert hub.login_endpoint == "/v2/users/login"


def test_two_factor_login(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator, Credentials("bob", BOB_PASSWORD, otp=lambda: OTP))
    assert len(list(hub.iter_tags("acme", "web"))) == 1
    assert logins(emulator, 4) == [
        ("/v2/auth/token", 401),  # a password on a 2FA account: only the login knows 2FA
        ("/v2/users/login", 401),  # the challenge, with login_2fa_token
        ("/v2/users/2fa-login", 200),
    ]


def test_two_factor_without_a_code_is_a_clear_error(
    emulator: RunningEmulator, connect: Connect
) -> None:
    hub = connect(emulator, Credentials("bob", BOB_PASSWORD))
    with pytest.raises(HubAuthError, match="Two-factor authentication is enabled"):
        list(hub.iter_tags("acme", "web"))
    assert logins(emulator) == [("/v2/auth/token", 401)]


def test_two_factor_on_the_old_login_without_a_code(
    emulator: RunningEmulator, connect: Connect
) -> None:
    emulator.faults.add(Fault("status", method="POST", path="^/v2/auth/token$", status=405))
    hub = connect(emulator, Credentials("bob", BOB_PASSWORD))
    with pytest.raises(HubAuthError, match="asks for a second factor") as caught:
        list(hub.iter_tags("acme", "web"))
    assert "personal access token" in str(caught.value)


def test_wrong_code(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator, Credentials("bob", BOB_PASSWORD, otp=lambda: "000000"))
    with pytest.raises(HubAuthError, match="refused the second factor for user 'bob'"):
        list(hub.iter_tags("acme", "web"))


def test_a_refused_secret_is_tried_once(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator, Credentials("alice", "not-the-password"))
    for _ in range(3):
        with pytest.raises(HubAuthError) as caught:
            list(hub.iter_repositories("acme"))
    assert str(caught.value).startswith("Docker Hub refused the login for user 'alice' (401)")
    assert "JANITOR_HUB_TOKEN" in str(caught.value)
    assert logins(emulator) == [("/v2/auth/token", 401)]


def test_a_login_that_meets_a_5xx_is_retried(emulator: RunningEmulator, connect: Connect) -> None:
    emulator.faults.add(Fault("status", method="POST", path="^/v2/auth/token$", status=503))
    emulator.faults.add(Fault("drop", method="POST", path="^/v2/auth/token$"))
    hub = connect(emulator)
    assert len(list(hub.iter_tags("acme", "web"))) == 1
    assert logins(emulator, 4) == [
        ("/v2/auth/token", 503),
        ("/v2/auth/token", 0),
        ("/v2/auth/token", 200),
    ]


def test_anonymous_sees_public_repositories(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator, None)
    names = [r.name for r in hub.iter_repositories("acme")]
    assert "web" in names and "secret" not in names
    assert logins(emulator) == []


class TestRenewal:
    @pytest.fixture
    def clocks(self, serve: Serve) -> tuple[RunningEmulator, ManualClock, FakeClock]:
        start = datetime(2030, 1, 1, tzinfo=UTC)
        hub_clock = ManualClock(start)
        emu = serve(EmulatorConfig(clock=hub_clock, token_ttl=600))
        return emu, hub_clock, FakeClock(start.timestamp())

    def test_renews_shortly_before_expiry(
        self, clocks: tuple[RunningEmulator, ManualClock, FakeClock], connect: Connect
    ) -> None:
        emu, hub_clock, clock = clocks
        hub = connect(emu, clock=clock, sleep=clock.sleep)
        list(hub.iter_tags("acme", "web"))
        hub_clock.advance(550)
        clock.advance(550)
        list(hub.iter_tags("acme", "web"))
        assert logins(emu, 4) == [("/v2/auth/token", 200), ("/v2/auth/token", 200)]
        assert 401 not in [s for _, _, s in calls(emu)]

    def test_renews_once_on_a_401(
        self, clocks: tuple[RunningEmulator, ManualClock, FakeClock], connect: Connect
    ) -> None:
        emu, hub_clock, clock = clocks
        hub = connect(emu, clock=clock, sleep=clock.sleep)
        list(hub.iter_tags("acme", "web"))
        hub_clock.advance(700)  # Hub expired the token; janitor's clock thinks it is fine
        clock.advance(120)
        list(hub.iter_tags("acme", "web"))
        assert calls(emu, 5) == [
            ("POST", "/v2/auth/token", 200),
            ("GET", "/v2/namespaces/acme/repositories/web/tags", 200),
            ("GET", "/v2/namespaces/acme/repositories/web/tags", 401),
            ("POST", "/v2/auth/token", 200),
            ("GET", "/v2/namespaces/acme/repositories/web/tags", 200),
        ]

    def test_gives_up_when_a_fresh_token_is_refused(
        self, clocks: tuple[RunningEmulator, ManualClock, FakeClock], connect: Connect
    ) -> None:
        emu, _, clock = clocks
        hub = connect(emu, Credentials("carol", "carols-password"), clock=clock)
        for _ in range(3):  # e.g. one call per repository
            with pytest.raises(HubAuthError, match="401") as caught:
                list(hub.iter_images("acme", "web"))
        assert "user does not have read access" in str(caught.value)
        assert "'carol'" in str(caught.value)
        assert logins(emu, 4) == [("/v2/auth/token", 200)]  # no login storm


def test_pat_token_used_on_namespaces_paths(emulator: RunningEmulator, connect: Connect) -> None:
    """Reference 003: PAT-derived JWTs are refused on the old /v2/repositories paths; janitor
    uses only /v2/namespaces/... paths."""
    hub = connect(emulator, Credentials("alice", PAT))
    list(iter_inventory(hub, "acme"))
    paths = [p for _, p, _ in calls(emulator, hub.stats.calls)]
    assert all(p.startswith(("/v2/namespaces/", "/v2/auth/")) for p in paths)


OAT = "dckr_oat_7awgM4jG5SQvxcvmNzhKj8PQjxo"


def _with_an_organization_token() -> Any:
    """The test seed plus an organization access token of ``acme`` (Hub keys an OAT to the
    organization: its login identifier is the organization's name)."""
    data = seed()
    data["users"].append({"username": "acme", "tokens": [OAT]})
    return load_seed(data)


def test_an_organization_access_token_logs_in_with_the_organization_s_name(
    serve: Serve, connect: Connect
) -> None:
    emu = serve(state=_with_an_organization_token())
    hub = connect(emu, Credentials("acme", OAT))
    assert len(list(hub.iter_tags("acme", "web"))) == 1
    sent = [e.json for e in logged(emu, 2) if e.path == "/v2/auth/token"]
    assert len(sent) == 1 and sent[0]["identifier"] == "acme"


def test_an_organization_access_token_with_a_user_s_name_says_what_to_fix(
    serve: Serve, connect: Connect
) -> None:
    """Issue 13.7: the prefix is detected and the failed login says so, naming the setting."""
    emu = serve(state=_with_an_organization_token())
    hub = connect(emu, Credentials("alice", OAT))
    with pytest.raises(HubAuthError) as caught:
        list(hub.iter_tags("acme", "web"))
    text = str(caught.value)
    assert "organization access token (dckr_oat_...)" in text
    assert "organization's name as JANITOR_HUB_USERNAME, which is 'alice'" in text
    assert OAT not in text and "\n" not in text


def test_a_personal_access_token_s_failed_login_is_not_told_about_organizations(
    emulator: RunningEmulator, connect: Connect
) -> None:
    hub = connect(emulator, Credentials("alice", "dckr_pat_wrong_one_123"))
    with pytest.raises(HubAuthError) as caught:
        list(hub.iter_tags("acme", "web"))
    assert "organization" not in str(caught.value)
