"""End to end in ``janitor serve``'s Service: a scheduled run against the emulator deletes images,
the chat endpoint hears of it with a link to the dashboard page, which shows the run; a failing
endpoint never fails the run and the maintenance pass delivers what was queued."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from janitor.config import Secret
from janitor.emulator.seed import load_seed
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.notify import fingerprint
from janitor.policy import load_policies
from janitor.service.scheduler import Service, ServiceOptions, policy_job_id
from janitor.store import Store
from tests.report.webhook import Endpoint, endpoint_fixture  # noqa: F401 - the fixture
from tests.service.conftest import sqlite_store
from tests.service.helpers import (
    DELETABLE,
    TOKEN,
    USER,
    seed,
    settings_for,
    wait_until,
    write_policy,
)

PUBLIC = "https://janitor.example.com"


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with start_emulator(load_seed(seed())) as emu:
        yield emu


def _service(root: Path, emulator: RunningEmulator, store: Store, hook: str) -> Service:
    settings = settings_for(
        emulator.url,
        root,
        f"sqlite:///{root / 'janitor.db'}",
        notify=(Secret(hook),),
        public_url=PUBLIC,
    )
    url = emulator.url
    return Service(
        settings=settings,
        store=store,
        hub_factory=lambda: HubClient(url, Credentials(USER, TOKEN), timeout=10.0, max_retries=1),
        load_policies=lambda: load_policies(root / "policies"),
        clock=lambda: datetime.now(UTC),
        options=ServiceOptions(host="127.0.0.1", port=0, maintenance_seconds=3600),
    )


def test_a_scheduled_delete_run_notifies_with_a_link_the_dashboard_serves(
    tmp_path: Path,
    emulator: RunningEmulator,
    endpoint: Endpoint,
) -> None:
    store = sqlite_store(tmp_path / "janitor.db")
    write_policy(tmp_path / "policies", "nightly", mode="delete", schedule="0 3 * * *")
    service = _service(tmp_path, emulator, store, endpoint.url())
    service.start(load_policies(tmp_path / "policies"))
    try:
        service.fire_now(policy_job_id("nightly"))
        wait_until(lambda: endpoint.received, what="the notification")
        (run,) = store.list_runs(policy="nightly")
        assert run.status == "succeeded" and run.metrics.deleted == DELETABLE
        (message,) = endpoint.received
        link = f"{PUBLIC}/runs/{run.id}"
        assert message["message"].endswith(link)
        assert f"deleted {DELETABLE} images" in message["message"]
        assert service.http is not None
        page = httpx.get(f"{service.http.url}/runs/{run.id}", timeout=30)
        assert page.status_code == 200 and f"run #{run.id}" in page.text
        listing = httpx.get(f"{service.http.url}/?policy=nightly", timeout=30).text
        assert f'href="/runs/{run.id}"' in listing
    finally:
        service.stop(30)
        store.close()


def test_a_failing_endpoint_never_fails_the_run_and_maintenance_delivers_later(
    tmp_path: Path,
    emulator: RunningEmulator,
    endpoint: Endpoint,
) -> None:
    store = sqlite_store(tmp_path / "janitor.db")
    write_policy(tmp_path / "policies", "nightly", mode="delete", schedule="0 3 * * *")
    service = _service(tmp_path, emulator, store, endpoint.url())
    endpoint.status = 500
    service.start(load_policies(tmp_path / "policies"))
    try:
        service.fire_now(policy_job_id("nightly"))
        queued = wait_until(
            lambda: store.pending_notifications([fingerprint(endpoint.url())]),
            what="the queued notification",
        )
        (run,) = store.list_runs(policy="nightly")
        assert run.status == "succeeded"
        assert queued[0].run_id == run.id
        endpoint.status = 200
        service.maintenance()
        assert store.pending_notifications([fingerprint(endpoint.url())]) == []
        (message,) = endpoint.received
        assert message["message"].endswith(f"{PUBLIC}/runs/{run.id}")
    finally:
        service.stop(30)
        store.close()
