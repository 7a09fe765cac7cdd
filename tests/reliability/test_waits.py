"""Waits Hub asks for, through a whole run: a 429 asking for longer than the longest wait
janitor accepts fails the run at once, before any delete, with the UTC time it may be retried
(issue 13.6 and 20.4); a wait within it is waited in full and the run completes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from janitor.emulator.config import EmulatorConfig, ManualClock
from janitor.emulator.faults import Fault
from janitor.engine import run_once
from janitor.store import Store
from tests.reliability.conftest import TOKEN, USER, EmulatorFactory, make_rig


def test_a_wait_past_the_longest_fails_the_run_naming_the_time(
    emulator_factory: EmulatorFactory, sqlite_store: Store, tmp_path: Path
) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)  # Hub's clock: its hour-long window ends at 01:00
    hub = emulator_factory(EmulatorConfig(clock=ManualClock(start), rate_window=3600.0))
    rig = make_rig(hub, sqlite_store, tmp_path, max_wait=30.0)
    hub.faults.add(Fault("rate_limit", method="GET", path=r"/images$"))
    before = rig.all_digests()

    record = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "failed"
    error = record.error or ""
    assert "JANITOR_MAX_WAIT_SECONDS" in error, error
    assert "try again after 2030-01-01T01:00:00Z" in error, error
    assert rig.all_digests() == before  # nothing deleted
    delete_calls = [e for e in hub.log.entries() if e.path.endswith("/delete-images")]
    assert delete_calls == []
    images_calls = [e for e in hub.log.entries() if e.path.endswith("/images")]
    assert [e.status for e in images_calls].count(429) == 1  # never resent early


def test_the_longest_wait_setting_reaches_the_command(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    """`JANITOR_MAX_WAIT_SECONDS` is what `janitor run` waits at most: a 429 asking for ten
    minutes (within the 15-minute default) fails the run at once (exit 1) with the time named
    when the setting says 30 s, and the listing is not resent."""
    from click.testing import CliRunner

    from janitor.cli import cli
    from tests.reliability.conftest import UNTAGGED_POLICY, cli_env

    hub = emulator_factory(EmulatorConfig(rate_window=600.0))  # Hub's clock is the real one
    hub.faults.add(Fault("rate_limit", method="GET", path=r"/images$"))
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "untagged.yaml").write_text(UNTAGGED_POLICY)
    env = cli_env(hub, tmp_path, JANITOR_MAX_WAIT_SECONDS="30")

    result = CliRunner().invoke(cli, ["run", "--dry-run"], env=env)

    assert result.exit_code == 1, result.output
    assert "JANITOR_MAX_WAIT_SECONDS" in result.output, result.output
    assert "try again after 20" in result.output, result.output
    images_calls = [e for e in hub.log.entries() if e.path.endswith("/images")]
    assert [e.status for e in images_calls].count(429) == 1


def test_a_locked_out_username_is_never_logged_in_again_before_its_time(
    emulator_factory: EmulatorFactory, sqlite_store: Store, tmp_path: Path
) -> None:
    """Hub locks a username out for 10 minutes after too many logins (docker/hub-feedback#2201)
    and answers every login with 429 until then. janitor sends one login, reads the time, and
    (past JANITOR_MAX_WAIT_SECONDS) fails the run at once naming it: no second login, no other
    login path tried, nothing deleted."""
    import httpx

    hub = emulator_factory(EmulatorConfig(login_limit=2, login_lockout=600.0))
    for _ in range(3):  # someone else's logins lock the username out
        httpx.post(f"{hub.url}/v2/auth/token", json={"identifier": USER, "secret": TOKEN})
    hub.log.clear()
    before = {i.digest for r in ("api", "web") for i in hub.state.images("acme", r)}
    rig = make_rig(hub, sqlite_store, tmp_path, max_wait=30.0)

    record = run_once(rig.context(), rig.untagged_policy(), trigger="cli", dry_run=False)

    assert record.status == "failed"
    assert "try again after" in (record.error or ""), record.error
    logins = [e for e in hub.log.entries() if "/login" in e.path or e.path.endswith("/token")]
    assert [(e.path, e.status) for e in logins] == [("/v2/auth/token", 429)]
    assert {i.digest for r in ("api", "web") for i in hub.state.images("acme", r)} == before


def test_the_strict_emulator_locks_a_username_out_after_too_many_logins(
    emulator_factory: EmulatorFactory,
) -> None:
    import httpx

    hub = emulator_factory(EmulatorConfig.like_hub(login_limit=3))
    statuses = [
        httpx.post(f"{hub.url}/v2/auth/token", json={"identifier": USER, "secret": TOKEN})
        for _ in range(5)
    ]
    assert [s.status_code for s in statuses] == [200, 200, 200, 429, 429]
    refused = statuses[3]
    assert 1 <= int(refused.headers["retry-after"]) <= 600
    assert int(refused.headers["x-retry-after"]) > 0
