"""Fixtures of the saved-plan and protect-list tests: the emulator on loopback serving either
the demo's sample namespace (the example policies' home) or a small namespace, on each deletion
backend (``delete-images``, and ``registry`` with the image-management API gone as on today's
Hub), a real SQLite store, and the CLI run against all of it."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from janitor.backends.select import forget_probes
from janitor.cli import cli
from janitor.config import Settings, load_settings
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import load_seed
from janitor.engine import RunContext
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.store import Store

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "policies"
SAMPLE_SEED = ROOT / "janitor" / "emulator" / "data" / "sample-seed.yaml"
BACKENDS = ("delete-images", "registry")


def sample_seed(backend: str) -> dict[str, Any]:
    data = yaml.safe_load(SAMPLE_SEED.read_text())
    data["namespaces"]["acme"]["image_management"] = True if backend == "delete-images" else "gone"
    return data


def credentials(seed: dict[str, Any]) -> tuple[str, str]:
    user = seed["users"][0]
    return user["username"], user["tokens"][0]


@dataclass
class World:
    """One emulator, one store, the settings that point janitor at them."""

    hub: RunningEmulator
    store: Store
    settings: Settings
    env: dict[str, str]
    tmp_path: Path
    backend: str
    user: str
    token: str

    def client(self) -> HubClient:
        return HubClient(
            self.hub.url, Credentials(self.user, self.token), timeout=10, max_retries=2
        )

    def context(self, **changes: Any) -> RunContext:
        values: dict[str, Any] = {
            "settings": self.settings,
            "store": self.store,
            "hub_factory": self.client,
        }
        return RunContext(**(values | changes))

    def digests(self, namespace: str = "acme") -> set[tuple[str, str]]:
        """(repository, digest) of every image the emulator holds in ``namespace``."""
        state = self.hub.state
        out = set()
        for repo in state.namespace(namespace).repositories:  # type: ignore[union-attr]
            out.update((repo, i.digest) for i in state.images(namespace, repo))
        return out

    def janitor(self, *args: str) -> Result:
        forget_probes()
        return CliRunner().invoke(cli, list(args), env=self.env, catch_exceptions=False)


def make_world(
    seed: dict[str, Any], backend: str, tmp_path: Path, sqlite_template: Path
) -> Iterator[World]:
    forget_probes()
    user, token = credentials(seed)
    db = tmp_path / "janitor.db"
    shutil.copyfile(sqlite_template, db)
    with start_emulator(load_seed(copy.deepcopy(seed))) as hub, Store(f"sqlite:///{db}") as store:
        env = {
            "JANITOR_HUB_URL": hub.url,
            "JANITOR_REGISTRY_URL": hub.registry_url,
            "JANITOR_HUB_USERNAME": user,
            "JANITOR_HUB_TOKEN": token,
            "JANITOR_DATA_DIR": str(tmp_path / "data"),
            "JANITOR_DATABASE_URL": f"sqlite:///{db}",
            "JANITOR_POLICIES": str(tmp_path / "policies"),
            "JANITOR_DELETE_BACKEND": backend,
            "JANITOR_TIMEOUT": "10",
        }
        yield World(
            hub=hub,
            store=store,
            settings=load_settings(env),
            env=env,
            tmp_path=tmp_path,
            backend=backend,
            user=user,
            token=token,
        )
    forget_probes()


@pytest.fixture(params=BACKENDS)
def sample_world(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[World]:
    """The demo's namespace on each backend, with the example policies in tmp_path/policies."""
    backend = str(request.param)
    shutil.copytree(EXAMPLES, tmp_path / "policies")
    yield from make_world(sample_seed(backend), backend, tmp_path, sqlite_template)
