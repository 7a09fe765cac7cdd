"""Listing over HTTP: repositories, tags, images, image tags, summaries; paging and its errors."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from janitor.emulator.config import EmulatorConfig
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import HubState, generate_state
from janitor.emulator.timefmt import format_time

from .conftest import NOW, TIMEOUT, bearer, digest, get_token

REPOS = "/v2/namespaces/acme/repositories"
APP = "/v2/namespaces/acme/repositories/app"


def follow(client: httpx.Client, url: str, headers: dict[str, str]) -> list[dict[str, object]]:
    """Every result of a listing, following ``next``."""
    results: list[dict[str, object]] = []
    next_url: str | None = url
    for _ in range(1000):
        if next_url is None:
            return results
        response = client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        results.extend(body["results"])
        next_url = body["next"]
    raise AssertionError("listing did not end")


def test_repositories_for_a_member_include_private_ones(
    client: httpx.Client, alice: dict[str, str]
) -> None:
    body = client.get(REPOS, headers=alice).json()
    assert body["count"] == 3
    assert [r["name"] for r in body["results"]] == ["app", "secret", "tools"]
    app = body["results"][0]
    assert app["namespace"] == "acme" and app["is_private"] is False
    assert app["storage_size"] == 1000 + 900 + 800 + 700 + 500
    assert app["last_updated"] == format_time(NOW - timedelta(days=2))


def test_repositories_anonymous_or_outsider_see_public_only(client: httpx.Client) -> None:
    assert [r["name"] for r in client.get(REPOS).json()["results"]] == ["app", "tools"]
    eve = bearer(get_token(client, "eve", "eve-pw"))
    assert client.get(REPOS, headers=eve).json()["count"] == 2


def test_repositories_ordering_and_name_filter(client: httpx.Client, alice: dict[str, str]) -> None:
    def names(query: str) -> list[str]:
        return [r["name"] for r in client.get(REPOS + query, headers=alice).json()["results"]]

    assert names("?ordering=-name") == ["tools", "secret", "app"]
    assert names("?ordering=-last_updated") == ["app", "secret", "tools"]
    assert names("?ordering=last_updated") == ["tools", "secret", "app"]
    assert names("?name=EC") == ["secret"]
    bad = client.get(REPOS + "?ordering=size", headers=alice)
    assert bad.status_code == 400
    assert bad.json()["fields"]["ordering"]


def test_repositories_paging_links_and_404_past_the_end(
    client: httpx.Client, emu: RunningEmulator, alice: dict[str, str]
) -> None:
    first = client.get(REPOS + "?page_size=2&name=", headers=alice).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
    next_url = first["next"]
    assert next_url.startswith(emu.url + REPOS + "?")
    assert parse_qs(urlsplit(next_url).query, keep_blank_values=True) == {
        "page_size": ["2"],
        "name": [""],
        "page": ["2"],
    }
    second = client.get(next_url, headers=alice).json()
    assert [r["name"] for r in second["results"]] == ["tools"]
    assert second["next"] is None
    assert parse_qs(urlsplit(second["previous"]).query)["page"] == ["1"]
    past = client.get(REPOS + "?page_size=2&page=3", headers=alice)
    assert past.status_code == 404
    assert client.get("/v2/namespaces/nobody-here/repositories").status_code == 404


@pytest.mark.parametrize(
    "query", ["page_size=101", "page_size=0", "page=0", "page=x", "page_size=-3"]
)
@pytest.mark.parametrize(
    "path", [REPOS, APP + "/tags", APP + "/images", APP + f"/images/{digest('app/v1')}/tags"]
)
def test_paging_parameters_are_validated(
    client: httpx.Client, alice: dict[str, str], path: str, query: str
) -> None:
    response = client.get(f"{path}?{query}", headers=alice)
    assert response.status_code == 400
    assert response.json()["message"]
    assert client.get(f"{path}?page_size=100", headers=alice).status_code == 200


def test_public_base_url_rewrites_links(state: HubState) -> None:
    config = EmulatorConfig(public_base_url="https://hub.docker.com/")
    with start_emulator(state, config) as emu, httpx.Client(base_url=emu.url, timeout=TIMEOUT) as c:
        body = c.get(APP + "/tags?page_size=1&page=2").json()
        assert body["next"] == f"https://hub.docker.com{APP}/tags?page_size=1&page=3"
        assert body["previous"] == f"https://hub.docker.com{APP}/tags?page_size=1&page=1"


def test_tags_live_shape(client: httpx.Client) -> None:
    body = client.get(APP + "/tags").json()
    assert body["count"] == 4  # latest, v2, v1, pr-7: current tags only
    tags = {t["name"]: t for t in body["results"]}
    assert [t["name"] for t in body["results"]][:2] in (["latest", "v2"], ["v2", "latest"])
    latest = tags["latest"]
    assert latest["digest"] == digest("app/v2")
    assert [i["digest"] for i in latest["images"]] == [
        digest("app/v2/amd64"),
        digest("app/v2/arm64"),
    ]
    assert latest["images"][1]["architecture"] == "arm64" and latest["images"][1]["variant"] == "v8"
    assert latest["full_size"] == 1000
    assert latest["tag_last_pushed"] == format_time(NOW - timedelta(days=2))
    assert latest["tag_last_pulled"] == format_time(NOW - timedelta(hours=1))
    assert latest["status"] == "active"
    assert tags["v1"]["status"] == "inactive"
    assert tags["v1"]["images"][0]["digest"] == digest("app/v1")


def test_tags_spec_shape(client: httpx.Client, emu: RunningEmulator) -> None:
    emu.config.tag_shape = "spec"
    latest = next(t for t in client.get(APP + "/tags").json()["results"] if t["name"] == "latest")
    assert "digest" not in latest
    assert isinstance(latest["images"], dict)
    assert latest["images"]["digest"] == digest("app/v2/amd64")


def test_tags_ordering_and_name(client: httpx.Client) -> None:
    names = [t["name"] for t in client.get(APP + "/tags?ordering=name").json()["results"]]
    assert names == ["latest", "pr-7", "v1", "v2"]
    assert [t["name"] for t in client.get(APP + "/tags?name=v").json()["results"]] == ["v2", "v1"]
    assert client.get(APP + "/tags?ordering=size").status_code == 400
    assert client.get("/v2/namespaces/acme/repositories/nope/tags").status_code == 404


def test_never_pulled_as_null_or_zero(
    client: httpx.Client, emu: RunningEmulator, alice: dict[str, str]
) -> None:
    def pulled() -> dict[str, object]:
        results = client.get(APP + "/images?ordering=digest", headers=alice).json()["results"]
        return {r["digest"]: r["last_pulled"] for r in results}

    assert pulled()[digest("app/old")] is None
    assert pulled()[digest("app/zero")] is None
    emu.config.never_pulled_as = "zero"
    assert pulled()[digest("app/old")] == "0001-01-01T00:00:00Z"
    assert pulled()[digest("app/zero")] == "0001-01-01T00:00:00Z"


def test_images_list(client: httpx.Client, alice: dict[str, str]) -> None:
    body = client.get(APP + "/images", headers=alice).json()
    assert body["count"] == 5  # top-level only: the index's children are not images
    first = body["results"][0]
    assert first == {
        "namespace": "acme",
        "repository": "app",
        "digest": digest("app/v2"),
        "tags": [{"tag": "latest", "is_current": True}, {"tag": "v2", "is_current": True}],
        "last_pushed": format_time(NOW - timedelta(days=2)),
        "last_pulled": format_time(NOW - timedelta(hours=1)),
        "status": "active",
    }
    assert [r["digest"] for r in body["results"]] == [
        digest(f"app/{n}") for n in ("v2", "pr-7", "v1", "old", "zero")
    ]  # newest push first


def test_images_filters(client: httpx.Client, alice: dict[str, str]) -> None:
    def digests(query: str) -> list[str]:
        response = client.get(APP + "/images?" + query, headers=alice)
        assert response.status_code == 200, response.text
        return [r["digest"] for r in response.json()["results"]]

    assert digests("currently_tagged=false") == [digest("app/old"), digest("app/zero")]
    assert digests("currently_tagged=true") == [digest(f"app/{n}") for n in ("v2", "pr-7", "v1")]
    assert digests("status=active") == [digest("app/v2")]  # default active_from: a month ago
    since = format_time(NOW - timedelta(days=55))  # pr-7 was pulled 50 days ago
    assert digests(f"status=active&active_from={since}") == [digest("app/v2"), digest("app/pr-7")]
    assert digests(f"status=inactive&active_from={since}&currently_tagged=true") == [
        digest("app/v1")
    ]
    assert digests("ordering=last_activity")[0] == digest("app/zero")
    assert digests("ordering=-last_activity")[:2] == [digest("app/v2"), digest("app/pr-7")]
    assert digests("ordering=digest") == sorted(digests("ordering=-digest"))
    results = client.get(APP + f"/images?active_from={since}", headers=alice).json()["results"]
    assert {r["digest"]: r["status"] for r in results}[digest("app/pr-7")] == "active"
    for bad in ("status=gone", "currently_tagged=maybe", "ordering=size", "active_from=yesterday"):
        assert client.get(APP + "/images?" + bad, headers=alice).status_code == 400


def test_images_of_an_unknown_repository(client: httpx.Client, alice: dict[str, str]) -> None:
    assert (
        client.get("/v2/namespaces/acme/repositories/nope/images", headers=alice).status_code == 404
    )


def test_image_tags(client: httpx.Client, alice: dict[str, str]) -> None:
    body = client.get(APP + f"/images/{digest('app/v1')}/tags", headers=alice).json()
    assert body["count"] == 2
    assert body["results"] == [
        {"tag": "v1", "is_current": True},
        {"tag": "latest", "is_current": False},
    ]
    page = client.get(APP + f"/images/{digest('app/v1')}/tags?page_size=1&page=2", headers=alice)
    assert page.json()["results"] == [{"tag": "latest", "is_current": False}]
    assert (
        client.get(
            APP + f"/images/{digest('app/v1')}/tags?page=3&page_size=1", headers=alice
        ).status_code
        == 404
    )
    child = client.get(APP + f"/images/{digest('app/v2/amd64')}/tags", headers=alice)
    assert child.status_code == 404
    assert client.get(APP + f"/images/{digest('nope')}/tags", headers=alice).status_code == 404


def test_images_summary(client: httpx.Client, alice: dict[str, str]) -> None:
    body = client.get(APP + "/images-summary", headers=alice).json()
    assert body["statistics"] == {"total": 5, "active": 1, "inactive": 4}
    since = NOW - timedelta(days=55)
    body = client.get(
        APP + f"/images-summary?active_from={format_time(since)}", headers=alice
    ).json()
    assert body == {
        "active_from": format_time(since),
        "statistics": {"total": 5, "active": 2, "inactive": 3},
    }


@pytest.mark.parametrize("suffix", ["/images", "/images-summary", f"/images/{digest('x/1')}/tags"])
def test_plan_without_image_management_is_403(
    client: httpx.Client, alice: dict[str, str], suffix: str
) -> None:
    response = client.get("/v2/namespaces/noplan/repositories/x" + suffix, headers=alice)
    assert response.status_code == 403
    assert "Pro or Team" in response.json()["message"]
    assert response.json()["txnid"] == response.json()["errinfo"]["api_call_txnid"]


@pytest.mark.parametrize("suffix", ["/images", "/images-summary", f"/images/{digest('y/1')}/tags"])
def test_retired_image_api_is_404(client: httpx.Client, alice: dict[str, str], suffix: str) -> None:
    assert (
        client.get("/v2/namespaces/retired/repositories/y" + suffix, headers=alice).status_code
        == 404
    )
    # ... while the rest of the API works there.
    assert (
        client.get("/v2/namespaces/retired/repositories/y/tags", headers=alice).status_code == 200
    )


def test_library_is_readable(client: httpx.Client) -> None:
    body = client.get("/v2/namespaces/library/repositories/alpine/tags").json()
    assert [t["name"] for t in body["results"]] == ["latest"]


def test_unknown_route_is_a_hub_shaped_404(client: httpx.Client) -> None:
    response = client.get("/v2/nothing/here")
    assert response.status_code == 404
    assert set(response.json()) >= {"message", "errinfo", "txnid"}


def test_listing_a_large_generated_repository_pages_through_everything() -> None:
    state = generate_state(repos=2, images=1234, seed=5, now=NOW)
    with start_emulator(state) as emu, httpx.Client(base_url=emu.url, timeout=TIMEOUT) as client:
        headers = bearer(get_token(client, "bench", "dckr_pat_bench"))
        results = follow(
            client, "/v2/namespaces/bench/repositories/web-0001/images?page_size=100", headers
        )
        assert len(results) == 1234
        assert len({r["digest"] for r in results}) == 1234
        assert [r["digest"] for r in results] == [
            i.digest for i in state.images("bench", "web-0001")
        ]
        tags = follow(
            client, "/v2/namespaces/bench/repositories/web-0001/tags?page_size=100", headers
        )
        assert len(tags) == len(state.view("bench", "web-0001").tag_owner)
