"""``delete-images`` over HTTP: validation, warnings, ignore_warnings, dry runs, real deletes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import HubState
from janitor.emulator.timefmt import format_time

from .conftest import NOW, bearer, digest, get_token

DELETE = "/v2/namespaces/acme/delete-images"
RECENT = format_time(NOW - timedelta(days=30))


def request(*refs: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {"manifests": [{"repository": r, "digest": d} for r, d in refs], **extra}


def details(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["message"] == "Deletion not possible"
    assert body["errinfo"]["type"] == "validation"
    result: dict[str, Any] = body["errinfo"]["details"]
    return result


def test_untagged_cold_image_is_deleted(
    client: httpx.Client, alice: dict[str, str], state: HubState
) -> None:
    body = request(("app", digest("app/old")), dry_run=False, active_from=RECENT)
    response = client.post(DELETE, json=body, headers=alice)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "dry_run": False,
        "metrics": {"manifest_deletes": 1, "manifest_errors": 0, "tag_deletes": 0, "tag_errors": 0},
    }
    assert state.image("acme", "app", digest("app/old")) is None
    again = client.post(DELETE, json=body, headers=alice)
    assert details(again)["errors"] == [
        {"repository": "app", "digest": digest("app/old"), "error": "not_found"}
    ]


def test_dry_run_changes_nothing(
    client: httpx.Client, alice: dict[str, str], state: HubState
) -> None:
    body = request(
        ("app", digest("app/old")), ("app", digest("app/zero")), dry_run=True, active_from=RECENT
    )
    response = client.post(DELETE, json=body, headers=alice)
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert response.json()["metrics"]["manifest_deletes"] == 2
    assert len(state.images("acme", "app")) == 5


def test_errors_not_found_and_child_manifest(
    client: httpx.Client, alice: dict[str, str], state: HubState
) -> None:
    body = request(
        ("app", digest("app/old")),
        ("app", digest("nothing")),
        ("app", digest("app/v2/arm64")),
        active_from=RECENT,
    )
    found = details(client.post(DELETE, json=body, headers=alice))
    assert found["errors"] == [
        {"repository": "app", "digest": digest("nothing"), "error": "not_found"},
        {"repository": "app", "digest": digest("app/v2/arm64"), "error": "child_manifest"},
    ]
    assert found["warnings"] == []
    assert state.image("acme", "app", digest("app/old")) is not None  # all or nothing


def test_unknown_repository_is_not_found(client: httpx.Client, alice: dict[str, str]) -> None:
    found = details(client.post(DELETE, json=request(("nope", digest("x"))), headers=alice))
    assert found["errors"] == [{"repository": "nope", "digest": digest("x"), "error": "not_found"}]


def test_warnings_current_tag_and_is_active(client: httpx.Client, alice: dict[str, str]) -> None:
    body = request(("app", digest("app/v2")), ("app", digest("app/v1")), active_from=RECENT)
    found = details(client.post(DELETE, json=body, headers=alice))
    assert found["errors"] == []
    assert found["warnings"] == [
        {
            "repository": "app",
            "digest": digest("app/v2"),
            "warning": "current_tag",
            "tags": ["latest", "v2"],
        },
        {"repository": "app", "digest": digest("app/v2"), "warning": "is_active"},
        {"repository": "app", "digest": digest("app/v1"), "warning": "current_tag", "tags": ["v1"]},
    ]


def test_default_active_from_is_a_month_ago(client: httpx.Client, alice: dict[str, str]) -> None:
    found = details(client.post(DELETE, json=request(("app", digest("app/v2"))), headers=alice))
    assert {w["warning"] for w in found["warnings"]} == {"current_tag", "is_active"}
    old_cutoff = request(
        ("app", digest("app/v2")), active_from=format_time(NOW - timedelta(hours=2))
    )
    found = details(client.post(DELETE, json=old_cutoff, headers=alice))
    assert {w["warning"] for w in found["warnings"]} == {
        "current_tag",
        "is_active",
    }  # pulled 1h ago
    after = request(("app", digest("app/v2")), active_from=format_time(NOW - timedelta(minutes=30)))
    found = details(client.post(DELETE, json=after, headers=alice))
    assert {w["warning"] for w in found["warnings"]} == {"current_tag"}


def test_ignored_warnings_let_the_delete_through(
    client: httpx.Client, alice: dict[str, str], state: HubState
) -> None:
    ignore = [
        {
            "repository": "app",
            "digest": digest("app/v2"),
            "warning": "current_tag",
            "tags": ["latest", "v2"],
        },
        {"repository": "app", "digest": digest("app/v2"), "warning": "is_active"},
    ]
    partial = request(("app", digest("app/v2")), active_from=RECENT, ignore_warnings=ignore[:1])
    found = details(client.post(DELETE, json=partial, headers=alice))
    assert found["warnings"] == [
        {"repository": "app", "digest": digest("app/v2"), "warning": "is_active"}
    ]
    dry = request(
        ("app", digest("app/v2")), active_from=RECENT, ignore_warnings=ignore, dry_run=True
    )
    response = client.post(DELETE, json=dry, headers=alice)
    assert response.status_code == 200
    # The index and its two children; its two current tags.
    assert response.json()["metrics"] == {
        "manifest_deletes": 3, "manifest_errors": 0, "tag_deletes": 2, "tag_errors": 0,
    }  # fmt: skip
    assert state.image("acme", "app", digest("app/v2")) is not None
    real = request(("app", digest("app/v2")), active_from=RECENT, ignore_warnings=ignore)
    response = client.post(DELETE, json=real, headers=alice)
    assert response.status_code == 200
    assert response.json()["metrics"]["manifest_deletes"] == 3
    assert state.image("acme", "app", digest("app/v2")) is None
    tags = {
        t["name"] for t in client.get("/v2/namespaces/acme/repositories/app/tags").json()["results"]
    }
    assert tags == {"v1", "pr-7"}  # latest and v2 went with the image
    # The children are gone too: deleting one now is not_found, not child_manifest.
    child = request(("app", digest("app/v2/amd64")))
    assert (
        details(client.post(DELETE, json=child, headers=alice))["errors"][0]["error"] == "not_found"
    )


def test_a_tag_added_after_the_dry_run_blocks_the_delete(
    client: httpx.Client, alice: dict[str, str], state: HubState
) -> None:
    ignore = [
        {"repository": "app", "digest": digest("app/v1"), "warning": "current_tag", "tags": ["v1"]}
    ]
    body = request(("app", digest("app/v1")), active_from=RECENT, ignore_warnings=ignore)
    assert client.post(DELETE, json={**body, "dry_run": True}, headers=alice).status_code == 200
    state.tag_image("acme", "app", digest("app/v1"), "stable")
    found = details(client.post(DELETE, json=body, headers=alice))
    assert found["warnings"] == [
        {
            "repository": "app",
            "digest": digest("app/v1"),
            "warning": "current_tag",
            "tags": ["stable", "v1"],
        }
    ]
    assert state.image("acme", "app", digest("app/v1")) is not None


def test_ignore_warnings_must_match_repository_digest_and_kind(
    client: httpx.Client, alice: dict[str, str]
) -> None:
    for wrong in (
        {
            "repository": "app",
            "digest": digest("app/pr-7"),
            "warning": "is_active",
            "tags": ["pr-7"],
        },
        {
            "repository": "app",
            "digest": digest("app/v1"),
            "warning": "current_tag",
            "tags": ["pr-7"],
        },
    ):
        body = request(("app", digest("app/pr-7")), active_from=RECENT, ignore_warnings=[wrong])
        assert (
            details(client.post(DELETE, json=body, headers=alice))["warnings"][0]["warning"]
            == "current_tag"
        )


def test_pr_build_delete_counts_its_tag(client: httpx.Client, alice: dict[str, str]) -> None:
    ignore = [
        {
            "repository": "app",
            "digest": digest("app/pr-7"),
            "warning": "current_tag",
            "tags": ["pr-7"],
        }
    ]
    body = request(("app", digest("app/pr-7")), active_from=RECENT, ignore_warnings=ignore)
    response = client.post(DELETE, json=body, headers=alice)
    assert response.json()["metrics"] == {
        "manifest_deletes": 1, "manifest_errors": 0, "tag_deletes": 1, "tag_errors": 0,
    }  # fmt: skip


def test_one_repository_per_call(
    client: httpx.Client, alice: dict[str, str], state: HubState
) -> None:
    body = request(("app", digest("app/old")), ("tools", digest("tools/1")), active_from=RECENT)
    response = client.post(DELETE, json=body, headers=alice)
    assert response.status_code == 400
    assert "one repository per call" in response.json()["message"]
    assert "details" not in response.json()["errinfo"]
    assert state.image("acme", "app", digest("app/old")) is not None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"manifests": []},
        {"manifests": [{"repository": "app"}]},
        {"manifests": [{"repository": "app", "digest": "x"}], "dry_run": "yes"},
        {"manifests": [{"repository": "app", "digest": "x"}], "active_from": "last week"},
        {
            "manifests": [{"repository": "app", "digest": "x"}],
            "ignore_warnings": [{"warning": "x"}],
        },
        [1, 2],
    ],
)
def test_malformed_requests_are_400(
    client: httpx.Client, alice: dict[str, str], body: object
) -> None:
    response = client.post(DELETE, json=body, headers=alice)
    assert response.status_code == 400
    assert response.json()["message"] != "Deletion not possible"


def test_outsider_gets_unauthorized_errors(client: httpx.Client, state: HubState) -> None:
    eve = bearer(get_token(client, "eve", "eve-pw"))
    found = details(client.post(DELETE, json=request(("app", digest("app/old"))), headers=eve))
    assert found["errors"] == [
        {"repository": "app", "digest": digest("app/old"), "error": "unauthorized"}
    ]
    assert state.image("acme", "app", digest("app/old")) is not None


def test_library_is_never_deletable(
    client: httpx.Client, alice: dict[str, str], state: HubState
) -> None:
    body = request(("alpine", digest("alpine/1")))
    response = client.post("/v2/namespaces/library/delete-images", json=body, headers=alice)
    assert response.status_code == 403
    assert client.post("/v2/namespaces/library/delete-images", json=body).status_code == 401
    assert state.image("library", "alpine", digest("alpine/1")) is not None


def test_plan_without_feature_403_and_retired_api_404(
    client: httpx.Client, alice: dict[str, str]
) -> None:
    noplan = client.post(
        "/v2/namespaces/noplan/delete-images", json=request(("x", digest("x/1"))), headers=alice
    )
    assert noplan.status_code == 403
    retired = client.post(
        "/v2/namespaces/retired/delete-images", json=request(("y", digest("y/1"))), headers=alice
    )
    assert retired.status_code == 404


def test_request_log_shows_dry_run_and_real_calls(
    client: httpx.Client, alice: dict[str, str], emu: RunningEmulator
) -> None:
    body = request(("app", digest("app/old")), active_from=RECENT)
    client.post(DELETE, json={**body, "dry_run": True}, headers=alice)
    deletes = [e for e in emu.log.entries() if e.path == DELETE]
    assert [e.json["dry_run"] for e in deletes] == [True]  # type: ignore[index]
    client.post(DELETE, json=body, headers=alice)
    assert emu.log.count("POST", "delete-images$") == 2
