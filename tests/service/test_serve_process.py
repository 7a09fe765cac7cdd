"""`janitor serve` as a real process: start-up checks, /healthz and /metrics, reload by SIGHUP
(`janitor serve --reload`), SIGTERM in the middle of a run, the report mailed over SMTP."""

from __future__ import annotations

import json
import logging
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from click.testing import CliRunner, Result

from janitor.cli import cli
from janitor.emulator.faults import Fault
from janitor.emulator.seed import load_seed
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.records import RunRecord
from janitor.service.lifecycle import PID_FILE_NAME
from janitor.store import Store
from tests.service.helpers import seed, service_env, wait_until, write_policy
from tests.service.process import ServeProcess, janitor

pytestmark = pytest.mark.slow


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with start_emulator(load_seed(seed())) as emu:
        yield emu


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    messages: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.original_content or b"")))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def deleting(store: Store) -> RunRecord | None:
    """The running run of policy nightly once it deleted an image."""
    return next(
        (r for r in store.list_runs(policy="nightly", status="running")
         if store.outcome_counts(r.id).get("deleted", 0) >= 1),
        None,
    )  # fmt: skip


def test_start_up_refuses_invalid_policies_and_config_listing_every_error(
    tmp_path: Path,
) -> None:
    policies = tmp_path / "policies"
    write_policy(policies, "good")
    (policies / "bad-cron.yaml").write_text(
        "name: bad-cron\nnamespace: acme\nschedule: '61 * * * *'\n"
        "select: [{currently_tagged: false}]\n",
        encoding="utf-8",
    )
    (policies / "unknown-key.yaml").write_text(
        "name: unknown-key\nnamespace: acme\nfrobnicate: true\n"
        "select: [{currently_tagged: false}]\n",
        encoding="utf-8",
    )
    env = service_env(
        "http://127.0.0.1:9", tmp_path, f"sqlite:///{tmp_path / 'janitor.db'}",
        JANITOR_REPORT_SCHEDULE="every monday",
    )  # fmt: skip
    result = janitor(["serve", "--host", "127.0.0.1", "--port", "0"], env, tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert any("bad-cron.yaml" in e and "schedule" in e for e in errors), result.stderr
    assert any("unknown-key.yaml" in e and "frobnicate" in e for e in errors), result.stderr
    assert any("JANITOR_REPORT_SCHEDULE" in e for e in errors), result.stderr
    assert result.stderr.rstrip().endswith(f"{len(errors)} error(s); janitor serve did not start")
    assert "listening" not in result.stderr
    assert not (tmp_path / "data" / PID_FILE_NAME).exists()


def test_serve_reloads_on_sighup_and_stops_cleanly_on_sigterm_mid_run(
    tmp_path: Path, emulator: RunningEmulator, smtp: tuple[int, Inbox]
) -> None:
    smtp_port, inbox = smtp
    policies = tmp_path / "policies"
    # Scheduled for 03:00 only: the run comes from --once-at-start.
    write_policy(policies, "nightly", mode="delete", schedule="0 3 * * *",
                 emails=("ops@example.com",))  # fmt: skip
    database = f"sqlite:///{tmp_path / 'janitor.db'}"
    env = service_env(
        emulator.url, tmp_path, database,
        JANITOR_BATCH_SIZE="1", JANITOR_SMTP_HOST="127.0.0.1",
        JANITOR_SMTP_PORT=str(smtp_port), JANITOR_SMTP_SECURITY="none",
        JANITOR_SMTP_FROM="janitor@example.com",
    )  # fmt: skip
    # Deletes are slow (~20 s for the run): it is still going when SIGTERM comes, however long
    # the two `janitor serve --reload` processes take to start on a busy machine.
    emulator.faults.add(Fault("slow", path=r"/delete-images$", delay=1.0, times=1000))
    serve = ServeProcess(["--once-at-start"], env, tmp_path, "serve")
    store = Store(database)
    try:
        serve.wait_listening()
        health = serve.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["scheduler"] == "running" and health.json()["store"] == "ok"
        assert (tmp_path / "data" / PID_FILE_NAME).read_text().strip() == str(serve.pid)

        # SIGHUP with an invalid set: every error logged, the old set kept.
        (policies / "broken.yaml").write_text("name: broken\nnamespace: library\n")
        reload = janitor(["serve", "--reload"], env, tmp_path)
        assert reload.returncode == 0, reload.stderr
        assert f"sent SIGHUP to janitor serve (pid {serve.pid})" in reload.stdout
        serve.wait_for(lambda m: "keeping the 1 policies loaded before" in m, what="refusal")
        refused = [m for m in serve.messages() if m.startswith("reload refused: ")]
        assert refused and all("broken.yaml" in m for m in refused)
        # A valid set is installed.
        (policies / "broken.yaml").unlink()
        write_policy(policies, "weekly", mode="dry-run", schedule="0 4 * * 0")
        assert janitor(["serve", "--reload"], env, tmp_path).returncode == 0
        serve.wait_for(lambda m: m.startswith("policies reloaded: 2 policies"), what="reload")
        metrics = serve.get("/metrics").text
        assert "janitor_policies_loaded 2.0" in metrics
        assert "janitor_policy_reload_failures_total 1.0" in metrics

        # SIGTERM while the run at start is deleting, batch by batch.
        run = wait_until(lambda: deleting(store), what="a run in the middle of its deletes")
        serve.signal(signal.SIGTERM)
        assert serve.wait(70) == 0, serve.output()
    finally:
        serve.close()
        store.close()
    messages = serve.messages()
    assert "received SIGTERM: stopping" in messages
    assert any(m.startswith("stopping: no new runs; 1 run(s) in flight") for m in messages)
    assert messages[-1] == "stopped"
    record = Store(database).get_run(run.id)
    assert record is not None
    assert (record.status, record.trigger, record.dry_run) == ("interrupted", "manual", False)
    assert record.finished_at is not None and record.report_path
    assert Path(record.report_path).is_file()
    assert not (tmp_path / "data" / PID_FILE_NAME).exists()
    # The interrupted run's report went out over SMTP before the process ended.
    deadline = time.monotonic() + 10
    while not inbox.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    (recipients, content), *_ = inbox.messages
    assert recipients == ["ops@example.com"]
    assert "nightly" in str(message_from_bytes(content)["Subject"])


def invoke(args: list[str], env: dict[str, str]) -> Result:
    """The root `janitor` group in this process (faster than a subprocess)."""
    root = logging.getLogger()
    before = list(root.handlers), root.level
    try:
        return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    finally:  # the root command configures logging onto the runner's (closed) stream
        root.handlers[:] = before[0]
        root.setLevel(before[1])


def test_reload_without_a_running_service_says_so(tmp_path: Path) -> None:
    env = service_env("http://127.0.0.1:9", tmp_path, f"sqlite:///{tmp_path / 'j.db'}")
    result = invoke(["serve", "--reload"], env)
    assert result.exit_code == 1
    assert "no janitor serve is running" in result.stderr
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / PID_FILE_NAME).write_text("999999999\n")
    result = invoke(["serve", "--reload"], env)
    assert result.exit_code == 1
    assert "not a running janitor serve" in result.stderr


