"""Rate limits against the emulator: pacing keeps a listing that needs several windows free of
429s; a storm of 429s is waited out by the headers Hub sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from janitor.emulator.config import EmulatorConfig, ManualClock
from janitor.emulator.faults import Fault
from janitor.hub.inventory import iter_inventory

from .clock import FakeClock
from .conftest import Connect, Serve, logged


@pytest.mark.parametrize("concurrency", [1, 4])
def test_pacing_needs_several_windows_and_meets_no_429(
    serve: Serve, connect: Connect, concurrency: int
) -> None:
    limit, window = 10, 1.0
    emu = serve(EmulatorConfig(rate_limit=limit, rate_window=window))
    hub = connect(emu)
    inventory = list(iter_inventory(hub, "acme", concurrency=concurrency))
    assert len(inventory) == 14
    calls = hub.stats.calls
    assert calls > 2 * limit  # the listing needed at least three windows
    entries = logged(emu, calls)
    assert [e for e in entries if e.status == 429] == []
    assert hub.stats.rate_limited == 0
    spread = max(e.at for e in entries) - min(e.at for e in entries)
    assert spread > window  # the emulator really held the client to its limit
    assert hub.rate_limit.limit == limit


@pytest.mark.parametrize("style", ["x-retry-after", "retry-after", "both"])
def test_a_429_storm_is_waited_out(serve: Serve, connect: Connect, style: str) -> None:
    start = datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC)  # 50 s before its minute's window ends
    emu = serve(EmulatorConfig(clock=ManualClock(start), retry_after_style=style))  # type: ignore[arg-type]
    emu.faults.add(Fault("rate_limit", method="GET", path="/images$", times=4))
    clock = FakeClock(start.timestamp())
    hub = connect(emu, clock=clock, sleep=clock.sleep, max_wait=120.0)
    assert len(list(hub.iter_images("acme", "web"))) == 2
    assert hub.stats.rate_limited == 4
    assert len(clock.sleeps) >= 4
    # the first wait is the one Hub asked for (to the window's end), plus a little jitter
    assert 50.0 <= clock.sleeps[0] <= 51.1


def test_the_wait_is_capped(serve: Serve, connect: Connect) -> None:
    start = datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC)
    emu = serve(EmulatorConfig(clock=ManualClock(start)))
    emu.faults.add(Fault("rate_limit", path="/tags$", times=1))
    clock = FakeClock(start.timestamp())
    hub = connect(emu, clock=clock, sleep=clock.sleep, max_wait=5.0)
    list(hub.iter_tags("acme", "web"))
    assert 5.0 <= clock.slept <= 6.1
