"""Listing through the emulator over HTTP: paging, next links, times, tag shapes, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from janitor.emulator.config import EmulatorConfig
from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.hub.errors import (
    HubForbidden,
    HubNotFound,
    HubProtocolError,
    HubServerError,
    HubTransportError,
)

from .clock import FakeClock
from .conftest import AMD64, ARM64, BIG_COUNT, INDEX, OLD, Connect, Serve, logged


def requests(emu: RunningEmulator, at_least: int, path: str) -> list[tuple[dict[str, str], int]]:
    return [(e.query, e.status) for e in logged(emu, at_least) if e.path == path]


class TestPaging:
    def test_three_pages_of_one_hundred(self, emulator: RunningEmulator, connect: Connect) -> None:
        hub = connect(emulator)
        images = list(hub.iter_images("acme", "big"))
        assert len(images) == len({i.digest for i in images}) == BIG_COUNT
        pages = requests(emulator, hub.stats.calls, "/v2/namespaces/acme/repositories/big/images")
        assert [q.get("page", "1") for q, _ in pages] == ["1", "2", "3"]
        assert all(q["page_size"] == "100" for q, _ in pages)

    def test_next_links_on_another_host_are_followed_here(
        self, serve: Serve, connect: Connect
    ) -> None:
        emu = serve(EmulatorConfig(public_base_url="https://hub.docker.com"))
        hub = connect(emu)
        assert len(list(hub.iter_images("acme", "big", ordering="-last_activity"))) == BIG_COUNT
        pages = requests(emu, hub.stats.calls, "/v2/namespaces/acme/repositories/big/images")
        assert len(pages) == 3 and all(s == 200 for _, s in pages)
        assert all(q["ordering"] == "-last_activity" for q, _ in pages)  # the query is kept

    @pytest.mark.parametrize(
        ("path", "listing"),
        [
            ("/images$", lambda hub: hub.iter_images("acme", "big")),
            ("/acme/repositories$", lambda hub: hub.iter_repositories("acme")),
            ("/tags$", lambda hub: hub.iter_tags("acme", "web")),
        ],
    )
    def test_a_next_link_that_404s_after_the_last_page(
        self, emulator: RunningEmulator, connect: Connect, path: str, listing: object
    ) -> None:
        emulator.faults.add(Fault("next_404", path=path))
        hub = connect(emulator)
        complete = list(listing(hub))  # type: ignore[operator]
        assert complete == list(listing(hub))  # type: ignore[operator]
        statuses = [e.status for e in logged(emulator, hub.stats.calls)]
        assert 404 in statuses

    def test_unknown_repository(self, emulator: RunningEmulator, connect: Connect) -> None:
        hub = connect(emulator)
        with pytest.raises(HubNotFound, match="nope"):
            list(hub.iter_tags("acme", "nope"))

    def test_retired_image_api(self, emulator: RunningEmulator, connect: Connect) -> None:
        hub = connect(emulator)
        with pytest.raises(HubNotFound, match="retired the image-management API"):
            list(hub.iter_images("retired", "x"))

    def test_library_cannot_be_cleaned(self, emulator: RunningEmulator, connect: Connect) -> None:
        from janitor.hub.models import ManifestRef

        hub = connect(emulator)
        with pytest.raises(HubForbidden, match="library"):
            hub.delete_images("library", [ManifestRef("x", INDEX)], dry_run=True)


@pytest.mark.parametrize("never", ["null", "zero"])
def test_never_pulled(serve: Serve, connect: Connect, never: str) -> None:
    emu = serve(EmulatorConfig(never_pulled_as=never))  # type: ignore[arg-type]
    hub = connect(emu)
    images = {i.digest: i for i in hub.iter_images("acme", "web")}
    assert images[INDEX].last_pulled is None
    assert images[OLD].last_pulled is not None
    (tag,) = hub.iter_tags("acme", "web")
    assert tag.last_pulled is None
    assert all(p.last_pulled is None for p in tag.images)
    now = datetime.now(UTC)
    assert now - timedelta(days=41) < images[INDEX].last_pushed < now - timedelta(days=39)  # type: ignore[operator]


@pytest.mark.parametrize("shape", ["live", "spec"])
def test_both_tag_shapes(serve: Serve, connect: Connect, shape: str) -> None:
    emu = serve(EmulatorConfig(tag_shape=shape))  # type: ignore[arg-type]
    hub = connect(emu)
    (tag,) = hub.iter_tags("acme", "web")
    assert tag.name == "latest" and tag.full_size == 300
    if shape == "live":
        assert tag.digest == INDEX
        assert [p.digest for p in tag.images] == [AMD64, ARM64]
    else:
        assert tag.digest is None and [p.digest for p in tag.images] == [AMD64]


def test_filters_are_sent(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator)
    cutoff = datetime(2030, 1, 1, 12, tzinfo=UTC)
    list(
        hub.iter_images(
            "acme", "web", status="inactive", currently_tagged=False, active_from=cutoff
        )
    )
    (entry,) = requests(emulator, hub.stats.calls, "/v2/namespaces/acme/repositories/web/images")
    assert entry[0] == {
        "status": "inactive",
        "currently_tagged": "false",
        "active_from": "2030-01-01T12:00:00Z",
        "page_size": "100",
    }


def test_image_tags_and_summary(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator)
    assert [(t.tag, t.is_current) for t in hub.iter_image_tags("acme", "web", OLD)] == [
        ("v0", False)
    ]
    summary = hub.images_summary("acme", "web", active_from=datetime.now(UTC) - timedelta(days=45))
    assert (summary.total, summary.active, summary.inactive) == (2, 1, 1)


class TestFaults:
    """Reads are retried on 5xx, dropped connections, timeouts and broken bodies."""

    @pytest.mark.parametrize(
        ("kind", "status", "times"),
        [("status", 503, 2), ("status", 500, 1), ("drop", 503, 2), ("malformed", 503, 2)],
        ids=["503", "500", "drop", "malformed"],
    )
    def test_reads_are_retried(
        self, emulator: RunningEmulator, connect: Connect, kind: str, status: int, times: int
    ) -> None:
        emulator.faults.add(Fault(kind, status=status, method="GET", path="/images$", times=times))
        clock = FakeClock()
        hub = connect(emulator, clock=clock, sleep=clock.sleep)
        assert len(list(hub.iter_images("acme", "big"))) == BIG_COUNT
        assert hub.stats.retries == times
        assert len(clock.sleeps) == times  # backed off before each retry

    def test_timeouts_are_retried(self, emulator: RunningEmulator, connect: Connect) -> None:
        emulator.faults.add(Fault("slow", method="GET", path="/tags$", delay=2.0))
        hub = connect(emulator, timeout=0.5)
        assert len(list(hub.iter_tags("acme", "web"))) == 1
        assert hub.stats.retries == 1

    def test_server_errors_that_last(self, emulator: RunningEmulator, connect: Connect) -> None:
        emulator.faults.add(Fault("status", status=502, method="GET", path="/tags$", times=10))
        clock = FakeClock()
        hub = connect(emulator, max_retries=2, clock=clock, sleep=clock.sleep)
        with pytest.raises(HubServerError, match=r"\(502\)") as caught:
            list(hub.iter_tags("acme", "web"))
        assert caught.value.status == 502 and not caught.value.maybe_applied
        assert hub.stats.retries == 2

    def test_drops_that_last(self, emulator: RunningEmulator, connect: Connect) -> None:
        emulator.faults.add(Fault("drop", method="GET", path="/tags$", times=10))
        clock = FakeClock()
        hub = connect(emulator, max_retries=1, clock=clock, sleep=clock.sleep)
        with pytest.raises(HubTransportError) as caught:
            list(hub.iter_tags("acme", "web"))
        assert caught.value.kind == "dropped"

    def test_malformed_for_ever(self, emulator: RunningEmulator, connect: Connect) -> None:
        emulator.faults.add(Fault("malformed", method="GET", path="/tags$", times=10))
        clock = FakeClock()
        hub = connect(emulator, max_retries=1, clock=clock, sleep=clock.sleep)
        with pytest.raises(HubProtocolError, match="not valid JSON"):
            list(hub.iter_tags("acme", "web"))
