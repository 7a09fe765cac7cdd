"""``EmulatorConfig.like_hub()``: the emulator as strict as the live Hub, switch by switch."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from janitor.emulator.config import EmulatorConfig
from janitor.emulator.model import MANIFEST_MEDIA_TYPE
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import load_seed
from tests.registry.conftest import B1, IDX_AMD64, KEPT_IDX, hub_client, registry_client, seed

NANOS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


@pytest.fixture
def strict() -> Iterator[RunningEmulator]:
    with start_emulator(load_seed(seed()), EmulatorConfig.like_hub()) as emu:
        yield emu


def test_tags_carry_tag_status_only_and_nanosecond_times(strict: RunningEmulator) -> None:
    with hub_client(strict) as hub:
        answer = hub._call(
            "GET", hub._url("/v2/namespaces/acme/repositories/web/tags"), endpoint="t"
        )
    tag = answer.body["results"][0]
    assert "status" not in tag and tag["tag_status"] in ("active", "inactive")
    assert NANOS.match(tag["tag_last_pushed"])


def test_page_size_above_100_is_capped_not_refused(strict: RunningEmulator) -> None:
    with hub_client(strict) as hub:
        answer = hub._call(
            "GET",
            hub._url("/v2/namespaces/acme/repositories"),
            endpoint="r",
            params={"page_size": "1000"},
        )
    assert answer.status == 200 and answer.body["count"] == 2
    with start_emulator(load_seed(seed())) as kind, hub_client(kind) as hub:
        refused = hub._call(
            "GET",
            hub._url("/v2/namespaces/acme/repositories"),
            endpoint="r",
            params={"page_size": "1000"},
            passthrough=(400,),
        )
    assert refused.status == 400  # the documented bound, where the switch is off


def test_a_manifest_get_is_a_pull_and_a_head_is_not(strict: RunningEmulator) -> None:
    before = strict.state.image("acme", "web", B1)
    assert before is not None and before.last_pulled is None
    with registry_client(strict) as registry:
        assert registry.head_manifest("acme/web", B1) is not None
        assert strict.state.image("acme", "web", B1).last_pulled is None
        assert registry.get_manifest("acme/web", B1) is not None
        assert registry.get_manifest("acme/web", IDX_AMD64) is not None  # a platform manifest
    assert strict.state.image("acme", "web", B1).last_pulled is not None
    gets = [e for e in strict.log.entries() if e.method == "GET" and "/manifests/" in e.path]
    assert len(gets) == 2


def test_pulls_are_limited_and_told_in_headers_and_heads_are_free() -> None:
    config = EmulatorConfig.like_hub(registry_pull_limit=2)
    with start_emulator(load_seed(seed()), config) as emu, registry_client(emu) as registry:
        for _ in range(3):
            assert registry.head_manifest("acme/web", B1) is not None  # never counted
        token = registry._token("acme/web")
        assert token is not None
        headers = {"Authorization": f"Bearer {token.value}", "Accept": MANIFEST_MEDIA_TYPE}
        url = f"{emu.registry_url}/v2/acme/web/manifests/{B1}"
        answers = [httpx.get(url, headers=headers, timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit-limit"] == "2;w=21600"
    assert answers[0].headers["ratelimit-remaining"] == "1;w=21600"
    assert answers[2].json()["errors"][0]["code"] == "TOOMANYREQUESTS"


def test_a_tagged_manifest_delete_both_ways() -> None:
    for mode, expected in (("refuse", "referenced"), ("untag", "deleted")):
        config = EmulatorConfig.like_hub(registry_tagged_delete=mode)  # type: ignore[arg-type]
        with start_emulator(load_seed(seed()), config) as emu, registry_client(emu) as registry:
            assert registry.delete_manifest("acme/web", B1) == expected
            image = emu.state.image("acme", "web", B1)
            assert (image is None) == (mode == "untag")
            # a platform manifest an index lists is refused either way
            assert registry.delete_manifest("acme/web", IDX_AMD64) == "referenced"
            assert emu.state.image("acme", "web", KEPT_IDX) is not None


def test_the_manifests_listing_is_switchable(strict: RunningEmulator) -> None:
    with hub_client(strict) as hub:
        assert len(list(hub.iter_manifests("acme", "web"))) > 0
    with start_emulator(load_seed(seed())) as off, hub_client(off) as hub:
        answer = hub._call(
            "GET",
            hub._url("/v2/namespaces/acme/repositories/web/manifests"),
            endpoint="m",
            passthrough=(404,),
        )
    assert answer.status == 404
