"""The namespace inventory: children folded into their index, sizes from tags, name order,
bounded concurrency and memory, early close, errors raised in turn."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from janitor.emulator.config import EmulatorConfig
from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.hub.errors import HubServerError
from janitor.hub.inventory import fold_children, iter_inventory, tag_size
from janitor.hub.models import Image, PlatformImage, Tag, TagRef

from .clock import FakeClock
from .conftest import AMD64, ARM64, INDEX, OLD, Connect, Serve, logged

T1 = datetime(2024, 1, 1, tzinfo=UTC)
T2 = datetime(2024, 6, 1, tzinfo=UTC)


def image(
    digest: str, *tags: TagRef, pushed: datetime = T1, pulled: datetime | None = None
) -> Image:
    return Image("acme", "web", digest, tags=tags, last_pushed=pushed, last_pulled=pulled)


def tag(
    name: str, digest: str | None, *platforms: tuple[str, int | None], full: int | None = None
) -> Tag:
    return Tag(
        name=name,
        digest=digest,
        last_pushed=T1,
        last_pulled=None,
        full_size=full,
        images=tuple(PlatformImage(digest=d, size=s) for d, s in platforms),
    )


class TestFold:
    def test_live_shape_index(self) -> None:
        images = [image(INDEX, TagRef("latest", True)), image(OLD)]
        tags = [tag("latest", INDEX, (AMD64, 100), (ARM64, 200), full=100)]
        folded = {i.digest: i for i in fold_children("acme", "web", images, tags)}
        assert folded[INDEX].children == (AMD64, ARM64)
        assert folded[INDEX].size == 300  # every platform of an index
        assert folded[OLD].size is None and folded[OLD].children == ()

    def test_spec_shape_matched_by_tag_name(self) -> None:
        images = [image(INDEX, TagRef("latest", True))]
        tags = [tag("latest", None, (AMD64, 100), full=300)]
        (folded,) = fold_children("acme", "web", images, tags)
        assert folded.digest == INDEX and folded.children == (AMD64,) and folded.size == 300

    def test_single_platform_image(self) -> None:
        images = [image(OLD, TagRef("v1", True))]
        (folded,) = fold_children("acme", "web", images, [tag("v1", None, (OLD, 50))])
        assert folded.children == () and folded.size == 50

    def test_a_listed_child_is_folded_into_its_parent(self) -> None:
        images = [
            image(INDEX, TagRef("latest", True), pushed=T1, pulled=None),
            image(AMD64, pushed=T1, pulled=T2),  # pulled by digest more recently
        ]
        tags = [tag("latest", INDEX, (AMD64, 100), (ARM64, 200))]
        (folded,) = fold_children("acme", "web", images, tags)
        assert folded.digest == INDEX and folded.last_pulled == T2
        assert folded.tags == (TagRef("latest", True),)

    def test_a_parent_seen_only_through_its_children(self) -> None:
        images = [image(AMD64, pushed=T2), image(ARM64, pushed=T1)]
        tags = [tag("latest", INDEX, (AMD64, 100), (ARM64, 200))]
        (folded,) = fold_children("acme", "web", images, tags)
        assert folded.digest == INDEX and folded.children == (AMD64, ARM64)
        assert folded.tags == (TagRef("latest", True),) and folded.last_pushed == T2

    def test_duplicates_from_paging_are_merged(self) -> None:
        images = [image(OLD, pulled=T1), image(OLD, pulled=T2)]
        (folded,) = fold_children("acme", "web", images, [])
        assert folded.last_pulled == T2

    @pytest.mark.parametrize(
        ("platforms", "full", "size"),
        [
            (((AMD64, 1), (ARM64, 2)), 1, 3),
            (((AMD64, 5),), 7, 7),
            (((AMD64, 5),), None, 5),
            ((), 9, 9),
            ((), None, None),
        ],
    )
    def test_tag_size(
        self, platforms: tuple[tuple[str, int], ...], full: int | None, size: int | None
    ) -> None:
        assert tag_size(tag("t", INDEX, *platforms, full=full)) == size


@pytest.mark.parametrize("shape", ["live", "spec"])
def test_inventory_of_a_namespace(serve: Serve, connect: Connect, shape: str) -> None:
    emu = serve(EmulatorConfig(tag_shape=shape))  # type: ignore[arg-type]
    hub = connect(emu)
    inventory = list(iter_inventory(hub, "acme", concurrency=3))
    names = [r.repository.name for r in inventory]
    assert names == sorted(names) and len(names) == 14
    web = {i.digest: i for r in inventory if r.repository.name == "web" for i in r.images}
    assert set(web) == {INDEX, OLD}  # no platform image of its own
    assert web[INDEX].size == 300 and AMD64 in web[INDEX].children
    assert web[INDEX].current_tags == ("latest",) and web[INDEX].last_pulled is None
    big = next(r for r in inventory if r.repository.name == "big")
    assert len(big.images) == 250


def test_selection_and_without_tags(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator)
    inventory = list(
        iter_inventory(hub, "acme", repositories=lambda n: n.startswith("r0"), with_tags=False)
    )
    assert [r.repository.name for r in inventory] == [f"r{i:02d}" for i in range(10)]
    paths = [e.path for e in logged(emulator, hub.stats.calls)]
    assert not any(p.endswith("/tags") for p in paths)
    assert not any("/big/" in p for p in paths)


def test_concurrency_one(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator)
    assert len(list(iter_inventory(hub, "acme", concurrency=1))) == 14
    with pytest.raises(ValueError, match="concurrency"):
        next(iter_inventory(hub, "acme", concurrency=0))


def test_buffering_is_bounded(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator)
    inventory = iter_inventory(hub, "acme", concurrency=2, with_tags=False)
    first = next(inventory)
    assert first.repository.name == "api"
    fetched = {e.path for e in logged(emulator, 2) if e.path.endswith("/images")}
    assert len(fetched) <= 4  # 2 * concurrency repositories at most, not all 14
    inventory.close()


def test_closing_early_stops_the_workers(serve: Serve, connect: Connect) -> None:
    emu = serve(EmulatorConfig(latency=0.05))
    hub = connect(emu)
    inventory = iter_inventory(hub, "acme", concurrency=2)
    next(inventory)
    inventory.close()  # stops and joins the workers
    assert not any(t.name.startswith("janitor-inventory") for t in threading.enumerate())
    assert hub.stats.calls < 1 + 1 + 14 * 2  # far from the whole namespace


def test_a_failing_repository_is_raised_in_its_turn(
    emulator: RunningEmulator, connect: Connect
) -> None:
    emulator.faults.add(Fault("status", status=500, path="/r03/images$", times=100))
    clock = FakeClock()
    hub = connect(emulator, max_retries=1, clock=clock, sleep=clock.sleep)
    seen: list[str] = []
    with pytest.raises(HubServerError, match="r03"):
        for repo in iter_inventory(hub, "acme", repositories=lambda n: n.startswith("r")):
            seen.append(repo.repository.name)
    assert seen == ["r00", "r01", "r02"]
