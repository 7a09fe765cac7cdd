"""Login flows and the shared token, against a fake login service (a plain function)."""

from __future__ import annotations

import base64
import json
import pickle
import threading
import time
from typing import Any

import httpx
import pytest

from janitor.hub.auth import (
    AUTH_TOKEN_PATH,
    LOGIN_PATH,
    TWO_FACTOR_PATH,
    Credentials,
    HubAuth,
    TokenManager,
    jwt_lifetime,
)
from janitor.hub.errors import HubAuthError, HubProtocolError

from .clock import FakeClock

SECRET = "dckr_pat_s3cr3t-value"


def jwt(**claims: Any) -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'HS256'})}.{b64(claims)}.c2lnbmF0dXJl"


class LoginService:
    """What Hub's login endpoints answer, as a function of the request; counts every call."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        new_endpoint: bool = True,
        otp: str | None = None,
        ttl: int = 600,
        delay: float = 0.0,
    ) -> None:
        self.clock, self.new_endpoint, self.otp, self.ttl, self.delay = (
            clock,
            new_endpoint,
            otp,
            ttl,
            delay,
        )
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def token(self) -> str:
        now = int(self.clock())
        with self.lock:
            serial = len(self.calls)
        return jwt(sub="alice", iat=now, exp=now + self.ttl, jti=serial)

    def __call__(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            self.calls.append((path, body))
        if self.delay:
            time.sleep(self.delay)
        if path == AUTH_TOKEN_PATH:
            if not self.new_endpoint:
                return 404, {"detail": "Not found"}
            if body == {"identifier": "alice", "secret": SECRET} and self.otp is None:
                return 200, {"access_token": self.token()}
            return 401, {"detail": "Incorrect authentication credentials"}
        if path == LOGIN_PATH:
            if body != {"username": "alice", "password": SECRET}:
                return 401, {"detail": "Incorrect authentication credentials"}
            if self.otp is not None:
                return 401, {"detail": "Require secondary authentication", "login_2fa_token": "2fa"}
            return 200, {"token": self.token()}
        if path == TWO_FACTOR_PATH:
            if body == {"login_2fa_token": "2fa", "code": self.otp}:
                return 200, {"token": self.token()}
            return 401, {"detail": "Incorrect authentication credentials"}
        raise AssertionError(path)

    @property
    def paths(self) -> list[str]:
        return [p for p, _ in self.calls]


class TestCredentials:
    def test_repr_and_str_hide_the_secret(self) -> None:
        creds = Credentials("alice", SECRET, otp=lambda: "123456")
        for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
            assert SECRET not in text
            assert "alice" in text

    def test_cannot_be_pickled(self) -> None:
        with pytest.raises(TypeError, match="secret"):
            pickle.dumps(Credentials("alice", SECRET))

    def test_empty_values(self) -> None:
        with pytest.raises(ValueError, match="JANITOR_HUB_USERNAME"):
            Credentials(" ", SECRET)
        with pytest.raises(ValueError, match="JANITOR_HUB_TOKEN") as caught:
            Credentials("alice", "")
        assert "alice" in str(caught.value)


class TestJwtLifetime:
    def test_exp_minus_iat(self) -> None:
        assert jwt_lifetime(jwt(iat=100, exp=700), now=5_000) == 600

    def test_exp_alone(self) -> None:
        assert jwt_lifetime(jwt(exp=1_000_300), now=1_000_000) == 300

    @pytest.mark.parametrize(
        "token", ["opaque-token", "a.b.c", jwt(sub="x"), jwt(iat=10, exp=5), jwt(exp="soon")]
    )
    def test_unknown_means_ten_minutes(self, token: str) -> None:
        assert jwt_lifetime(token, now=1_000_000) == 600


def manager(service: LoginService, creds: Credentials | None = None) -> TokenManager:
    return TokenManager(creds or Credentials("alice", SECRET), service, clock=service.clock)


class TestTokenManager:
    def test_auth_token_endpoint_first(self) -> None:
        service = LoginService(FakeClock())
        tokens = manager(service)
        token = tokens.token()
        assert service.paths == [AUTH_TOKEN_PATH]
        assert token.via == AUTH_TOKEN_PATH == tokens.endpoint
        assert tokens.token() is token  # cached
        assert len(service.calls) == 1

    def test_falls_back_to_users_login_and_remembers(self) -> None:
        clock = FakeClock()
        service = LoginService(clock, new_endpoint=False)
        tokens = manager(service)
        tokens.token()
        assert service.paths == [AUTH_TOKEN_PATH, LOGIN_PATH]
        clock.advance(3600)
        tokens.token()
        assert service.paths == [AUTH_TOKEN_PATH, LOGIN_PATH, LOGIN_PATH]

    def test_two_factor(self) -> None:
        service = LoginService(FakeClock(), new_endpoint=False, otp="424242")
        tokens = manager(service, Credentials("alice", SECRET, otp=lambda: "424242"))
        assert tokens.token().via == LOGIN_PATH
        assert service.paths == [AUTH_TOKEN_PATH, LOGIN_PATH, TWO_FACTOR_PATH]
        assert service.calls[-1][1] == {"login_2fa_token": "2fa", "code": "424242"}

    def test_password_with_two_factor_where_auth_token_refuses_it(self) -> None:
        clock = FakeClock()
        service = LoginService(clock, otp="424242")
        tokens = manager(service, Credentials("alice", SECRET, otp=lambda: "424242"))
        tokens.token()
        assert service.paths == [AUTH_TOKEN_PATH, LOGIN_PATH, TWO_FACTOR_PATH]
        clock.advance(3600)
        tokens.token()  # the endpoint that worked is remembered
        assert service.paths[3:] == [LOGIN_PATH, TWO_FACTOR_PATH]

    def test_two_factor_without_a_code_source(self) -> None:
        service = LoginService(FakeClock(), new_endpoint=False, otp="424242")
        tokens = manager(service)
        with pytest.raises(HubAuthError, match="second factor") as caught:
            tokens.token()
        assert "personal access token" in str(caught.value)
        with pytest.raises(HubAuthError):
            tokens.token()
        assert service.paths == [AUTH_TOKEN_PATH, LOGIN_PATH]  # never asked twice

    def test_wrong_code(self) -> None:
        service = LoginService(FakeClock(), new_endpoint=False, otp="424242")
        tokens = manager(service, Credentials("alice", SECRET, otp=lambda: "000000"))
        with pytest.raises(HubAuthError, match="refused the second factor"):
            tokens.token()

    def test_refused_secret_is_never_sent_again(self) -> None:
        service = LoginService(FakeClock())
        tokens = manager(service, Credentials("alice", "wrong-secret"))
        with pytest.raises(HubAuthError) as caught:
            tokens.token()
        text = str(caught.value)
        assert text.startswith("Docker Hub refused the login for user 'alice' (401)")
        assert "JANITOR_HUB_USERNAME and JANITOR_HUB_TOKEN" in text
        assert "wrong-secret" not in text and "wrong-secret" not in repr(caught.value)
        for _ in range(5):
            with pytest.raises(HubAuthError):
                tokens.token()
        assert len(service.calls) == 1

    def test_renews_shortly_before_expiry(self) -> None:
        clock = FakeClock()
        service = LoginService(clock, ttl=600)
        tokens = manager(service)
        first = tokens.token()
        clock.advance(539)
        assert tokens.token() is first
        clock.advance(2)  # 541 s: inside the last minute
        second = tokens.token()
        assert second is not first and second.value != first.value
        assert len(service.calls) == 2

    def test_short_lived_tokens_are_not_renewed_per_request(self) -> None:
        clock = FakeClock()
        service = LoginService(clock, ttl=10)
        tokens = manager(service)
        first = tokens.token()
        clock.advance(7.9)
        assert tokens.token() is first  # renewed after 8 s (a fifth of 10 s before expiry)
        clock.advance(0.2)
        assert tokens.token() is not first

    def test_a_401_on_an_aged_token_renews_once(self) -> None:
        clock = FakeClock()
        service = LoginService(clock)
        tokens = manager(service)
        old = tokens.token()
        clock.advance(120)
        assert tokens.renew_after_401(old)
        assert tokens.renew_after_401(old)  # another thread, same stale token: no second login
        new = tokens.token()
        assert new is not old and len(service.calls) == 2

    def test_a_401_on_a_fresh_token_does_not_log_in_again(self) -> None:
        service = LoginService(FakeClock())
        tokens = manager(service)
        fresh = tokens.token()
        assert not tokens.renew_after_401(fresh)
        assert tokens.token() is fresh and len(service.calls) == 1

    def test_threads_share_one_login(self) -> None:
        service = LoginService(FakeClock(), delay=0.05)
        tokens = manager(service)
        seen: list[str] = []
        barrier = threading.Barrier(16, timeout=10)

        def work() -> None:
            barrier.wait()
            seen.append(tokens.token().value)

        threads = [threading.Thread(target=work) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert len(seen) == 16 and len(set(seen)) == 1
        assert len(service.calls) == 1

    def test_answer_without_a_token(self) -> None:
        def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
            return 200, {"access_token": None}

        tokens = TokenManager(Credentials("alice", SECRET), post, clock=FakeClock())
        with pytest.raises(HubProtocolError, match="access_token"):
            tokens.token()

    def test_secrets_are_reported_for_redaction(self) -> None:
        service = LoginService(FakeClock(), new_endpoint=False, otp="424242")
        found: list[str] = []
        tokens = TokenManager(
            Credentials("alice", SECRET, otp=lambda: "424242"),
            service,
            clock=service.clock,
            on_secret=found.append,
        )
        token = tokens.token()
        assert {SECRET, "2fa", "424242", token.value} <= set(found)
        assert token.value not in repr(token)


class TestHubAuthFlow:
    """The httpx.Auth flow: bearer header, one renewal and retry after a 401."""

    def run(self, answers: list[int], clock: FakeClock) -> tuple[httpx.Response, list[str], int]:
        service = LoginService(clock)
        tokens = manager(service)
        auth = HubAuth(tokens)
        sent: list[str] = []

        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(request.headers["Authorization"])
            return httpx.Response(answers[len(sent) - 1], json={})

        with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as http:
            http.get("http://hub.test/v2/x")  # a first call, to have an aged token
            clock.advance(120)
            response = http.get("http://hub.test/v2/y")
        return response, sent, len(service.calls)

    def test_bearer_and_renewal_after_401(self) -> None:
        response, sent, logins = self.run([200, 401, 200], FakeClock())
        assert response.status_code == 200
        assert all(h.startswith("Bearer ") for h in sent)
        assert sent[0] == sent[1] != sent[2]
        assert logins == 2

    def test_gives_up_after_the_second_401(self) -> None:
        response, sent, logins = self.run([200, 401, 401], FakeClock())
        assert response.status_code == 401
        assert len(sent) == 3 and logins == 2
