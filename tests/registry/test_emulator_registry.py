"""The emulator's current API over real HTTP: the registry (challenge, token service, manifests and
their DELETE rules), Hub's tag DELETE, immutable tags, and the request log seeing all of it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest

from janitor.emulator.faults import Fault
from janitor.emulator.seed import SeedError, dump_seed
from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import load_seed
from janitor.hub.registry import MANIFEST_ACCEPT, parse_challenge

from .conftest import (
    B1,
    B3,
    BOB,
    BOB_TOKEN,
    DOCUMENTED,
    IDX,
    IDX_AMD64,
    IDX_ARM64,
    INDEX_TYPE,
    KEPT_AMD64,
    LATEST,
    PASSWORD,
    TOKEN,
    UNTAGGED,
    USER,
    V1,
    digest,
    seed,
    serve,
    top_level,
)


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The emulator as Hub's documents describe it: these tests are about those rules (the
    strict, live-Hub behaviour is tested in ``test_safety`` and ``tests/emulator``)."""
    with serve(load_seed(seed()), DOCUMENTED()) as emu:
        yield emu


@pytest.fixture
def http(emulator: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        yield client


def basic(user: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def registry_token(
    http: httpx.Client,
    scope: str = "repository:acme/web:pull,push,delete",
    user: str | None = USER,
    secret: str = TOKEN,
) -> str:
    headers = basic(user, secret) if user else {}
    answer = http.get(
        "/registry/token", params={"service": "registry.docker.io", "scope": scope}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token"] == body["access_token"]
    return str(body["token"])


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def hub_token(http: httpx.Client, user: str = USER, secret: str = TOKEN) -> str:
    answer = http.post("/v2/auth/token", json={"identifier": user, "secret": secret})
    assert answer.status_code == 200
    return str(answer.json()["access_token"])


# -- the token flow -----------------------------------------------------------------------------


def test_challenge_names_the_realm_and_the_token_carries_the_granted_actions(
    http: httpx.Client, emulator: RunningEmulator
) -> None:
    ping = http.get("/registry/v2/")
    assert ping.status_code == 401
    assert ping.headers["docker-distribution-api-version"] == "registry/2.0"
    challenge = parse_challenge(ping.headers["www-authenticate"])
    assert challenge is not None
    assert challenge.realm == f"{emulator.url}/registry/token"
    assert challenge.service == "registry.docker.io"

    token = registry_token(http)
    answer = http.get(
        "/registry/token",
        params={"service": "registry.docker.io", "scope": "repository:acme/web:pull,push,delete"},
        headers=basic(USER, TOKEN),
    )
    assert answer.json()["expires_in"] == 300
    assert claims(token)["access"] == [
        {"type": "repository", "name": "acme/web", "actions": ["delete", "pull", "push"]}
    ]
    assert http.get("/registry/v2/", headers=bearer(token)).status_code == 200


def test_the_password_works_too_but_wrong_credentials_are_refused(http: httpx.Client) -> None:
    assert "delete" in claims(registry_token(http, secret=PASSWORD))["access"][0]["actions"]
    refused = http.get(
        "/registry/token",
        params={"service": "registry.docker.io", "scope": "repository:acme/web:pull"},
        headers=basic(USER, "wrong"),
    )
    assert refused.status_code == 401
    assert "wrong" not in refused.text
    unknown_service = http.get(
        "/registry/token", params={"service": "elsewhere", "scope": "repository:acme/web:pull"}
    )
    assert unknown_service.status_code == 400


def test_the_token_service_intersects_the_actions_without_error(http: httpx.Client) -> None:
    # bob may not delete in acme; acme/web is public, so he gets pull only, and no error.
    bobs = claims(registry_token(http, user=BOB, secret=BOB_TOKEN))["access"]
    assert bobs == [{"type": "repository", "name": "acme/web", "actions": ["pull"]}]
    # anonymous: pull of a public repository, nothing of a private one
    anonymous = claims(registry_token(http, "repository:bob/pub:pull,push", user=None))
    assert anonymous["access"][0]["actions"] == ["pull"]
    private = claims(registry_token(http, "repository:bob/priv:pull", user=None))
    assert private["access"][0]["actions"] == []
    # bob in his own namespace gets everything asked for, and only that
    own = claims(registry_token(http, "repository:bob/priv:pull", user=BOB, secret=BOB_TOKEN))
    assert own["access"][0]["actions"] == ["pull"]


# -- manifests ------------------------------------------------------------------------------------


def test_manifest_reads_need_a_token_with_pull(http: httpx.Client) -> None:
    url = f"/registry/v2/acme/web/manifests/{B1}"
    missing = http.head(url)
    assert missing.status_code == 401
    challenge = parse_challenge(missing.headers["www-authenticate"])
    assert challenge is not None and challenge.scope == "repository:acme/web:pull"
    other = registry_token(http, "repository:bob/pub:pull", user=BOB, secret=BOB_TOKEN)
    insufficient = http.head(url, headers=bearer(other))
    assert insufficient.status_code == 401
    assert parse_challenge(insufficient.headers["www-authenticate"]).error == "insufficient_scope"


def test_head_and_get_by_tag_and_digest(http: httpx.Client) -> None:
    token = registry_token(http)
    by_tag = http.head(
        "/registry/v2/acme/web/manifests/build-0", headers=bearer(token, Accept=MANIFEST_ACCEPT)
    )
    assert by_tag.status_code == 200
    assert by_tag.headers["docker-content-digest"] == IDX
    assert by_tag.headers["content-type"] == INDEX_TYPE
    index = http.get(
        f"/registry/v2/acme/web/manifests/{IDX}", headers=bearer(token, Accept=MANIFEST_ACCEPT)
    )
    assert [m["digest"] for m in index.json()["manifests"]] == [IDX_AMD64, IDX_ARM64]
    child = http.get(f"/registry/v2/acme/web/manifests/{IDX_AMD64}", headers=bearer(token))
    assert child.status_code == 200
    assert child.json()["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    untagged = http.head(f"/registry/v2/acme/web/manifests/{UNTAGGED}", headers=bearer(token))
    assert untagged.status_code == 200
    assert (
        http.head("/registry/v2/acme/web/manifests/nope", headers=bearer(token)).status_code == 404
    )
    unknown = http.get(f"/registry/v2/acme/web/manifests/{digest(999)}", headers=bearer(token))
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    no_repo = http.get(
        f"/registry/v2/acme/nothing/manifests/{B1}",
        headers=bearer(registry_token(http, "repository:acme/nothing:pull")),
    )
    assert no_repo.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_an_index_is_served_only_to_a_client_that_accepts_indexes(http: httpx.Client) -> None:
    token = registry_token(http)
    docker_only = bearer(token, Accept="application/vnd.docker.distribution.manifest.v2+json")
    assert (
        http.head(f"/registry/v2/acme/web/manifests/{IDX}", headers=docker_only).status_code == 404
    )
    oci = bearer(token, Accept=INDEX_TYPE)
    assert http.head(f"/registry/v2/acme/web/manifests/{IDX}", headers=oci).status_code == 200


def test_manifest_delete_rules(http: httpx.Client, emulator: RunningEmulator) -> None:
    token = registry_token(http)
    url = "/registry/v2/acme/web/manifests/"
    tagged = http.delete(url + B1, headers=bearer(token))
    assert tagged.status_code == 403
    assert tagged.json()["errors"][0]["code"] == "DENIED"
    child = http.delete(url + IDX_AMD64, headers=bearer(token))
    assert child.status_code == 403
    assert http.delete(url + "build-1", headers=bearer(token)).status_code == 405
    assert http.delete(url + digest(999), headers=bearer(token)).status_code == 404
    assert http.delete(url + UNTAGGED).status_code == 401
    pull_only = registry_token(http, user=BOB, secret=BOB_TOKEN)
    refused = http.delete(url + UNTAGGED, headers=bearer(pull_only))
    assert refused.status_code == 401
    assert parse_challenge(refused.headers["www-authenticate"]).error == "insufficient_scope"
    assert UNTAGGED in top_level(emulator, "web")

    deleted = http.delete(url + UNTAGGED, headers=bearer(token))
    assert deleted.status_code == 202
    assert UNTAGGED not in top_level(emulator, "web")


def test_deleting_an_index_leaves_its_children_to_delete_one_by_one(
    http: httpx.Client, emulator: RunningEmulator
) -> None:
    hub = {"Authorization": f"Bearer {hub_token(http)}"}
    token = registry_token(http)
    url = "/registry/v2/acme/web/manifests/"
    assert (
        http.delete("/v2/namespaces/acme/repositories/web/tags/build-0", headers=hub).status_code
        == 204
    )
    assert http.delete(url + IDX, headers=bearer(token)).status_code == 202
    assert {IDX_AMD64, IDX_ARM64} <= top_level(emulator, "web")  # now untagged manifests
    assert http.head(url + IDX, headers=bearer(token)).status_code == 404
    for kid in (IDX_AMD64, IDX_ARM64):
        assert http.delete(url + kid, headers=bearer(token)).status_code == 202
    assert not {IDX, IDX_AMD64, IDX_ARM64} & top_level(emulator, "web")
    assert KEPT_AMD64 in {
        p.digest for i in emulator.state.images("acme", "web") for p in i.platforms
    }


def test_a_500_after_apply_fault_deletes_and_then_fails(
    http: httpx.Client, emulator: RunningEmulator
) -> None:
    emulator.faults.add(
        Fault("status", method="DELETE", path="/manifests/", status=500, after_apply=True)
    )
    token = registry_token(http)
    answer = http.delete(f"/registry/v2/acme/web/manifests/{UNTAGGED}", headers=bearer(token))
    assert answer.status_code == 500
    assert "background" in answer.json()["errors"][0]["message"]
    assert UNTAGGED not in top_level(emulator, "web")


# -- Hub's tag DELETE and immutable tags ----------------------------------------------------------


def test_tag_delete(http: httpx.Client, emulator: RunningEmulator) -> None:
    path = "/v2/namespaces/acme/repositories/web/tags/"
    assert http.delete(path + "build-3").status_code == 401
    bobs = {"Authorization": f"Bearer {hub_token(http, BOB, BOB_TOKEN)}"}
    assert http.delete(path + "build-3", headers=bobs).status_code == 403
    mine = {"Authorization": f"Bearer {hub_token(http)}"}
    assert http.delete(path + "nope", headers=mine).status_code == 404
    assert (
        http.delete("/v2/namespaces/acme/repositories/nope/tags/x", headers=mine).status_code == 404
    )
    assert http.delete(path + "build-3", headers=mine).status_code == 204
    assert http.delete(path + "build-3", headers=mine).status_code == 404
    image = emulator.state.image("acme", "web", B3)
    assert image is not None and image.current_tags == []  # the image stays, untagged
    tags = http.get("/v2/namespaces/acme/repositories/web/tags", params={"page_size": 100})
    assert "build-3" not in {t["name"] for t in tags.json()["results"]}


def test_immutable_tags_cannot_be_deleted_and_are_readable(
    http: httpx.Client, emulator: RunningEmulator
) -> None:
    mine = {"Authorization": f"Bearer {hub_token(http)}"}
    refused = http.delete("/v2/namespaces/acme/repositories/web/tags/v1.0", headers=mine)
    assert refused.status_code == 403
    assert "immutable" in refused.json()["message"]
    assert emulator.state.image("acme", "web", V1).current_tags == ["v1.0"]
    info = http.get("/v2/namespaces/acme/repositories/web", headers=mine).json()
    assert info["immutable_tags_settings"] == {"enabled": True, "rules": ["v[0-9].*"]}
    assert info["name"] == "web" and info["namespace"] == "acme"
    api = http.get("/v2/namespaces/acme/repositories/api").json()
    assert api["immutable_tags_settings"] == {"enabled": False, "rules": []}
    assert http.get("/v2/namespaces/bob/repositories/priv").status_code == 401
    emulator.state.set_immutable_tags("acme", "web", ["late.*"])
    assert (
        http.delete("/v2/namespaces/acme/repositories/web/tags/latest", headers=mine).status_code
        == 403
    )
    assert emulator.state.image("acme", "web", LATEST).current_tags == ["latest"]


def test_immutable_tags_in_the_seed_round_trip_and_are_checked() -> None:
    state = load_seed(seed())
    dumped = dump_seed(state, "acme")
    assert dumped["namespaces"]["acme"]["repositories"]["web"]["immutable_tags"] == ["v[0-9].*"]
    assert "immutable_tags" not in dumped["namespaces"]["acme"]["repositories"]["api"]
    broken = seed()
    broken["namespaces"]["acme"]["repositories"]["api"]["immutable_tags"] = ["v(["]
    with pytest.raises(SeedError, match=r"api\.immutable_tags"):
        load_seed(broken)


def test_the_image_management_api_is_gone_and_every_request_is_logged(
    http: httpx.Client, emulator: RunningEmulator
) -> None:
    mine = {"Authorization": f"Bearer {hub_token(http)}"}
    assert http.get("/v2/namespaces/acme/repositories/web/images", headers=mine).status_code == 404
    assert http.post("/v2/namespaces/acme/delete-images", headers=mine, json={}).status_code == 404
    http.get("/registry/v2/")
    registry_token(http)
    seen = [(e.method, e.path, e.status) for e in emulator.log.entries()]
    assert ("GET", "/registry/v2/", 401) in seen
    assert ("GET", "/registry/token", 200) in seen
    assert all("Basic" not in json.dumps(e.to_dict()) for e in emulator.log.entries())
