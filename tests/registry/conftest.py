"""Fixtures of the registry backend's tests: a namespace whose images are all tagged (the only
ones the tags endpoint shows), served by the emulator on loopback with its registry under
``/registry``; Hub and registry clients of it; a RunContext on a SQLite store in tmp_path."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from janitor.backends.registry import RegistryBackend
from janitor.backends.select import forget_probes
from janitor.config import Settings, load_settings
from janitor.emulator.config import EmulatorConfig
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import HubState, load_seed
from janitor.engine import RunContext
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.registry import RegistryClient
from janitor.hub.tags import forget_tag_delete_paths
from janitor.policy import Policy, load_policy_file
from janitor.store import Store

USER, TOKEN, PASSWORD = "ops", "dckr_pat_registry_0123456789", "pw-registry-secret"
BOB, BOB_TOKEN = "bob", "dckr_pat_bob_9876543210"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


# acme/web
B1 = digest(1)  # build-1, pushed 100d ago, never pulled
B2 = digest(2)  # build-2, pushed 60d, pulled 50d ago
B3 = digest(3)  # build-3, pushed 5d ago: too young
PR1 = digest(4)  # pr-1, pushed 40d, pulled 39d ago
LATEST = digest(5)  # latest, pushed 1d, pulled 1h ago
IDX = digest(6)  # build-0: a multi-arch index pushed 90d ago, children 7 and 8
IDX_AMD64, IDX_ARM64 = digest(7), digest(8)
KEPT_IDX = digest(12)  # stable: an index pushed 300d ago, children 13 and 14 (kept)
KEPT_AMD64, KEPT_ARM64 = digest(13), digest(14)
V1 = digest(15)  # v1.0, pushed 400d ago: an immutable tag (rule "v[0-9].*")
UNTAGGED = digest(16)  # untagged, pushed 2d ago: invisible to the tags endpoint
# acme/api
APR = digest(9)  # pr-9, pushed 30d ago
AOLD = digest(10)  # build-x, pushed 200d ago
ASTABLE = digest(11)  # stable + pr-2, pushed 300d ago (kept)
# bob/pub (public), bob/priv (private)
PUB = digest(20)
PRIV = digest(21)

PLANNED = {B1, B2, PR1, IDX, APR, AOLD}  # what the policy below deletes with current_tag: delete


def _image(d: str, pushed: str, pulled: str | None, tags: list[str], **extra: Any) -> dict:
    return {
        "digest": d,
        "last_pushed": pushed,
        "last_pulled": pulled,
        "size": 1000,
        "tags": [{"tag": t, "is_current": True} for t in tags],
        **extra,
    }


def _index(d: str, pushed: str, pulled: str | None, tags: list[str], kids: list[str]) -> dict:
    return {
        "digest": d,
        "media_type": INDEX_TYPE,
        "last_pushed": pushed,
        "last_pulled": pulled,
        "tags": [{"tag": t, "is_current": True} for t in tags],
        "platforms": [
            {"digest": kid, "os": "linux", "architecture": arch, "size": 500}
            for kid, arch in zip(kids, ("amd64", "arm64"), strict=False)
        ],
    }


def seed(image_management: bool | str = "gone") -> dict[str, Any]:
    return {
        "users": [
            {"username": USER, "password": PASSWORD, "tokens": [TOKEN], "namespaces": ["acme"]},
            {"username": BOB, "tokens": [BOB_TOKEN]},
        ],
        "namespaces": {
            "acme": {
                "image_management": image_management,
                "repositories": {
                    "web": {
                        "immutable_tags": ["v[0-9].*"],
                        "images": [
                            _image(B1, "100d", None, ["build-1"]),
                            _image(B2, "60d", "50d", ["build-2"]),
                            _image(B3, "5d", None, ["build-3"]),
                            _image(PR1, "40d", "39d", ["pr-1"]),
                            _image(LATEST, "1d", "1h", ["latest"]),
                            _index(IDX, "90d", None, ["build-0"], [IDX_AMD64, IDX_ARM64]),
                            _index(KEPT_IDX, "300d", "200d", ["stable"], [KEPT_AMD64, KEPT_ARM64]),
                            _image(V1, "400d", None, ["v1.0"]),
                            _image(UNTAGGED, "2d", None, []),
                        ],
                    },
                    "api": {
                        "images": [
                            _image(APR, "30d", None, ["pr-9"]),
                            _image(AOLD, "200d", None, ["build-x"]),
                            _image(ASTABLE, "300d", "200d", ["stable", "pr-2"]),
                        ]
                    },
                },
            },
            "bob": {
                "repositories": {
                    "pub": {"images": [_image(PUB, "10d", None, ["latest"])]},
                    "priv": {"is_private": True, "images": [_image(PRIV, "10d", None, ["x"])]},
                }
            },
        },
    }


POLICY = """
name: cleanup
namespace: acme
mode: delete
select:
  - name: old-builds
    tags: ["build-*"]
    last_pushed: {{older_than: 30d}}
    last_pulled: {{older_than: 30d, never: match}}
    current_tag: {current_tag}
  - name: old-pr-builds
    tags: ["pr-*"]
    last_pushed: {{older_than: 14d}}
    current_tag: {current_tag}
