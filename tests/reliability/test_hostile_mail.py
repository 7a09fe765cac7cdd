"""A hostile mail server (issue 20, point 4): an SMTP server that drips its banner one byte at
a time never trips a per-read timeout, and used to hang `janitor run` after the run was
recorded. A delivery now has a deadline for the whole exchange (JANITOR_SMTP_TIMEOUT): the run
ends, its report waits in the outbox like one for a server that is down, and goes out with a
later report once a server answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from janitor.emulator.server import RunningEmulator
from janitor.store import Store
from tests.reliability.conftest import UNTAGGED_POLICY, EmulatorFactory, cli_env
from tests.reliability.test_hostile_input import janitor_process
from tests.report.test_mail import DrippingServer, dripping  # noqa: F401  (the fixture)


def test_a_dripping_mail_server_queues_the_report_and_the_run_ends(
    emulator_factory: EmulatorFactory,
    dripping: Callable[..., DrippingServer],  # noqa: F811
    smtp_server: Callable[..., Any],
    tmp_path: Path,
) -> None:
    hub: RunningEmulator = emulator_factory()
    slow = dripping(at="banner")
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "untagged.yaml").write_text(UNTAGGED_POLICY)
    mail = {
        "JANITOR_SMTP_HOST": "127.0.0.1",
        "JANITOR_SMTP_SECURITY": "none",
        "JANITOR_SMTP_FROM": "janitor@example.com",
        "JANITOR_REPORT_TO": "ops@example.com",
        "JANITOR_SMTP_TIMEOUT": "2",
    }
    env = cli_env(hub, tmp_path, **mail, JANITOR_SMTP_PORT=str(slow.port))

    # A real process, bounded by a generous limit: before the deadline it never ended.
    done = janitor_process(env, "run", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert slow.connections == 1
    database = f"sqlite:///{tmp_path / 'data' / 'janitor.db'}"
    with Store(database) as store:
        (run,) = store.list_runs(limit=None)
        assert run.status == "succeeded"
        (queued,) = store.pending_mail()
        assert queued.run_id == run.id
        assert "did not complete the delivery within 2 s (JANITOR_SMTP_TIMEOUT)" in (
            queued.last_error or ""
        )

    # A server that answers: the queued report goes out with the weekly one.
    server = smtp_server()
    result = janitor_process(
        env | {"JANITOR_SMTP_PORT": str(server.port)}, "report", "--weekly", "--send"
    )
    assert result.returncode == 0, result.stderr
    assert len(server.messages) == 2
    with Store(database) as store:
        assert store.pending_mail() == []
