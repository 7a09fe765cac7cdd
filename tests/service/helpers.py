"""Shared pieces of the service tests: a small Hub seed, policy files, settings, waiting."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import janitor
from janitor.config import Secret, Settings

USER = "svc"
TOKEN = "dckr_pat_service_tests_5a1f"
NAMESPACE = "acme"
REPOSITORIES = ("web", "api")
IMAGES_PER_REPOSITORY = 6
# The policies below delete the untagged images pushed more than 30 days ago: 5 per repository.
DELETABLE = 5 * len(REPOSITORIES)

T = TypeVar("T")


def digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def seed(repositories: tuple[str, ...] = REPOSITORIES) -> dict[str, Any]:
    """Per repository: one tagged current image, five untagged ones pushed 31..111 days ago."""
    repos: dict[str, Any] = {}
    for repo in repositories:
        images = []
        for i in range(IMAGES_PER_REPOSITORY):
            images.append(
                {
                    "digest": digest(f"{NAMESPACE}/{repo}/{i}"),
                    "media_type": "application/vnd.oci.image.manifest.v1+json",
                    "last_pushed": f"{2 if i == 0 else 11 + 20 * i}d",
                    "last_pulled": None if i % 2 else f"{1 + 20 * i}d",
                    "size": 1_000_000 * (i + 1),
                    "tags": [{"tag": "latest", "is_current": True}] if i == 0 else [],
                }
            )
        repos[repo] = {"is_private": False, "images": images}
    return {
        "users": [
            {
                "username": USER,
                "password": "svc-password-1",
                "tokens": [TOKEN],
                "namespaces": [NAMESPACE],
            }
        ],
        "namespaces": {NAMESPACE: {"image_management": True, "repositories": repos}},
    }


def policy_yaml(
    name: str,
    *,
    mode: str = "delete",
    schedule: str | None = "* * * * *",
    timezone: str = "UTC",
    emails: tuple[str, ...] = (),
) -> str:
    lines = [f"name: {name}", f"namespace: {NAMESPACE}", f"mode: {mode}"]
    if schedule is not None:
        lines += [f'schedule: "{schedule}"', f"timezone: {timezone}"]
    lines += [
        "select:",
        "  - name: untagged-and-old",
        "    currently_tagged: false",
        "    last_pushed: {older_than: 30d}",
    ]
    if emails:
        lines.append("report: {email: [" + ", ".join(emails) + "]}")
    return "\n".join(lines) + "\n"


def write_policy(folder: Path, name: str, **kwargs: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(policy_yaml(name, **kwargs), encoding="utf-8")
    return path


def settings_for(hub_url: str, root: Path, database_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "hub_url": hub_url,
        "hub_username": USER,
        "hub_token": Secret(TOKEN),
        "delete_backend": "delete-images",
        "data_dir": root / "data",
        "database_url": database_url,
        "policies": root / "policies",
        "report_dir": root / "reports",
        "stale_after_seconds": 600,
        "timeout": 10.0,
    }
    values.update(changes)
    return Settings(**values)


def service_env(hub_url: str, root: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a `janitor serve` subprocess (no JANITOR_* from the outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JANITOR_")}
    # The subprocess imports the same janitor as the tests, however the package is installed.
    source = str(Path(janitor.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    env.update(
        {
            "JANITOR_HUB_URL": hub_url,
            "JANITOR_HUB_USERNAME": USER,
            "JANITOR_HUB_TOKEN": TOKEN,
            "JANITOR_DELETE_BACKEND": "delete-images",
            "JANITOR_DATA_DIR": str(root / "data"),
            "JANITOR_DATABASE_URL": database_url,
            "JANITOR_POLICIES": str(root / "policies"),
            "JANITOR_REPORT_DIR": str(root / "reports"),
            "JANITOR_TIMEOUT": "10",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def wait_until(
    probe: Callable[[], T | None], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or probe}")
        time.sleep(interval)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
