"""``janitor.hub.tags``: Hub's tag DELETE and the immutable-tag settings, over HTTP against the
emulator; and a tag DELETE refused half-way through a batch, reported as such."""

from __future__ import annotations

import httpx
import pytest

from janitor.backends.registry import RegistryBackend
from janitor.emulator.server import RunningEmulator
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.errors import HubForbidden, HubNotFound
from janitor.hub.models import DeleteWarning, ManifestRef
from janitor.hub.tags import ImmutableTags, delete_tag, immutable_tags

from .conftest import (
    B1,
    B2,
    B3,
    BOB,
    BOB_TOKEN,
    TOKEN,
    USER,
    Clients,
    hub_client,
    registry_client,
)


def test_delete_tag(emulator: RunningEmulator, clients: Clients) -> None:
    assert delete_tag(clients.hub, "acme", "web", "build-3") is True
    assert delete_tag(clients.hub, "acme", "web", "build-3") is False  # 404: already gone
    assert emulator.state.image("acme", "web", B3).current_tags == []
    with pytest.raises(HubForbidden) as caught:
        delete_tag(clients.hub, "acme", "web", "v1.0")
    assert "immutable" in str(caught.value)
    assert delete_tag(clients.hub, "acme", "nothing", "x") is False  # no such repository
    with pytest.raises(HubNotFound):
        immutable_tags(clients.hub, "acme", "nothing")
    with hub_client(emulator, BOB, BOB_TOKEN) as bob, pytest.raises(HubForbidden):
        delete_tag(bob, "acme", "web", "latest")
    with pytest.raises(ValueError):
        delete_tag(clients.hub, "acme", "web", "../x")


def test_immutable_tags_settings(clients: Clients) -> None:
    web = immutable_tags(clients.hub, "acme", "web")
    assert web == ImmutableTags(enabled=True, rules=("v[0-9].*",))
    assert web.matches("v1.0") and not web.matches("latest") and not web.matches("dev-v1")
    assert immutable_tags(clients.hub, "acme", "api") == ImmutableTags(False, ())


def test_immutable_rules_read_safely() -> None:
    assert not ImmutableTags(False, ("v.*",)).matches("v1")
    assert ImmutableTags(True, ()).matches("anything")  # enabled without rules: every tag
    assert ImmutableTags(True, ("v([",)).matches("latest")  # unreadable rule: protect all
    assert ImmutableTags(True, (".*-RELEASE",)).matches("1.0-RELEASE")
    assert not ImmutableTags(True, (".*-RELEASE",)).matches("1.0-RELEASE-2")


def test_a_tag_delete_refused_half_way_is_reported_with_what_was_deleted(
    emulator: RunningEmulator,
) -> None:
    """After B1's tag is gone, a rule made immutable meanwhile refuses B2's tag: the error says
    one tag went, and is marked maybe-applied so the executor re-checks rather than assumes. No
    manifest goes: every tag of the batch is deleted before any manifest."""

    class LockOnDelete(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            if request.method == "DELETE" and request.url.path.endswith("/tags/build-1"):
                emulator.state.set_immutable_tags("acme", "web", ["build-2"])
            return response

    hub = HubClient(
        emulator.url, Credentials(USER, TOKEN), timeout=10, max_retries=2, transport=LockOnDelete()
    )
    registry = registry_client(emulator)
    with hub, registry:
        ignore = [
            DeleteWarning("web", B1, "current_tag", ("build-1",)),
            DeleteWarning("web", B2, "current_tag", ("build-2",)),
        ]
        with pytest.raises(HubForbidden) as caught:
            RegistryBackend(hub, registry).delete_images(
                "acme",
                [ManifestRef("web", B1), ManifestRef("web", B2)],
                dry_run=False,
                ignore_warnings=ignore,
            )
    assert caught.value.maybe_applied
    assert "after deleting 1 tag(s) and 0 manifest(s)" in str(caught.value)
    assert emulator.state.image("acme", "web", B1).current_tags == []  # untagged, still there
    assert emulator.state.image("acme", "web", B2).current_tags == ["build-2"]
