"""Listings are checked before anything is planned from them: rows against ``count``, no row or
page twice, ``next`` links followed as Hub gives them; a listing that does not add up is read
once more, then refused, and nothing is deleted from that namespace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from janitor.emulator.config import EmulatorConfig
from janitor.emulator.faults import Fault
from janitor.emulator.model import MANIFEST_MEDIA_TYPE, StoredImage, TagEntry
from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import load_seed
from janitor.engine import run_once
from janitor.hub.client import HubClient
from janitor.hub.errors import IncompleteListing

from .conftest import World, digest, hub_client, seed, serve, top_level

NOW = datetime.now(UTC)


def tag_pages(emu: RunningEmulator, repository: str = "web") -> list[dict[str, str]]:
    return [e.query for e in emu.log.entries() if e.path.endswith(f"/{repository}/tags")]


@pytest.fixture
def big() -> Iterator[RunningEmulator]:
    """acme/big: 150 tagged images (two pages of 100), on an emulator that caps page_size."""
    state = load_seed(seed())
    state.add_repository("acme", "big")
    for n in range(150):
        state.push_image(
            "acme",
            "big",
            StoredImage(
                digest=digest(1000 + n),
                media_type=MANIFEST_MEDIA_TYPE,
                last_pushed=NOW - timedelta(days=n + 1),
                last_pulled=None,
                size=10,
                tags=[TagEntry(f"t{n}", True)],
            ),
        )
    with serve(state, EmulatorConfig.like_hub()) as emu:
        yield emu


def test_a_dropped_row_is_read_again(emulator: RunningEmulator) -> None:
    emulator.faults.add(Fault("drop_row", path="/web/tags"))
    with hub_client(emulator) as hub:
        tags = hub.list_tags("acme", "web")
    assert len(tags) == 8  # every current tag of acme/web
    assert len(tag_pages(emulator)) == 2  # the short read, then the full one


def test_a_listing_short_twice_is_refused(emulator: RunningEmulator) -> None:
    emulator.faults.add(Fault("drop_row", path="/web/tags", times=2))
    with hub_client(emulator) as hub, pytest.raises(IncompleteListing) as caught:
        hub.list_tags("acme", "web")
    message = str(caught.value)
    assert "did not add up twice" in message and "7 rows but counted 8" in message
    assert "\n" not in message.splitlines()[0]


def test_a_repeated_page_is_caught(big: RunningEmulator) -> None:
    big.faults.add(Fault("repeat_page", path="/big/tags", times=2))
    with hub_client(big) as hub, pytest.raises(IncompleteListing, match="sent a row twice"):
        hub.list_tags("acme", "big")


def test_next_links_are_followed_as_hub_gives_them(big: RunningEmulator) -> None:
    with hub_client(big) as hub:
        assert len(hub.list_tags("acme", "big")) == 150
    first, second = tag_pages(big, "big")
    assert first == {"page_size": "100"} and second == {"page_size": "100", "page": "2"}


def test_a_short_repository_listing_fails_at_its_end(emulator: RunningEmulator) -> None:
    emulator.faults.add(Fault("drop_row", path="/namespaces/acme/repositories$"))
    with (
        hub_client(emulator) as hub,
        pytest.raises(IncompleteListing, match="1 rows but counted 2"),
    ):
        list(hub.iter_repositories("acme"))


def test_a_run_never_deletes_from_an_incomplete_listing(world: World) -> None:
    """A repository whose listing does not add up twice is refused on its own: nothing in it
    is deleted, the rest of the namespace is cleaned, and the run ends failed, naming it, with
    the refusal kept in the run's notes."""
    world.hub.faults.add(Fault("drop_row", path="/web/tags", times=2))
    web_before = top_level(world.hub, "web")
    record = run_once(world.context(), world.policy(), trigger="cli", dry_run=False)
    assert record.status == "failed"
    assert "acme/web" in (record.error or "") and "did not add up" in (record.error or "")
    stored = world.store.get_run(record.id)
    assert stored is not None
    assert any(
        "acme/web was not planned" in n and "tags listing of acme/web did not add up twice" in n
        for n in stored.notes
    ), stored.notes
    deletes = [e for e in world.hub.log.entries() if e.method == "DELETE"]
    assert not [e for e in deletes if "/web/" in e.path]
    assert top_level(world.hub, "web") == web_before
    assert [e for e in deletes if "/api/" in e.path]  # the rest of the namespace was cleaned
    assert record.metrics.deleted > 0


def test_an_emulator_like_hub_caps_page_size_silently(big: RunningEmulator) -> None:
    client: HubClient = hub_client(big)
    with client:
        answer = client._call(
            "GET",
            client._url("/v2/namespaces/acme/repositories/big/tags"),
            endpoint="tags",
            params={"page_size": "500"},
        )
    assert answer.status == 200 and len(answer.body["results"]) == 100
    assert "page_size=500" in answer.body["next"]  # Hub keeps what was asked for in its links
