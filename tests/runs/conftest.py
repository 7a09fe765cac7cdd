"""End-to-end run fixtures: the emulator on loopback with a small namespace, policies written to
tmp_path, and a RunContext wired to a real store (SQLite and PostgreSQL) and a real Hub client."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from janitor.backends.delete_images import DeleteImagesBackend
from janitor.config import Secret, Settings, load_settings
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import load_seed
from janitor.engine import RunContext
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.models import (
    CallStats,
    DeleteResult,
    DeleteWarning,
    ManifestRef,
    RepositoryInventory,
)
from janitor.policy import Policy, load_policy_file
from janitor.store import Store

USER, TOKEN = "ops", "dckr_pat_e2e_0123456789"


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


# web
UNTAGGED_OLD = digest(1)  # untagged, pushed 100d ago, never pulled
UNTAGGED_COLD = digest(2)  # untagged, pushed 60d, pulled 50d ago
UNTAGGED_NEW = digest(3)  # untagged, pushed 5d ago: too young
PR_1 = digest(4)  # current tag pr-1, pushed 40d ago
LATEST = digest(5)  # current tag latest, pushed 1d ago
INDEX_OLD = digest(6)  # untagged multi-arch index pushed 90d ago, children 7 and 8
# api
API_PR = digest(9)  # current tag pr-9, pushed 30d ago
API_OLD = digest(10)  # untagged, pushed 200d ago
API_STABLE = digest(11)  # current tags stable + pr-2, pushed 300d ago

UNTAGGED_PLAN = {UNTAGGED_OLD, UNTAGGED_COLD, INDEX_OLD, API_OLD}
PR_IMAGES = {PR_1, API_PR}


def seed() -> dict[str, Any]:
    def image(d: str, pushed: str, pulled: str | None, tags: list[str], **extra: Any) -> dict:
        return {
            "digest": d,
            "last_pushed": pushed,
            "last_pulled": pulled,
            "size": 1000,
            "tags": [{"tag": t, "is_current": True} for t in tags],
            **extra,
        }

    return {
        "users": [
            {
                "username": USER,
                "password": "pw-e2e-secret",
                "tokens": [TOKEN],
                "namespaces": ["acme"],
            }
        ],
        "namespaces": {
            "acme": {
                "repositories": {
                    "web": {
                        "images": [
                            image(UNTAGGED_OLD, "100d", None, []),
                            image(UNTAGGED_COLD, "60d", "50d", []),
                            image(UNTAGGED_NEW, "5d", None, []),
                            image(PR_1, "40d", "39d", ["pr-1"]),
                            image(LATEST, "1d", "1h", ["latest"]),
                            image(
                                INDEX_OLD,
                                "90d",
                                None,
                                [],
                                media_type="application/vnd.oci.image.index.v1+json",
                                platforms=[
                                    {
                                        "digest": digest(7),
                                        "os": "linux",
                                        "architecture": "amd64",
                                        "size": 500,
                                    },
                                    {
                                        "digest": digest(8),
                                        "os": "linux",
                                        "architecture": "arm64",
                                        "size": 500,
                                    },
                                ],
                            ),
                        ]
                    },
                    "api": {
                        "images": [
                            image(API_PR, "30d", None, ["pr-9"]),
                            image(API_OLD, "200d", None, []),
                            image(API_STABLE, "300d", "200d", ["stable", "pr-2"]),
                        ]
                    },
                }
            }
        },
    }


POLICY = """
name: cleanup
namespace: acme
mode: {mode}
select:
  - name: untagged-and-cold
    currently_tagged: false
    last_pushed: {{older_than: 30d}}
    last_pulled: {{older_than: 30d, never: match}}
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
    mode: str = "delete",
    current_tag: str = "skip",
    limits: str = "{max_deletes: 100, max_fraction_per_repository: 1.0}",
) -> Policy:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cleanup.yaml"
    path.write_text(
        textwrap.dedent(POLICY.format(mode=mode, current_tag=current_tag, limits=limits))
    )
    return load_policy_file(path)


