"""The registry backend against the emulator over HTTP: its inventory from the tags endpoint, its
dry run and real delete compared with ``delete-images`` on two copies of the same state, and
its refusals and failures (immutable tags, a token without delete, changes after the check, a
manifest DELETE that fails half-way)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from janitor.backends.delete_images import DeleteImagesBackend
from janitor.backends.registry import RegistryBackend
from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import load_seed
from janitor.hub.errors import HubError, HubForbidden
from janitor.hub.models import DeleteResult, DeleteWarning, ManifestRef

from .conftest import (
    AOLD,
    APR,
    ASTABLE,
    B1,
    B2,
    B3,
    BOB,
    BOB_TOKEN,
    IDX,
    IDX_AMD64,
    IDX_ARM64,
    KEPT_AMD64,
    KEPT_ARM64,
    KEPT_IDX,
    LATEST,
    PR1,
    UNTAGGED,
    V1,
    Clients,
    digest,
    hub_client,
    registry_client,
    seed,
    serve,
    top_level,
)

NOW = datetime.now(UTC)
MONTH_AGO = NOW - timedelta(days=30)


def refs(repository: str, *digests: str) -> list[ManifestRef]:
    return [ManifestRef(repository, d) for d in digests]


def shape(result: DeleteResult) -> tuple[bool, set, set, object]:
    """What must agree between the backends: acceptance, errors, warnings (with tags), metrics."""
    return (
        result.accepted,
        {(e.repository, e.digest, e.error) for e in result.errors},
        {(w.repository, w.digest, w.warning, tuple(sorted(w.tags))) for w in result.warnings},
        result.metrics,
    )


@dataclass
class Pair:
    """The same state twice: one served to delete-images, one to the registry backend."""

    hub_emulator: RunningEmulator
    registry_emulator: RunningEmulator
    delete_images: DeleteImagesBackend
    registry: RegistryBackend

    def both(self, manifests: list[ManifestRef], **kwargs: object) -> tuple[DeleteResult, ...]:
        return (
            self.delete_images.delete_images("acme", manifests, **kwargs),  # type: ignore[arg-type]
            self.registry.delete_images("acme", manifests, **kwargs),  # type: ignore[arg-type]
        )


@pytest.fixture
def pair() -> Iterator[Pair]:
    with serve(load_seed(seed(True))) as first, serve(load_seed(seed(True))) as second:
        hub_a, hub_b, registry = hub_client(first), hub_client(second), registry_client(second)
        try:
            yield Pair(first, second, DeleteImagesBackend(hub_a), RegistryBackend(hub_b, registry))
        finally:
            registry.close()
            hub_a.close()
            hub_b.close()


# -- inventory -----------------------------------------------------------------------------------


def test_inventory_is_built_from_the_tags(clients: Clients) -> None:
    inventories = list(
        clients.backend.inventory("acme", repositories=lambda n: True, concurrency=2)
    )
    assert [i.repository.name for i in inventories] == ["api", "web"]
    web = {image.digest: image for image in inventories[1].images}
    assert set(web) == {B1, B2, B3, PR1, LATEST, IDX, KEPT_IDX, V1}  # UNTAGGED is not listed
    index = web[IDX]
    assert index.current_tags == ("build-0",)
    assert index.children == (IDX_AMD64, IDX_ARM64)
    assert index.size == 1000  # the sum of its two platforms
    assert index.last_pulled is None
    assert index.status == "inactive"
    assert web[B2].last_pulled is not None and web[B2].last_pushed < web[B2].last_pulled
    assert web[LATEST].status == "active"
    api = {image.digest: image for image in inventories[0].images}
    assert api[ASTABLE].current_tags == ("pr-2", "stable")


def test_inventory_reads_the_spec_s_tag_shape_through_the_registry(
    emulator: RunningEmulator, clients: Clients
) -> None:
    live = list(clients.backend.inventory("acme", repositories=lambda n: True, concurrency=1))
    emulator.config.tag_shape = "spec"
    emulator.log.clear()
    spec = list(clients.backend.inventory("acme", repositories=lambda n: True, concurrency=1))
    # digest-less tags are resolved by HEAD, never by GET (a pull on Hub): of an index janitor
    # then knows the one platform the spec's shape shows, the rest when it is about to delete it
    assert emulator.log.count("HEAD", "/registry/v2/acme/") == 12  # one per tag
    assert emulator.log.count("GET", "/registry/v2/acme/web/manifests/") == 0

    def without_children(inventories: list) -> list:
        return [[replace(i, children=()) for i in inv.images] for inv in inventories]

    assert without_children(spec) == without_children(live)
    children = {i.digest: i.children for inv in spec for i in inv.images if i.children}
    assert children == {IDX: (IDX_AMD64,), KEPT_IDX: (KEPT_AMD64,)}


# -- the dry run, compared ------------------------------------------------------------------------


def test_dry_run_answers_as_delete_images_does(pair: Pair) -> None:
    cases = [
        refs("web", B1),  # current_tag
        refs("web", LATEST),  # current_tag + is_active
        refs("web", IDX_AMD64),  # child_manifest
        refs("web", digest(999)),  # not_found
        refs("web", B1, LATEST, IDX_AMD64, digest(999), IDX, B3),
        refs("api", ASTABLE, AOLD),
    ]
    for manifests in cases:
        first, second = pair.both(manifests, dry_run=True, active_from=MONTH_AGO)
        assert shape(first) == shape(second), manifests
        assert not second.accepted
    assert not pair.hub_emulator.log.count("DELETE", "") + pair.registry_emulator.log.count(
        "DELETE", ""
    )


def test_ignore_warnings_follows_hub_s_rule(pair: Pair) -> None:
    manifests = refs("web", B1, IDX)
    first, _ = pair.both(manifests, dry_run=True, active_from=MONTH_AGO)
    accepted = [w for w in first.warnings if w.warning == "current_tag"]
    results = pair.both(manifests, dry_run=True, active_from=MONTH_AGO, ignore_warnings=accepted)
    assert shape(results[0]) == shape(results[1])
    assert results[1].accepted
    assert results[1].metrics is not None
    assert results[1].metrics.manifest_deletes == 4  # B1, and IDX with its two children
    assert results[1].metrics.tag_deletes == 2
    # a current_tag warning is ignored only when its tags cover every current tag
    partial = [DeleteWarning("api", ASTABLE, "current_tag", ("pr-2",))]
    results = pair.both(
        refs("api", ASTABLE), dry_run=True, active_from=MONTH_AGO, ignore_warnings=partial
    )
    assert shape(results[0]) == shape(results[1])
    assert not results[1].accepted
    assert results[1].warnings[0].tags == ("pr-2", "stable")


def test_the_real_delete_gives_the_same_metrics_and_the_same_state(pair: Pair) -> None:
    manifests = refs("web", B1, B2, IDX)
    dry, _ = pair.both(manifests, dry_run=True, active_from=MONTH_AGO)
    ignore = [w for w in dry.warnings if w.warning == "current_tag"]
    first, second = pair.both(
        manifests, dry_run=False, active_from=MONTH_AGO, ignore_warnings=ignore
    )
    assert shape(first) == shape(second)
    assert second.accepted and not second.dry_run
    assert second.metrics is not None
    assert (second.metrics.manifest_deletes, second.metrics.tag_deletes) == (5, 3)
    for repository in ("web", "api"):
        assert top_level(pair.hub_emulator, repository) == top_level(
            pair.registry_emulator, repository
        )
    left = top_level(pair.registry_emulator, "web")
    assert not {B1, B2, IDX, IDX_AMD64, IDX_ARM64} & left  # nothing untagged left behind
    assert {KEPT_IDX, LATEST, B3} <= left


def test_an_untagged_manifest_has_no_activity_to_tell(pair: Pair) -> None:
    """The documented difference: Hub knows when an untagged image was pushed, no tag does."""
    first, second = pair.both(refs("web", UNTAGGED), dry_run=True, active_from=MONTH_AGO)
    assert [w.warning for w in first.warnings] == ["is_active"]
    assert second.accepted and second.metrics is not None
    assert second.metrics.manifest_deletes == 1


# -- refusals ------------------------------------------------------------------------------------


def test_an_immutable_tag_is_an_error_and_nothing_is_deleted(
    emulator: RunningEmulator, clients: Clients
) -> None:
    warning = DeleteWarning("web", V1, "current_tag", ("v1.0",))
    for dry_run in (True, False):
        result = clients.backend.delete_images(
            "acme", refs("web", V1, B1), dry_run=dry_run, ignore_warnings=[warning]
        )
        assert not result.accepted
        assert [(e.digest, e.error) for e in result.errors] == [(V1, "immutable_tag")]
        assert [(w.digest, w.warning) for w in result.warnings] == [(B1, "current_tag")]
    assert emulator.log.count("DELETE", "") == 0


def test_a_token_without_delete_fails_the_dry_run_clearly(emulator: RunningEmulator) -> None:
    hub, registry = hub_client(emulator, BOB, BOB_TOKEN), registry_client(emulator, BOB, BOB_TOKEN)
    with hub, registry, pytest.raises(HubForbidden, match="only pull on acme/web, not delete"):
        RegistryBackend(hub, registry).delete_images("acme", refs("web", B1), dry_run=True)
    assert emulator.log.count("DELETE", "") == 0


def test_the_real_call_checks_again_and_refuses_a_tag_added_since(
    emulator: RunningEmulator, clients: Clients
) -> None:
    dry = clients.backend.delete_images("acme", refs("web", B1, B2), dry_run=True)
    ignore = [w for w in dry.warnings if w.warning == "current_tag"]
    emulator.state.tag_image("acme", "web", B1, "hotfix")  # a push tags it meanwhile
    result = clients.backend.delete_images(
        "acme", refs("web", B1, B2), dry_run=False, ignore_warnings=ignore
    )
    assert not result.accepted
    assert [(w.digest, w.tags) for w in result.warnings] == [(B1, ("build-1", "hotfix"))]
    assert emulator.log.count("DELETE", "") == 0
    assert {B1, B2} <= top_level(emulator, "web")


def test_a_manifest_delete_that_fails_half_way_is_reported_truthfully(
    emulator: RunningEmulator, clients: Clients
) -> None:
    emulator.faults.add(Fault("status", method="DELETE", path="/manifests/", status=500))
    ignore = [DeleteWarning("web", B1, "current_tag", ("build-1",))]
    with pytest.raises(HubError) as caught:
        clients.backend.delete_images(
            "acme", refs("web", B1), dry_run=False, ignore_warnings=ignore
        )
    assert caught.value.maybe_applied  # the tag is gone: the executor must re-check
    assert "after deleting 1 tag(s) and 0 manifest(s)" in str(caught.value)
    assert emulator.state.image("acme", "web", B1).current_tags == []  # untagged, still there
    recheck = clients.backend.delete_images("acme", refs("web", B1), dry_run=True)
    assert recheck.accepted  # present (no not_found): the executor reports it as not deleted
    assert emulator.log.count("DELETE", "/manifests/") == 1  # never repeated


def test_a_500_the_registry_completes_in_the_background_counts_as_deleted(
    emulator: RunningEmulator, clients: Clients
) -> None:
    emulator.faults.add(
        Fault("status", method="DELETE", path="/manifests/", status=500, after_apply=True)
    )
    ignore = [DeleteWarning("web", IDX, "current_tag", ("build-0",))]
    result = clients.backend.delete_images(
        "acme", refs("web", IDX), dry_run=False, ignore_warnings=ignore
    )
    assert result.accepted and result.metrics is not None
    assert (result.metrics.manifest_deletes, result.metrics.tag_deletes) == (3, 1)
    assert not {IDX, IDX_AMD64, IDX_ARM64} & top_level(emulator, "web")
    assert emulator.log.count("DELETE", f"/manifests/{IDX}") == 1


def test_a_child_of_a_kept_index_is_never_deleted(
    emulator: RunningEmulator, clients: Clients
) -> None:
    for dry_run in (True, False):
        result = clients.backend.delete_images(
            "acme", refs("web", KEPT_AMD64, KEPT_ARM64), dry_run=dry_run
        )
        assert {(e.digest, e.error) for e in result.errors} == {
            (KEPT_AMD64, "child_manifest"),
            (KEPT_ARM64, "child_manifest"),
        }
    assert emulator.log.count("DELETE", "") == 0


def test_one_repository_per_call(clients: Clients) -> None:
    with pytest.raises(ValueError, match="one repository per call"):
        clients.backend.delete_images("acme", [*refs("web", B1), *refs("api", APR)], dry_run=True)
    with pytest.raises(ValueError, match="at least one"):
        clients.backend.delete_images("acme", [], dry_run=True)


def test_the_dry_run_honours_active_from_like_hub(pair: Pair) -> None:
    long_ago = NOW - timedelta(days=1000)
    results = pair.both(refs("api", AOLD), dry_run=True, active_from=long_ago)
    assert shape(results[0]) == shape(results[1])
    assert {w.warning for w in results[1].warnings} == {"current_tag", "is_active"}
    default = pair.both(refs("api", AOLD), dry_run=True)  # Hub's default: a month ago
    assert shape(default[0]) == shape(default[1])
    assert {w.warning for w in default[1].warnings} == {"current_tag"}
