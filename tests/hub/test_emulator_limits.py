"""Rate limits against the emulator: pacing keeps a listing that needs several windows free of
429s; a storm of 429s is waited out by the headers Hub sends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from janitor.emulator.config import EmulatorConfig, ManualClock
from janitor.emulator.faults import Fault
from janitor.hub.errors import HubRateLimited
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


def test_a_wait_past_the_longest_fails_at_once_naming_the_time(
    serve: Serve, connect: Connect
) -> None:
    """Hub asks for 50 s; janitor accepts 5 s at most: no early resend, no wait, one clear error
    naming the time Hub gave (issue 13.6: the wait used to be cut short at the cap)."""
    start = datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC)
    emu = serve(EmulatorConfig(clock=ManualClock(start)))
    emu.faults.add(Fault("rate_limit", path="/tags$", times=1))
    clock = FakeClock(start.timestamp())
    hub = connect(emu, clock=clock, sleep=clock.sleep, max_wait=5.0)
    with pytest.raises(HubRateLimited) as caught:
        list(hub.iter_tags("acme", "web"))
    assert "2030-01-01T00:01:00Z" in str(caught.value)
    assert "JANITOR_MAX_WAIT_SECONDS" in str(caught.value)
    assert caught.value.retry_at == datetime(2030, 1, 1, 0, 1, tzinfo=UTC).timestamp()
    assert clock.slept == 0
    assert emu.log.count("GET", r"/tags$") == 1


def test_a_login_answered_429_is_never_resent_before_the_time_hub_names(
    serve: Serve, connect: Connect
) -> None:
    """Hub locks a username out after too many logins (docker/hub-feedback#2201): the second
    login goes no earlier than Hub's retry time, however long (within the longest wait)."""
    start = datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC)
    emu = serve(EmulatorConfig(clock=ManualClock(start)))
    emu.faults.add(Fault("rate_limit", method="POST", path="/v2/auth/token$", times=1))
    clock = FakeClock(start.timestamp())
    hub = connect(emu, clock=clock, sleep=clock.sleep, max_wait=900.0)
    list(hub.iter_tags("acme", "web"))
    assert clock.slept >= 50.0  # the window's end, not the old 120 s cap nor a short backoff
    assert emu.log.count("POST", r"/v2/auth/token$") == 2

    emu.faults.add(Fault("rate_limit", method="POST", path="/v2/auth/token$", times=1))
    clock = FakeClock(start.timestamp())
    hub = connect(emu, clock=clock, sleep=clock.sleep, max_wait=10.0)
    with pytest.raises(HubRateLimited, match="try again after 2030-01-01T00:01:00Z"):
        list(hub.iter_tags("acme", "web"))
    assert clock.slept == 0
    assert emu.log.count("POST", r"/v2/auth/token$") == 3