Hook = Callable[[Sequence[ManifestRef], bool, str], None]


class HookedBackend:
    """The real delete-images backend with a test hook around each call (no mock: every call
    still goes over HTTP to the emulator)."""

    name = "delete-images"

    def __init__(self, client: HubClient, hook: Hook) -> None:
        self.inner = DeleteImagesBackend(client)
        self.hook = hook

    def inventory(self, namespace: str, **kwargs: Any) -> Iterator[RepositoryInventory]:
        return self.inner.inventory(namespace, **kwargs)

    def own_calls(self) -> CallStats:
        return self.inner.own_calls()

    def close(self) -> None:
        self.inner.close()

    def prepare(self, namespace: str, repositories: Sequence[str]) -> None:
        self.inner.prepare(namespace, repositories)

    def delete_images(
        self,
        namespace: str,
        manifests: Sequence[ManifestRef],
        *,
        dry_run: bool,
        active_from: datetime | None = None,
        ignore_warnings: Sequence[DeleteWarning] = (),
    ) -> DeleteResult:
        self.hook(manifests, dry_run, "before")
        result = self.inner.delete_images(
            namespace,
            manifests,
            dry_run=dry_run,
            active_from=active_from,
            ignore_warnings=ignore_warnings,
        )
        self.hook(manifests, dry_run, "after")
        return result


@pytest.fixture
def hub() -> Iterator[RunningEmulator]:
    with start_emulator(load_seed(seed())) as emulator:
        yield emulator


@dataclass
class World:
    hub: RunningEmulator
    store: Store
    settings: Settings
    tmp_path: Path

    def client(self) -> HubClient:
        return HubClient(self.hub.url, Credentials(USER, TOKEN), timeout=10, max_retries=2)

    def context(self, **changes: Any) -> RunContext:
        values: dict[str, Any] = {
            "settings": self.settings,
            "store": self.store,
            "hub_factory": self.client,
        }
        return RunContext(**(values | changes))

    def hooked(self, hook: Hook, **changes: Any) -> RunContext:
        """A context whose backend calls ``hook(manifests, dry_run, when)`` before and after
        each delete-images call, to change the emulator's state or faults mid-run."""
        return self.context(
            backend_factory=lambda client, ns: HookedBackend(client, hook), **changes
        )

    def policy(self, **kwargs: Any) -> Policy:
        return write_policy(self.tmp_path / "policies", **kwargs)

    def digests(self, repository: str) -> set[str]:
        return {i.digest for i in self.hub.state.images("acme", repository)}

    def all_digests(self) -> set[str]:
        return self.digests("web") | self.digests("api")

    def delete_calls(self, *, dry_run: bool) -> list[dict[str, Any]]:
        return [
            e.json
            for e in self.hub.log.entries()
            if e.method == "POST"
            and e.path.endswith("/delete-images")
            and isinstance(e.json, dict)
            and e.json.get("dry_run") is dry_run
        ]


@pytest.fixture
def world(hub: RunningEmulator, store: Store, tmp_path: Path) -> World:
    settings = load_settings(
        {
            "JANITOR_HUB_URL": hub.url,
            "JANITOR_HUB_USERNAME": USER,
            "JANITOR_HUB_TOKEN": TOKEN,
            "JANITOR_DATA_DIR": str(tmp_path / "data"),
            "JANITOR_DELETE_BACKEND": "delete-images",
        }
    ).with_overrides(hub_token=Secret(TOKEN))
    return World(hub=hub, store=store, settings=settings, tmp_path=tmp_path)


Outcomes = Callable[[int], dict[str, str]]


@pytest.fixture
def outcomes(store: Store) -> Outcomes:
    def read(run_id: int) -> dict[str, str]:
        return {d.digest: d.outcome for d in store.decisions(run_id)}

    return read
