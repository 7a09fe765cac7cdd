"""Fixtures of the reliability suite: the lead's end-to-end world (tests/runs) with a Hub client
tuned for faults (short timeouts, quick backoff), the emulator with a chosen configuration, and
the checks every fault test ends with: the record is truthful, nothing outside the plan is gone,
nothing was deleted twice."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from janitor.config import Secret, load_settings
from janitor.emulator.config import EmulatorConfig
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import load_seed
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.store import Store
from tests.report.conftest import smtp_server  # noqa: F401  (the aiosmtpd fixture)
from tests.runs.conftest import TOKEN, USER, World, seed

# A policy with one select entry: one batch per repository, calls in a known order (repositories
# by name: api first, then web).
UNTAGGED_POLICY = """
name: untagged
namespace: acme
mode: delete
select:
  - name: untagged-and-cold
    currently_tagged: false
    last_pushed: {older_than: 30d}
    last_pulled: {older_than: 30d, never: match}
limits: {max_deletes: 100, max_fraction_per_repository: 1.0}
"""

FAST_CLIENT: dict[str, Any] = {"timeout": 2.0, "max_retries": 2, "backoff": 0.01, "max_wait": 0.5}


@dataclass
class Rig(World):
    """The lead's ``World`` with a Hub client made for faults: a short timeout and quick retries,
    so a test of a timeout or a 429 storm takes a second, not a minute."""

    client_options: dict[str, Any] = field(default_factory=dict)

    def client(self) -> HubClient:
        options = FAST_CLIENT | self.client_options
        return HubClient(self.hub.url, Credentials(USER, TOKEN), **options)

    def untagged_policy(self) -> Any:
        from janitor.policy import load_policy_file

        folder = self.tmp_path / "policies"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "untagged.yaml"
        path.write_text(UNTAGGED_POLICY)
        return load_policy_file(path)

    # -- what Hub saw ------------------------------------------------------------------------

    def real_delete_requests(self) -> list[tuple[str, int]]:
        """(digest, status) for every digest named by every real delete-images request, in the
        order they arrived; status 0: the connection ended without an answer."""
        found = []
        for entry in self.hub.log.entries():
            body = entry.json
            if not (entry.method == "POST" and entry.path.endswith("/delete-images")):
                continue
            if not isinstance(body, dict) or body.get("dry_run") is not False:
                continue
            found.extend((m["digest"], entry.status) for m in body.get("manifests") or [])
        return found

    def applied_deletes(self) -> Counter[str]:
        """Real deletes Hub answered 200 to, per digest."""
        return Counter(d for d, status in self.real_delete_requests() if status == 200)


def run_outcomes(store: Store, run_id: int) -> dict[str, str]:
    return {d.digest: d.outcome for d in store.decisions(run_id)}


def details(store: Store, run_id: int) -> dict[str, str]:
    return {d.digest: d.detail or "" for d in store.decisions(run_id)}


def check_truthful(
    rig: Rig,
    before: set[str],
    run_ids: Sequence[int],
    *,
    store: Store | None = None,
    external: set[str] | frozenset[str] = frozenset(),
    extra_applied: set[str] | frozenset[str] = frozenset(),
    fault_200: set[str] | frozenset[str] = frozenset(),
) -> None:
    """The invariants every fault must leave intact, checked against the emulator's state and
    request log:

    - nothing outside the runs' plans is gone (``external``: what the test itself removed);
    - what the runs record as deleted is exactly what is gone (minus ``external``);
    - no finished run has an item left ``pending`` or ``sending``;
    - no digest was deleted twice: at most one real delete answered 200 names it (plus the
      test's own ``extra_applied``: Hub applying a delete whose answer never came back; minus
      ``fault_200``: a 200 a fault answered without Hub applying anything).
    """
    store = store or rig.store
    gone = before - rig.all_digests()
    items = [d for run_id in run_ids for d in store.decisions(run_id)]
    planned = {d.digest for d in items if d.verdict == "delete"}
    recorded = {d.digest for d in items if d.outcome == "deleted"}
    assert gone - set(external) <= planned, "an image outside the plan was deleted"
    assert recorded == gone - set(external), (
        f"recorded deleted {sorted(recorded)} but gone {sorted(gone - set(external))}"
    )
    for run_id in run_ids:
        run = store.get_run(run_id)
        assert run is not None and run.status != "running"
        left = {d.outcome for d in store.decisions(run_id)} & {"pending", "sending"}
        assert not left, f"run {run_id} left items {left}"
    applied = rig.applied_deletes()
    for digest in extra_applied:
        applied[digest] += 1
    for digest in fault_200:
        applied[digest] -= 1
    twice = {d: n for d, n in applied.items() if n > 1}
    assert not twice, f"deleted more than once: {twice}"
    assert {d for d, n in applied.items() if n > 0} <= planned


@pytest.fixture
def sqlite_store(sqlite_template: Path, tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in tmp_path (the Hub faults do not depend on the database; the
    store's own faults are tested on both)."""
    path = tmp_path / "janitor.db"
    shutil.copyfile(sqlite_template, path)
    with Store(f"sqlite:///{path}") as store:
        yield store


EmulatorFactory = Callable[..., RunningEmulator]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    """``emulator_factory(config=EmulatorConfig(...))``: the lead's seed served on loopback."""
    started: list[RunningEmulator] = []

    def start(config: EmulatorConfig | None = None) -> RunningEmulator:
        emulator = start_emulator(load_seed(seed()), config)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


def make_rig(hub: RunningEmulator, store: Store, tmp_path: Path, **client: Any) -> Rig:
    settings = load_settings(
        {
            "JANITOR_HUB_URL": hub.url,
            "JANITOR_HUB_USERNAME": USER,
            "JANITOR_HUB_TOKEN": TOKEN,
            "JANITOR_DATA_DIR": str(tmp_path / "data"),
            "JANITOR_DELETE_BACKEND": "delete-images",
        }
    ).with_overrides(hub_token=Secret(TOKEN))
    return Rig(hub=hub, store=store, settings=settings, tmp_path=tmp_path, client_options=client)


@pytest.fixture
def rig(emulator_factory: EmulatorFactory, sqlite_store: Store, tmp_path: Path) -> Rig:
    return make_rig(emulator_factory(), sqlite_store, tmp_path)


def dead_owner() -> str:
    """The ``host:pid`` of a process of this host that has exited (and been reaped): what a
    `janitor run` that is gone leaves as its runs' owner."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=30)
    return f"{socket.gethostname()}:{child.pid}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(hub: RunningEmulator, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `janitor` command against ``hub``, everything under tmp_path."""
    return {
        "JANITOR_HUB_URL": hub.url,
        "JANITOR_HUB_USERNAME": USER,
        "JANITOR_HUB_TOKEN": TOKEN,
        "JANITOR_DATA_DIR": str(tmp_path / "data"),
        "JANITOR_POLICIES": str(tmp_path / "policies"),
        "JANITOR_DELETE_BACKEND": "delete-images",
        "JANITOR_TIMEOUT": "5",
        **extra,
    }


def subprocess_env(env: dict[str, str]) -> dict[str, str]:
    """os.environ without any JANITOR_* of the developer's, plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("JANITOR_")}
    return base | env
