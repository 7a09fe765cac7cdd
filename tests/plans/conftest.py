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


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


# acme/web
B1 = digest(1)  # build-1, pushed 100d ago, never pulled: planned
B2 = digest(2)  # build-2, pushed 60d, pulled 50d ago: planned
B3 = digest(3)  # build-3, pushed 90d ago: planned
B4 = digest(4)  # build-4, pushed 45d ago: planned
NEW = digest(5)  # build-5, pushed 5d ago: too young
LATEST = digest(6)  # latest, pushed 1d ago: kept
# acme/api
A1 = digest(7)  # build-7, pushed 200d ago: planned
A2 = digest(8)  # build-8, pushed 80d ago: planned
STABLE = digest(9)  # stable + build-9, pushed 300d ago: kept by the keep rule
PLANNED = {B1, B2, B3, B4, A1, A2}

USER, TOKEN = "ops", "dckr_pat_plans_0123456789"


def small_seed(backend: str) -> dict[str, Any]:
    def image(d: str, pushed: str, pulled: str | None, tags: list[str]) -> dict[str, Any]:
        return {
            "digest": d,
            "last_pushed": pushed,
            "last_pulled": pulled,
            "size": 1000,
            "tags": [{"tag": t, "is_current": True} for t in tags],
        }

    return {
        "users": [
            {"username": USER, "password": "pw-plans", "tokens": [TOKEN], "namespaces": ["acme"]}
        ],
        "namespaces": {
            "acme": {
                "image_management": True if backend == "delete-images" else "gone",
                "repositories": {
                    "web": {
                        "images": [
                            image(B1, "100d", None, ["build-1"]),
                            image(B2, "60d", "50d", ["build-2"]),
                            image(B3, "90d", None, ["build-3"]),
                            image(B4, "45d", None, ["build-4"]),
                            image(NEW, "5d", None, ["build-5"]),
                            image(LATEST, "1d", "1h", ["latest"]),
                        ]
                    },
                    "api": {
                        "images": [
                            image(A1, "200d", None, ["build-7"]),
                            image(A2, "80d", None, ["build-8"]),
                            image(STABLE, "300d", "200d", ["stable", "build-9"]),
                        ]
                    },
                },
            }
        },
    }


POLICY = """\
name: builds
namespace: acme
mode: {mode}
select:
  - name: old-builds
    tags: ["build-*"]
    last_pushed: {{older_than: 30d}}
    last_pulled: {{older_than: 30d, never: match}}
    current_tag: delete
keep:
  - tags: ["latest", "stable"]
limits: {{max_deletes: 100, max_fraction_per_repository: 1.0}}
"""


def write_policy(folder: Path, *, mode: str = "delete", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "builds.yaml"
    path.write_text(POLICY.format(mode=mode) + extra)
    return path


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[World]:
    """The small namespace on each backend, with the `builds` policy (mode: delete)."""
    backend = str(request.param)
    write_policy(tmp_path / "policies")
    yield from make_world(small_seed(backend), backend, tmp_path, sqlite_template)
