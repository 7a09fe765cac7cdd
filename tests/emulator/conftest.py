"""Fixtures for the emulator's tests: a small known seed, a frozen clock, a served emulator."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from janitor.emulator.config import EmulatorConfig, ManualClock
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import HubState, load_seed

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TIMEOUT = httpx.Timeout(10.0)


def digest(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def seed_data() -> dict[str, Any]:
    """The test world. Times are relative to NOW; see each image's comment."""
    return {
        "users": [
            {
                "username": "alice",
                "password": "alice-pw",
                "tokens": ["dckr_pat_alice"],
                "namespaces": ["acme", "noplan", "retired", "library"],
            },
            {
                "username": "bob",
                "password": "bob-pw",
                "tokens": ["dckr_pat_bob"],
                "namespaces": ["acme"],
                "otp": "123456",
            },
            {"username": "eve", "password": "eve-pw"},  # no rights in acme
        ],
        "namespaces": {
            "acme": {
                "repositories": {
                    "app": {
                        "is_private": False,
                        "images": [
                            {  # index with two children; current latest and v2; active
                                "digest": digest("app/v2"),
                                "last_pushed": "2d",
                                "last_pulled": "1h",
                                "platforms": [
                                    {"digest": digest("app/v2/amd64"), "size": 600},
                                    {
                                        "digest": digest("app/v2/arm64"),
                                        "architecture": "arm64",
                                        "variant": "v8",
                                        "size": 400,
                                    },
                                ],
                                "tags": [
                                    {"tag": "latest", "is_current": True},
                                    {"tag": "v2", "is_current": True},
                                ],
                            },
                            {  # current v1, historical latest; inactive
                                "digest": digest("app/v1"),
                                "last_pushed": "100d",
                                "last_pulled": "90d",
                                "size": 900,
                                "tags": [
                                    {"tag": "v1", "is_current": True},
                                    {"tag": "latest", "is_current": False},
                                ],
                            },
                            {  # untagged, never pulled, cold
                                "digest": digest("app/old"),
                                "last_pushed": "200d",
                                "last_pulled": None,
                                "size": 800,
                                "tags": [{"tag": "pr-1", "is_current": False}],
                            },
                            {  # current pr-7; cold
                                "digest": digest("app/pr-7"),
                                "last_pushed": "60d",
                                "last_pulled": "50d",
                                "size": 700,
                                "tags": ["pr-7"],
                            },
                            {  # untagged, pulled as the zero time (= never)
                                "digest": digest("app/zero"),
                                "last_pushed": "300d",
                                "last_pulled": "0001-01-01T00:00:00Z",
                                "size": 500,
                            },
                        ],
                    },
                    "secret": {
                        "is_private": True,
                        "images": [
                            {
                                "digest": digest("secret/1"),
                                "last_pushed": "10d",
                                "size": 100,
                                "tags": ["latest"],
                            }
                        ],
                    },
                    "tools": {
                        "images": [
                            {"digest": digest("tools/1"), "last_pushed": "400d", "size": 10},
                        ]
                    },
                }
            },
            "noplan": {
                "image_management": False,
                "repositories": {"x": {"images": [{"digest": digest("x/1"), "last_pushed": "5d"}]}},
            },
            "retired": {
                "image_management": "gone",
                "repositories": {"y": {"images": [{"digest": digest("y/1"), "last_pushed": "5d"}]}},
            },
            "library": {
                "repositories": {
                    "alpine": {
                        "images": [
                            {"digest": digest("alpine/1"), "last_pushed": "3d", "tags": ["latest"]}
                        ]
                    }
                }
            },
        },
    }


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def state() -> HubState:
    return load_seed(seed_data(), now=NOW)


@pytest.fixture
def config(clock: ManualClock) -> EmulatorConfig:
    return EmulatorConfig(clock=clock)


@pytest.fixture
def emu(state: HubState, config: EmulatorConfig) -> Iterator[RunningEmulator]:
    with start_emulator(state, config) as running:
        yield running


@pytest.fixture
def client(emu: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=TIMEOUT) as c:
        yield c


def get_token(
    client: httpx.Client, identifier: str = "alice", secret: str = "dckr_pat_alice"
) -> str:
    response = client.post("/v2/auth/token", json={"identifier": identifier, "secret": secret})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert isinstance(token, str)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def alice(client: httpx.Client) -> dict[str, str]:
    """Headers of alice, authenticated with her personal access token."""
    return bearer(get_token(client))
