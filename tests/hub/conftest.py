"""Fixtures of the Hub client's tests: a seeded emulator served on loopback, and clients of it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from janitor.emulator.config import EmulatorConfig
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import load_seed
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient

PASSWORD = "correct-horse-battery"
PAT = "dckr_pat_0123456789abcdef"
BOB_PASSWORD = "bobs-own-password"
OTP = "424242"
ALICE = Credentials("alice", PAT)


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


INDEX, AMD64, ARM64, OLD, API_IMAGE = digest(1), digest(2), digest(3), digest(4), digest(5)
BIG_COUNT = 250


def seed() -> dict[str, Any]:
    """``acme``: ``web`` (a tagged multi-arch index and an old untagged image), ``api``,
    ``big`` (250 images: three pages), ``secret`` (private), ``r00``..``r09`` (small); a user
    ``alice`` with a password and a PAT, ``bob`` with 2FA, ``carol`` without access."""
    repos: dict[str, Any] = {
        "web": {
            "images": [
                {
                    "digest": INDEX,
                    "last_pushed": "40d",
                    "last_pulled": None,
                    "platforms": [
                        {"digest": AMD64, "os": "linux", "architecture": "amd64", "size": 100},
                        {"digest": ARM64, "os": "linux", "architecture": "arm64", "size": 200},
                    ],
                    "tags": [{"tag": "latest", "is_current": True}],
                },
                {
                    "digest": OLD,
                    "last_pushed": "100d",
                    "last_pulled": "50d",
                    "size": 50,
                    "tags": [{"tag": "v0", "is_current": False}],
                },
            ]
        },
        "api": {
            "images": [
                {
                    "digest": API_IMAGE,
                    "last_pushed": "1d",
                    "last_pulled": "1h",
                    "size": 10,
                    "tags": ["v1"],
                }
            ]
        },
        "big": {
            "images": [
                {
                    "digest": digest(1000 + i),
                    "last_pushed": f"{i + 1}d",
                    "last_pulled": None,
                    "size": i,
                }
                for i in range(BIG_COUNT)
            ]
        },
        "secret": {"is_private": True, "images": []},
    }
    for i in range(10):
        repos[f"r{i:02d}"] = {
            "images": [{"digest": digest(5000 + i), "last_pushed": "90d", "tags": ["stable"]}]
        }
    return {
        "users": [
            {"username": "alice", "password": PASSWORD, "tokens": [PAT], "namespaces": ["acme"]},
            {"username": "bob", "password": BOB_PASSWORD, "namespaces": ["acme"], "otp": OTP},
            {"username": "carol", "password": "carols-password"},
        ],
        "namespaces": {
            "acme": {"image_management": True, "repositories": repos},
            "retired": {"image_management": "gone", "repositories": {"x": {"images": []}}},
        },
    }


Serve = Callable[..., RunningEmulator]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start emulators of the test seed (or another state); all stopped when the test ends."""
    with ExitStack() as stack:

        def start(config: EmulatorConfig | None = None, state: Any = None) -> RunningEmulator:
            state = state if state is not None else load_seed(seed())
            return stack.enter_context(start_emulator(state, config))

        yield start


@pytest.fixture
def emulator(serve: Serve) -> RunningEmulator:
    return serve()


Connect = Callable[..., HubClient]
_DEFAULT: Any = object()


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Clients of an emulator (alice's PAT unless told otherwise), short timeouts and backoff;
    all closed when the test ends."""
    with ExitStack() as stack:

        def make(
            emu: RunningEmulator, credentials: Credentials | None = _DEFAULT, **kwargs: Any
        ) -> HubClient:
            kwargs.setdefault("timeout", 10.0)
            kwargs.setdefault("backoff", 0.01)
            kwargs.setdefault("max_wait", 5.0)
            creds = ALICE if credentials is _DEFAULT else credentials
            return stack.enter_context(HubClient(emu.url, creds, **kwargs))

        yield make


def logged(emu: RunningEmulator, at_least: int = 0, timeout: float = 5.0) -> list[Any]:
    """The emulator's request log, once it holds ``at_least`` entries: the emulator writes an
    entry just after its answer has gone out, so the client can be a moment ahead of it."""
    deadline = time.monotonic() + timeout
    while True:
        entries = emu.log.entries()
        if len(entries) >= at_least or time.monotonic() > deadline:
            return entries
        time.sleep(0.01)
