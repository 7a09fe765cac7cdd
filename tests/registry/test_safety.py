"""The registry backend against an emulator as strict as the live Hub (``EmulatorConfig.like_hub``):
a manifest DELETE never takes a tag janitor meant to keep (with a registry that refuses a tagged
manifest and with one that deletes it with its tags), the tag DELETE Hub serves on either path,
and no pulls: the only manifest GET is of an index about to be deleted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from janitor.backends.registry import RegistryBackend
from janitor.emulator.config import EmulatorConfig
from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import load_seed
from janitor.engine import run_once
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.errors import HubForbidden
from janitor.hub.models import DeleteWarning, ManifestRef
from janitor.hub.tags import delete_tag
from janitor.store import Store

from .conftest import (
    AOLD,
    APR,
    ASTABLE,
    B1,
    B2,
    B3,
    IDX,
    KEPT_IDX,
    LATEST,
    PLANNED,
    PR1,
    TOKEN,
    UNTAGGED,
    USER,
    V1,
    World,
    hub_client,
    make_settings,
    registry_client,
    seed,
    serve,
    top_level,
)


@pytest.fixture(params=["untag", "refuse"])
def strict(request: pytest.FixtureRequest) -> Iterator[RunningEmulator]:
    """Today's Hub, strict: its registry deletes a tagged manifest with its tags ("untag", as
    the distribution registry does) or refuses it with 403 ("refuse", as the docs say)."""
    config = EmulatorConfig.like_hub(registry_tagged_delete=request.param)
    with serve(load_seed(seed()), config) as emu:
        yield emu


@pytest.fixture
def strict_world(strict: RunningEmulator, sqlite_store: Store, tmp_path: Path) -> World:
    return World(strict, sqlite_store, make_settings(strict, tmp_path), tmp_path)


class TagOnDelete(httpx.HTTPTransport):
    """Real HTTP; right after Hub deletes ``tag``, someone pushes ``new_tag`` onto ``digest``."""

    def __init__(self, emu: RunningEmulator, tag: str, digest: str, new_tag: str) -> None:
        super().__init__()
        self.emu, self.tag, self.digest, self.new_tag = emu, tag, digest, new_tag

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        path = request.url.path.rstrip("/")
        if request.method == "DELETE" and path.endswith(f"/tags/{self.tag}"):
            self.emu.state.tag_image("acme", "web", self.digest, self.new_tag)
        return response


def test_a_tag_pushed_after_the_check_keeps_its_manifest(strict: RunningEmulator) -> None:
    hub = HubClient(
        strict.url,
        Credentials(USER, TOKEN),
        timeout=10,
        max_retries=2,
        transport=TagOnDelete(strict, "build-1", B1, "hotfix"),
    )
    with hub, registry_client(strict) as registry:
        result = RegistryBackend(hub, registry).delete_images(
            "acme",
            [ManifestRef("web", B1), ManifestRef("web", B2)],
            dry_run=False,
            ignore_warnings=[
                DeleteWarning("web", B1, "current_tag", ("build-1",)),
                DeleteWarning("web", B2, "current_tag", ("build-2",)),
            ],
        )
    assert result.accepted and result.metrics is not None
    assert (result.metrics.manifest_deletes, result.metrics.manifest_errors) == (1, 1)
    assert "now tagged hotfix" in (result.message or "")
    assert strict.state.image("acme", "web", B1).current_tags == ["hotfix"]  # kept, with its tag
    assert B2 not in top_level(strict, "web")
    assert strict.log.count("DELETE", f"/manifests/{B1}") == 0


def test_a_run_on_the_strict_hub_deletes_exactly_the_plan(strict_world: World) -> None:
    emu = strict_world.hub
    pulled_before = {i.digest: i.last_pulled for i in emu.state.images("acme", "web")}
    record = run_once(strict_world.context(), strict_world.policy(), trigger="cli", dry_run=False)
    assert record.status == "succeeded", record.error
    assert record.backend == "registry"
    outcomes = strict_world.outcomes(record.id)
    assert {d for d, o in outcomes.items() if o == "deleted"} == PLANNED
    assert top_level(emu, "web") == {B3, LATEST, KEPT_IDX, V1, UNTAGGED}
    assert top_level(emu, "api") == {ASTABLE}
    # no pulls: the index's children come from the tags listing, so no manifest is read by GET,
    # and what stays keeps its last_pulled
    gets = [e.path for e in emu.log.entries() if e.method == "GET" and "/manifests/" in e.path]
    assert gets == []
    after = {i.digest: i.last_pulled for i in emu.state.images("acme", "web")}
    assert all(after[d] == pulled_before[d] for d in after if d in pulled_before)
    # the tag DELETE Hub serves (hub-tool's path) was found once and remembered
    assert emu.log.count("DELETE", "/v2/namespaces/") == 1  # the one 405
    assert emu.log.count("DELETE", "/v2/repositories/") == 6  # every tag of the plan


def test_a_run_on_the_strict_hub_never_deletes_a_tag_pushed_meanwhile(
    strict_world: World,
) -> None:
    emu = strict_world.hub

    def client() -> HubClient:
        return HubClient(
            emu.url,
            Credentials(USER, TOKEN),
            timeout=10,
            max_retries=2,
            transport=TagOnDelete(emu, "build-1", B1, "hotfix"),
        )

    record = run_once(
        strict_world.context(hub_factory=client),
        strict_world.policy(),
        trigger="cli",
        dry_run=False,
    )
    outcomes = strict_world.outcomes(record.id)
    assert outcomes[B1] == "error", strict_world.details(record.id)[B1]
    assert emu.state.image("acme", "web", B1).current_tags == ["hotfix"]
    assert {d for d, o in outcomes.items() if o == "deleted"} == PLANNED - {B1}
    assert {APR, AOLD, PR1, IDX, B2} <= PLANNED


@pytest.mark.parametrize(
    ("served", "unserved_status"),
    [("repositories", 405), ("repositories", 404), ("namespaces", 405), ("both", 405)],
)
def test_the_tag_delete_hub_serves_is_found_and_remembered(
    served: str, unserved_status: int
) -> None:
    config = EmulatorConfig(
        tag_delete_paths=served,  # type: ignore[arg-type]
        unserved_tag_delete_status=unserved_status,
        legacy_refuses_pat=False,
    )
    with serve(load_seed(seed()), config) as emu, hub_client(emu) as hub:
        assert delete_tag(hub, "acme", "web", "build-1", confirmed=True) is True
        assert delete_tag(hub, "acme", "web", "build-2", confirmed=True) is True
        assert emu.state.image("acme", "web", B1).current_tags == []
        assert emu.state.image("acme", "web", B2).current_tags == []
        wasted = 0 if served in ("namespaces", "both") else 1
        assert emu.log.count("DELETE", "") == 2 + wasted  # the other path tried once only
        assert delete_tag(hub, "acme", "web", "build-1", confirmed=True) is False  # gone


def test_the_older_path_refusing_a_pat_is_explained() -> None:
    config = EmulatorConfig(tag_delete_paths="repositories", legacy_refuses_pat=True)
    with (
        serve(load_seed(seed()), config) as emu,
        hub_client(emu) as hub,
        pytest.raises(HubForbidden) as caught,
    ):
        delete_tag(hub, "acme", "web", "build-1", confirmed=True)
    assert "personal access token" in (caught.value.hint or "")