keep:
  - tags: ["latest", "stable"]
limits: {limits}
"""


def write_policy(
    folder: Path,
    *,
    current_tag: str = "delete",
    limits: str = "{max_deletes: 100, max_fraction_per_repository: 1.0}",
    text: str | None = None,
) -> Policy:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cleanup.yaml"
    body = text if text is not None else POLICY.format(current_tag=current_tag, limits=limits)
    path.write_text(textwrap.dedent(body))
    return load_policy_file(path)


STRICT = EmulatorConfig.like_hub  # as strict as the live Hub
DOCUMENTED = EmulatorConfig  # as Hub's documents describe it (403 for a tagged manifest, ...)


def serve(state: HubState, config: EmulatorConfig | None = None) -> RunningEmulator:
    """The emulator as strict as the live Hub unless told; without the manifests listing (a
    Hub without it: the tags listing is all there is), see ``test_untagged`` for it."""
    return start_emulator(state, config if config is not None else STRICT(manifests_listing=False))


@pytest.fixture(autouse=True)
def _fresh_probes() -> Iterator[None]:
    forget_probes()
    forget_tag_delete_paths()
    yield
    forget_probes()
    forget_tag_delete_paths()


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    """The seed with the image-management API gone (404), as on today's Hub."""
    with serve(load_seed(seed())) as emu:
        yield emu


def hub_client(emu: RunningEmulator, user: str = USER, secret: str = TOKEN) -> HubClient:
    return HubClient(emu.url, Credentials(user, secret), timeout=10, max_retries=2, backoff=0.01)


def registry_client(
    emu: RunningEmulator, user: str = USER, secret: str = TOKEN, **kwargs: Any
) -> RegistryClient:
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("backoff", 0.01)
    return RegistryClient(emu.registry_url, Credentials(user, secret), timeout=10, **kwargs)


@dataclass
class Clients:
    hub: HubClient
    registry: RegistryClient
    backend: RegistryBackend


@pytest.fixture
def clients(emulator: RunningEmulator) -> Iterator[Clients]:
    hub, registry = hub_client(emulator), registry_client(emulator)
    try:
        yield Clients(hub, registry, RegistryBackend(hub, registry))
    finally:
        registry.close()
        hub.close()


def top_level(emu: RunningEmulator, repository: str, namespace: str = "acme") -> set[str]:
    """Every manifest the emulator keeps as an image of its own (untagged ones included)."""
    return {i.digest for i in emu.state.images(namespace, repository)}


@dataclass
class World:
    hub: RunningEmulator
    store: Store
    settings: Settings
    tmp_path: Path

    def client(self) -> HubClient:
        return hub_client(self.hub)

    def context(self, **changes: Any) -> RunContext:
        changes.setdefault("hub_factory", self.client)
        return RunContext(settings=self.settings, store=self.store, **changes)

    def policy(self, **kwargs: Any) -> Policy:
        return write_policy(self.tmp_path / "policies", **kwargs)

    def outcomes(self, run_id: int) -> dict[str, str]:
        return {d.digest: d.outcome for d in self.store.decisions(run_id)}

    def details(self, run_id: int) -> dict[str, str | None]:
        return {d.digest: d.detail for d in self.store.decisions(run_id)}


def make_settings(emu: RunningEmulator, tmp_path: Path, backend: str = "auto") -> Settings:
    return load_settings(
        {
            "JANITOR_HUB_URL": emu.url,
            "JANITOR_REGISTRY_URL": emu.registry_url,
            "JANITOR_HUB_USERNAME": USER,
            "JANITOR_HUB_TOKEN": TOKEN,
            "JANITOR_DATA_DIR": str(tmp_path / "data"),
            "JANITOR_DELETE_BACKEND": backend,
            "JANITOR_TIMEOUT": "10",
        }
    )


@pytest.fixture
def sqlite_store(tmp_path: Path, sqlite_template: Path) -> Iterator[Store]:
    path = tmp_path / "janitor.db"
    shutil.copyfile(sqlite_template, path)
    with Store(f"sqlite:///{path}") as store:
        yield store


@pytest.fixture
def world(emulator: RunningEmulator, sqlite_store: Store, tmp_path: Path) -> World:
    return World(emulator, sqlite_store, make_settings(emulator, tmp_path), tmp_path)
