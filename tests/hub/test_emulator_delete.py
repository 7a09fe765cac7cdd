"""delete-images through the emulator: typed answers, ignore_warnings, and the rule that a real
delete is never sent twice unless it provably did not happen."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.hub.errors import HubServerError, HubTransportError
from janitor.hub.models import DeleteError, DeleteMetrics, DeleteWarning, ManifestRef
from janitor.hub.parse import parse_time

from .clock import FakeClock
from .conftest import AMD64, INDEX, OLD, Connect, digest, logged

DELETE = "/v2/namespaces/acme/delete-images"


def posts(emu: RunningEmulator, at_least: int) -> list[object]:
    return [e.json for e in logged(emu, at_least) if e.path == DELETE]


def web_digests(emu: RunningEmulator) -> set[str]:
    return {image.digest for image in emu.state.images("acme", "web")}


def test_dry_run_reports_the_current_tag_and_changes_nothing(
    emulator: RunningEmulator, connect: Connect
) -> None:
    hub = connect(emulator)
    result = hub.delete_images("acme", [ManifestRef("web", INDEX)], dry_run=True)
    assert not result.accepted and result.dry_run
    assert result.warnings == (DeleteWarning("web", INDEX, "current_tag", ("latest",)),)
    assert result.errors == () and result.message == "Deletion not possible" and result.txnid
    assert web_digests(emulator) == {INDEX, OLD}


def test_accepted_dry_run_then_real_delete(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator)
    cutoff = datetime.now(UTC) - timedelta(days=30)
    dry = hub.delete_images("acme", [ManifestRef("web", OLD)], dry_run=True, active_from=cutoff)
    assert dry.accepted and dry.metrics == DeleteMetrics(manifest_deletes=1)
    assert web_digests(emulator) == {INDEX, OLD}
    real = hub.delete_images("acme", [ManifestRef("web", OLD)], dry_run=False, active_from=cutoff)
    assert real.accepted and not real.dry_run
    assert real.metrics == DeleteMetrics(manifest_deletes=1)
    assert web_digests(emulator) == {INDEX}
    sent = posts(emulator, hub.stats.calls)
    assert [body["dry_run"] for body in sent] == [True, False]  # type: ignore[index]
    sent_from = sent[1]["active_from"]  # type: ignore[index]
    assert sent_from.endswith("Z") and parse_time(sent_from) == cutoff


def test_ignore_warnings_exactly_as_hub_gave_them(
    emulator: RunningEmulator, connect: Connect
) -> None:
    hub = connect(emulator)
    refs = [ManifestRef("web", INDEX)]
    cutoff = datetime.now(UTC)
    first = hub.delete_images("acme", refs, dry_run=True, active_from=cutoff)
    result = hub.delete_images(
        "acme", refs, dry_run=False, active_from=cutoff, ignore_warnings=first.warnings
    )
    assert result.accepted
    assert result.metrics == DeleteMetrics(manifest_deletes=3, tag_deletes=1)  # index + 2
    assert web_digests(emulator) == {OLD}
    body = posts(emulator, hub.stats.calls)[-1]
    assert body["ignore_warnings"] == [  # type: ignore[index]
        {"repository": "web", "digest": INDEX, "warning": "current_tag", "tags": ["latest"]}
    ]


def test_errors_are_typed(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator)
    unknown = digest(999)
    result = hub.delete_images(
        "acme", [ManifestRef("web", AMD64), ManifestRef("web", unknown)], dry_run=True
    )
    assert not result.accepted
    assert result.errors == (
        DeleteError("web", AMD64, "child_manifest"),
        DeleteError("web", unknown, "not_found"),
    )


def test_is_active(emulator: RunningEmulator, connect: Connect) -> None:
    hub = connect(emulator)
    cutoff = datetime.now(UTC) - timedelta(days=200)  # OLD was pulled 50 days ago: active
    result = hub.delete_images("acme", [ManifestRef("web", OLD)], dry_run=True, active_from=cutoff)
    assert result.warnings == (DeleteWarning("web", OLD, "is_active"),)


class TestNoRepeat:
    def test_a_5xx_after_hub_applied_it_is_raised_not_repeated(
        self, emulator: RunningEmulator, connect: Connect
    ) -> None:
        emulator.faults.add(
            Fault("status", method="POST", path="delete-images$", status=502, after_apply=True)
        )
        hub = connect(emulator)
        with pytest.raises(HubServerError) as caught:
            hub.delete_images("acme", [ManifestRef("web", OLD)], dry_run=False)
        assert caught.value.maybe_applied and caught.value.status == 502
        assert len(posts(emulator, 2)) == 1
        assert web_digests(emulator) == {INDEX}  # it was applied: hence never repeat blindly

    def test_a_5xx_before_applying_is_not_repeated_either(
        self, emulator: RunningEmulator, connect: Connect
    ) -> None:
        emulator.faults.add(Fault("status", method="POST", path="delete-images$", status=503))
        hub = connect(emulator)
        with pytest.raises(HubServerError, match="may have been applied"):
            hub.delete_images("acme", [ManifestRef("web", OLD)], dry_run=False)
        assert len(posts(emulator, 2)) == 1

    def test_a_dropped_real_delete_is_not_repeated(
        self, emulator: RunningEmulator, connect: Connect
    ) -> None:
        emulator.faults.add(Fault("drop", method="POST", path="delete-images$"))
        hub = connect(emulator)
        with pytest.raises(HubTransportError) as caught:
            hub.delete_images("acme", [ManifestRef("web", OLD)], dry_run=False)
        assert caught.value.maybe_applied and caught.value.kind == "dropped"
        assert len(posts(emulator, 2)) == 1

    def test_a_rate_limited_real_delete_is_repeated(
        self, emulator: RunningEmulator, connect: Connect
    ) -> None:
        emulator.faults.add(Fault("rate_limit", method="POST", path="delete-images$"))
        clock = FakeClock(time.time())  # the emulator names its retry time by the real clock
        hub = connect(emulator, clock=clock, sleep=clock.sleep, max_wait=120)
        result = hub.delete_images("acme", [ManifestRef("web", OLD)], dry_run=False)
        assert result.accepted and hub.stats.rate_limited == 1
        assert len(posts(emulator, 3)) == 2

    def test_a_dry_run_is_repeated(self, emulator: RunningEmulator, connect: Connect) -> None:
        emulator.faults.add(Fault("status", method="POST", path="delete-images$", times=2))
        emulator.faults.add(Fault("drop", method="POST", path="delete-images$"))
        clock = FakeClock()
        hub = connect(emulator, clock=clock, sleep=clock.sleep)
        result = hub.delete_images("acme", [ManifestRef("web", OLD)], dry_run=True)
        assert result.accepted and hub.stats.retries == 3
