"""Auth over HTTP: tokens from passwords and PATs, 2FA, expiry, and who gets 401 or 403."""

from __future__ import annotations

import json

import httpx
import pytest

from janitor.emulator.config import ManualClock
from janitor.emulator.server import RunningEmulator

from .conftest import bearer, get_token

APP_IMAGES = "/v2/namespaces/acme/repositories/app/images"
SECRET_TAGS = "/v2/namespaces/acme/repositories/secret/tags"


def test_auth_token_with_password_or_pat(client: httpx.Client) -> None:
    for secret in ("alice-pw", "dckr_pat_alice"):
        token = get_token(client, "alice", secret)
        assert token.count(".") == 2 and token.startswith("eyJ")  # JWT-looking
        assert client.get(APP_IMAGES, headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    "body", [{"identifier": "alice", "secret": "wrong"}, {"identifier": "nobody", "secret": "x"}]
)
def test_auth_token_wrong_secret_is_401(client: httpx.Client, body: dict[str, str]) -> None:
    response = client.post("/v2/auth/token", json=body)
    assert response.status_code == 401
    answer = response.json()
    assert answer["detail"] == answer["message"] == "Incorrect authentication credentials"
    assert "access_token" not in answer


def test_auth_token_bad_body_is_400(client: httpx.Client) -> None:
    assert client.post("/v2/auth/token", json={"identifier": "alice"}).status_code == 400
    assert client.post("/v2/auth/token", content=b"{nope").status_code == 400


def test_users_login(client: httpx.Client) -> None:
    response = client.post("/v2/users/login", json={"username": "alice", "password": "alice-pw"})
    assert response.status_code == 200
    token = response.json()["token"]
    assert client.get(APP_IMAGES, headers=bearer(token)).status_code == 200
    failed = client.post("/v2/users/login", json={"username": "alice", "password": "nope"})
    assert failed.status_code == 401
    assert failed.json() == {"detail": "Incorrect authentication credentials"}


def test_two_factor_login(client: httpx.Client) -> None:
    first = client.post("/v2/users/login", json={"username": "bob", "password": "bob-pw"})
    assert first.status_code == 401
    challenge = first.json()["login_2fa_token"]
    assert "token" not in first.json()
    wrong = client.post(
        "/v2/users/2fa-login", json={"login_2fa_token": challenge, "code": "000000"}
    )
    assert wrong.status_code == 401
    right = client.post("/v2/users/2fa-login", json={"login_2fa_token": challenge, "code": 123456})
    assert right.status_code == 200
    token = right.json()["token"]
    assert client.get(APP_IMAGES, headers=bearer(token)).status_code == 200
    # The challenge is spent, and is never an access token itself.
    again = client.post(
        "/v2/users/2fa-login", json={"login_2fa_token": challenge, "code": "123456"}
    )
    assert again.status_code == 401
    assert client.get(APP_IMAGES, headers=bearer(challenge)).status_code == 401


def test_two_factor_account_with_pat_needs_no_code(client: httpx.Client) -> None:
    response = client.post("/v2/users/login", json={"username": "bob", "password": "dckr_pat_bob"})
    assert response.status_code == 200 and "token" in response.json()
    assert get_token(client, "bob", "dckr_pat_bob")
    refused = client.post("/v2/auth/token", json={"identifier": "bob", "secret": "bob-pw"})
    assert refused.status_code == 401


def test_two_factor_challenge_expires(client: httpx.Client, clock: ManualClock) -> None:
    first = client.post("/v2/users/login", json={"username": "bob", "password": "bob-pw"})
    clock.advance(seconds=301)
    late = client.post(
        "/v2/users/2fa-login",
        json={"login_2fa_token": first.json()["login_2fa_token"], "code": "123456"},
    )
    assert late.status_code == 401


def test_tokens_expire_after_ttl(client: httpx.Client, clock: ManualClock) -> None:
    token = get_token(client)
    login = client.post("/v2/users/login", json={"username": "alice", "password": "alice-pw"})
    tokens = [token, login.json()["token"]]
    clock.advance(seconds=599)
    assert all(client.get(APP_IMAGES, headers=bearer(t)).status_code == 200 for t in tokens)
    clock.advance(seconds=1)
    for t in tokens:
        expired = client.get(APP_IMAGES, headers=bearer(t))
        assert expired.status_code == 401
        assert "expired" in expired.json()["detail"]


def test_token_ttl_is_configurable(
    emu: RunningEmulator, client: httpx.Client, clock: ManualClock
) -> None:
    emu.config.token_ttl = 30
    token = get_token(client)
    clock.advance(seconds=31)
    assert client.get(APP_IMAGES, headers=bearer(token)).status_code == 401


def test_jwt_scheme_is_accepted(client: httpx.Client) -> None:
    token = get_token(client)
    assert client.get(APP_IMAGES, headers={"Authorization": f"JWT {token}"}).status_code == 200


@pytest.mark.parametrize("header", ["Bearer not-a-token", "Basic YWxpY2U6eA==", "Bearer"])
def test_bad_tokens_are_401_even_where_anonymous_is_fine(client: httpx.Client, header: str) -> None:
    assert client.get("/v2/namespaces/acme/repositories").status_code == 200
    response = client.get("/v2/namespaces/acme/repositories", headers={"Authorization": header})
    assert response.status_code == 401


def test_image_endpoints_need_a_token_and_read_access(client: httpx.Client) -> None:
    anonymous = client.get(APP_IMAGES)
    assert anonymous.status_code == 401
    eve = bearer(get_token(client, "eve", "eve-pw"))
    no_access = client.get(APP_IMAGES, headers=eve)
    assert no_access.status_code == 401
    assert "read access" in no_access.json()["message"]
    assert (
        client.post(
            "/v2/namespaces/acme/delete-images",
            json={"manifests": [{"repository": "app", "digest": "sha256:" + "0" * 64}]},
        ).status_code
        == 401
    )


def test_private_repository_tags(client: httpx.Client, alice: dict[str, str]) -> None:
    assert client.get(SECRET_TAGS).status_code == 401
    eve = bearer(get_token(client, "eve", "eve-pw"))
    assert client.get(SECRET_TAGS, headers=eve).status_code == 403
    assert client.get(SECRET_TAGS, headers=alice).status_code == 200
    assert client.get("/v2/namespaces/acme/repositories/app/tags").status_code == 200


def test_older_tags_path_refuses_pat_tokens(client: httpx.Client) -> None:
    path = "/v2/repositories/acme/app/tags"
    pat = client.get(path, headers=bearer(get_token(client, "alice", "dckr_pat_alice")))
    assert pat.status_code == 403
    assert pat.json()["message"] == "token issued from personal access token is not allowed"
    password = client.get(path, headers=bearer(get_token(client, "alice", "alice-pw")))
    assert password.status_code == 200
    modern = client.get(
        "/v2/namespaces/acme/repositories/app/tags",
        headers=bearer(get_token(client, "alice", "dckr_pat_alice")),
    )
    assert modern.json() == password.json()


def test_secrets_never_reach_the_request_log(emu: RunningEmulator, client: httpx.Client) -> None:
    token = get_token(client)
    client.post("/v2/users/login", json={"username": "bob", "password": "bob-pw"})
    client.get(APP_IMAGES, headers=bearer(token))
    logged = json.dumps([e.to_dict() for e in emu.log.entries()])
    for secret in ("dckr_pat_alice", "bob-pw", token):
        assert secret not in logged
    assert emu.log.entries()[0].json == {"identifier": "alice", "secret": "***"}
