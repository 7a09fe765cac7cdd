"""The emulator's answers validated against the published specs with openapi-core."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable

import httpx
import pytest
import yaml
from openapi_core import OpenAPI

from janitor.emulator.server import RunningEmulator
from janitor.emulator.specs import (
    NEWEST_FILE,
    legacy_images_spec,
    newest_spec,
    newest_spec_dict,
    reference_dir,
    validate_exchange,
)

from .conftest import bearer, digest, get_token

APP = "/v2/namespaces/acme/repositories/app"
DELETE = "/v2/namespaces/acme/delete-images"


def test_published_newest_spec_needs_normalising() -> None:
    path = reference_dir() / NEWEST_FILE
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do: it is not valid as published
        OpenAPI.from_dict(copy.deepcopy(raw))
    spec = newest_spec_dict()
    assert set(spec["paths"]) == {
        "/v2/auth/token",
        "/v2/users/login",
        "/v2/users/2fa-login",
        "/v2/namespaces/{namespace}/repositories",
        "/v2/namespaces/{namespace}/repositories/{repository}/tags",
    }
    codes = [
        c
        for item in spec["paths"].values()
        for op in item.values()
        if isinstance(op, dict)
        for c in op.get("responses", {})
    ]
    assert codes and all(isinstance(c, str) for c in codes)
    assert "team_repo" not in str(spec["components"])
    assert newest_spec_dict() == spec  # nothing cached was changed in place
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_specs_load() -> None:
    assert isinstance(newest_spec(), OpenAPI)
    assert isinstance(newest_spec(live_tags=True), OpenAPI)
    assert isinstance(legacy_images_spec(), OpenAPI)


Check = Callable[[httpx.Response], None]


@pytest.fixture
def newest() -> Check:
    spec = newest_spec()
    return lambda response: validate_exchange(spec, response, request=response.status_code < 400)


@pytest.fixture
def legacy() -> Check:
    spec = legacy_images_spec()
    return lambda response: validate_exchange(spec, response, request=response.status_code < 400)


def test_auth_answers_match_the_newest_spec(client: httpx.Client, newest: Check) -> None:
    for body in (
        {"identifier": "alice", "secret": "alice-pw"},
        {"identifier": "alice", "secret": "x"},
    ):
        newest(client.post("/v2/auth/token", json=body))
    for body in (
        {"username": "alice", "password": "alice-pw"},
        {"username": "alice", "password": "wrong"},
        {"username": "bob", "password": "bob-pw"},  # the 2FA challenge
    ):
        newest(client.post("/v2/users/login", json=body))
    challenge = client.post("/v2/users/login", json={"username": "bob", "password": "bob-pw"})
    token = challenge.json()["login_2fa_token"]
    for code in ("000000", "123456"):
        newest(client.post("/v2/users/2fa-login", json={"login_2fa_token": token, "code": code}))


def test_repository_answers_match_the_newest_spec(
    client: httpx.Client, alice: dict[str, str], newest: Check
) -> None:
    base = "/v2/namespaces/acme/repositories"
    for query in ("", "?page_size=1", "?page=2&page_size=1&ordering=-last_updated", "?name=app"):
        response = client.get(base + query, headers=alice)
        assert response.status_code == 200
        newest(response)
    for query, status in (("?page=9", 404), ("?ordering=size", 400)):
        response = client.get(base + query, headers=alice)
        assert response.status_code == status
        newest(response)
    newest(client.get("/v2/namespaces/nobody/repositories", headers=alice))
    eve = bearer(get_token(client, "eve", "eve-pw"))
    newest(client.get("/v2/namespaces/acme/repositories/secret/tags", headers=eve))  # 403
    newest(client.get("/v2/namespaces/acme/repositories/nope/tags", headers=alice))  # 404


def test_tags_match_the_spec_in_spec_shape_and_the_live_variant_in_live_shape(
    client: httpx.Client, emu: RunningEmulator, alice: dict[str, str], newest: Check
) -> None:
    emu.config.tag_shape = "spec"
    spec_shape = client.get(APP + "/tags?page_size=10", headers=alice)
    newest(spec_shape)
    emu.config.tag_shape = "live"
    live_shape = client.get(APP + "/tags?page_size=10", headers=alice)
    validate_exchange(newest_spec(live_tags=True), live_shape)
    with pytest.raises(Exception):  # noqa: B017 - the live shape is not what the spec declares
        newest(live_shape)
    emu.config.never_pulled_as = "zero"
    validate_exchange(newest_spec(live_tags=True), client.get(APP + "/tags", headers=alice))


def test_image_answers_match_the_legacy_spec(
    client: httpx.Client, alice: dict[str, str], legacy: Check
) -> None:
    for query in (
        "",
        "?page_size=2&page=2",
        "?status=active&currently_tagged=true",
        "?ordering=-last_activity&active_from=2025-12-01T00:00:00Z",
    ):
        response = client.get(APP + "/images" + query, headers=alice)
        assert response.status_code == 200
        legacy(response)
    legacy(client.get(APP + "/images"))  # 401
    legacy(client.get("/v2/namespaces/noplan/repositories/x/images", headers=alice))  # 403
    legacy(client.get(APP + f"/images/{digest('app/v1')}/tags?page_size=1", headers=alice))
    legacy(client.get(APP + f"/images/{digest('app/v1')}/tags"))  # 401
    legacy(client.get(APP + "/images-summary?active_from=2025-12-01T00:00:00Z", headers=alice))
    legacy(client.get(APP + "/images-summary"))  # 401


def test_delete_answers_match_the_legacy_spec(
    client: httpx.Client, alice: dict[str, str], legacy: Check
) -> None:
    ok = client.post(
        DELETE,
        json={
            "dry_run": True,
            "active_from": "2025-12-15T00:00:00Z",
            "manifests": [{"repository": "app", "digest": digest("app/old")}],
        },
        headers=alice,
    )
    assert ok.status_code == 200
    legacy(ok)
    refused = client.post(
        DELETE,
        json={
            "manifests": [
                {"repository": "app", "digest": digest("app/v2")},
                {"repository": "app", "digest": digest("nope")},
                {"repository": "app", "digest": digest("app/v2/amd64")},
            ],
            "ignore_warnings": [
                {
                    "repository": "app",
                    "digest": digest("app/v2"),
                    "warning": "current_tag",
                    "tags": ["latest"],
                },
            ],
        },
        headers=alice,
    )
    assert refused.status_code == 400
    validate_exchange(legacy_images_spec(), refused)  # a valid request, refused
    forbidden = client.post(
        "/v2/namespaces/noplan/delete-images",
        json={"manifests": [{"repository": "x", "digest": digest("x/1")}]},
        headers=alice,
    )
    assert forbidden.status_code == 403
    legacy(forbidden)