def test_schedule_lists_policies_and_the_weekly_report(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    write_policy(policies, "nightly", schedule="0 3 * * *", timezone="Europe/Berlin")
    write_policy(policies, "sundays", schedule="0 4 * * 0")
    write_policy(policies, "adhoc", schedule=None)
    env = service_env("http://127.0.0.1:9", tmp_path, f"sqlite:///{tmp_path / 'j.db'}",
                      JANITOR_REPORT_TO="team@example.com")  # fmt: skip
    result = invoke(["schedule", "--as-of", "2026-03-04T12:00:00Z", "--count", "2"], env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "policy adhoc (namespace acme, mode delete): no schedule (runs only with `janitor run`)",
        "policy nightly (namespace acme, mode delete): cron '0 3 * * *' in Europe/Berlin",
        "  next: 2026-03-05 02:00 UTC (Thu)  = 2026-03-05 03:00 CET Europe/Berlin",
        "        2026-03-06 02:00 UTC (Fri)  = 2026-03-06 03:00 CET Europe/Berlin",
        "  mailed to: team@example.com",
        "policy sundays (namespace acme, mode delete): cron '0 4 * * 0' in UTC",
        "  next: 2026-03-08 04:00 UTC (Sun)",
        "        2026-03-15 04:00 UTC (Sun)",
        "  mailed to: team@example.com",
        "weekly report: cron '0 8 * * mon' in UTC",
        "  next: 2026-03-09 08:00 UTC (Mon)",
        "        2026-03-16 08:00 UTC (Mon)",
        "  mailed to: team@example.com",
    ]
    as_json = invoke(["schedule", "--as-of", "2026-03-04T12:00:00", "--json"], env)
    entries = json.loads(as_json.stdout)
    nightly = next(e for e in entries if e["name"] == "nightly")
    assert nightly["next_fires"][0] == "2026-03-05T02:00:00Z"
    assert nightly["timezone"] == "Europe/Berlin" and nightly["cron"] == "0 3 * * *"
    assert entries[-1]["kind"] == "weekly-report"
    bad = invoke(["schedule", "--as-of", "yesterday"], env)
    assert bad.exit_code == 2 and "--as-of: 'yesterday' is not an ISO 8601 time" in bad.stderr


def test_the_commands_have_help(tmp_path: Path) -> None:
    env = service_env("http://127.0.0.1:9", tmp_path, f"sqlite:///{tmp_path / 'j.db'}")
    for command in ("serve", "schedule"):
        result = invoke([command, "--help"], env)
        assert result.exit_code == 0
        assert len(result.stdout.split("\n\n")[1].strip()) > 20  # a real description
    assert "--fire-every" not in invoke(["serve", "--help"], env).stdout  # a hidden test seam


IMPOSSIBLE_DATE = (
    "name: impossible\nnamespace: acme\nschedule: '0 3 * * *'\n"
    "select:\n  - last_pushed: {older_than: 2020-02-30}\n"
)
REFUSED = "reload refused ("  # a policy error, or (before the loader knew) a ValueError


def test_a_reload_whose_loader_raises_anything_keeps_an_idle_service_whole(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    """Fault: on SIGHUP the policy folder holds an impossible date, which made the loader raise
    an error that was not a policy error (now the loader names it; test_service covers a loader
    raising anything). Before: the service exited. Now it keeps the old policies, logs why, and
    goes on serving: a later SIGHUP reloads, SIGTERM stops it cleanly."""
    policies = tmp_path / "policies"
    write_policy(policies, "nightly", mode="dry-run", schedule="0 3 * * *")
    database = f"sqlite:///{tmp_path / 'janitor.db'}"
    serve = ServeProcess([], service_env(emulator.url, tmp_path, database), tmp_path, "serve")
    try:
        serve.wait_listening()
        (policies / "impossible.yaml").write_text(IMPOSSIBLE_DATE, encoding="utf-8")
        serve.signal(signal.SIGHUP)
        refused = serve.wait_for(lambda m: m.startswith(REFUSED), what="the refusal")
        assert refused.endswith("keeping the 1 policies loaded before")
        assert any("day is out of range for month" in m for m in serve.messages())
        assert serve.proc.poll() is None
        assert serve.get("/healthz").status_code == 200
        assert "janitor_policy_reload_failures_total 1.0" in serve.get("/metrics").text

        (policies / "impossible.yaml").unlink()
        write_policy(policies, "weekly", mode="dry-run", schedule="0 4 * * 0")
        serve.signal(signal.SIGHUP)
        serve.wait_for(lambda m: m.startswith("policies reloaded: 2 policies"), what="reload")
        serve.signal(signal.SIGTERM)
        assert serve.wait(30) == 0, serve.output()
    finally:
        serve.close()
    assert serve.messages()[-1] == "stopped"


def test_a_reload_whose_loader_raises_anything_mid_run_keeps_the_signals_handled(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    """Fault: the same reload while a run deletes. Before: the service lost its signal handlers
    (/healthz still said running) and the next SIGTERM killed it mid-delete, leaving the run
    ``running``. Now SIGTERM still stops it cleanly: the run is recorded interrupted."""
    policies = tmp_path / "policies"
    write_policy(policies, "nightly", mode="delete", schedule="0 3 * * *")
    database = f"sqlite:///{tmp_path / 'janitor.db'}"
    env = service_env(emulator.url, tmp_path, database, JANITOR_BATCH_SIZE="1")
    emulator.faults.add(Fault("slow", path=r"/delete-images$", delay=0.4, times=1000))
    serve = ServeProcess(["--once-at-start"], env, tmp_path, "serve")
    store = Store(database)
    try:
        serve.wait_listening()
        run = wait_until(lambda: deleting(store), what="a run in the middle of its deletes")
        (policies / "impossible.yaml").write_text(IMPOSSIBLE_DATE, encoding="utf-8")
        serve.signal(signal.SIGHUP)
        serve.wait_for(lambda m: m.startswith(REFUSED), what="the refusal")
        health = serve.get("/healthz").json()
        assert health["running"] == ["nightly"] and health["scheduler"] == "running"
        serve.signal(signal.SIGTERM)
        assert serve.wait(70) == 0, serve.output()
    finally:
        serve.close()
        store.close()
    assert "received SIGTERM: stopping" in serve.messages()
    record = Store(database).get_run(run.id)
    assert record is not None and record.status == "interrupted"
