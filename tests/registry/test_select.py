"""Choosing the backend per namespace: forced by config, or ``auto`` by one probe of the
image-management API, cached per namespace for the process."""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.backends.delete_images import DeleteImagesBackend
from janitor.backends.registry import RegistryBackend
from janitor.backends.select import probe_backend, select_backend
from janitor.config import Settings
from janitor.emulator.faults import Fault
from janitor.emulator.server import RunningEmulator
from janitor.emulator.state import load_seed
from janitor.errors import ConfigError
from janitor.hub.errors import HubServerError

from .conftest import USER, hub_client, make_settings, seed, serve

PROBE = r"/images-summary$"


@pytest.mark.parametrize(
    ("image_management", "expected"),
    [(True, "delete-images"), ("gone", "registry"), (False, "registry")],
)
def test_auto_probes_once_per_namespace(
    tmp_path: Path, image_management: bool | str, expected: str
) -> None:
    with serve(load_seed(seed(image_management))) as emu, hub_client(emu) as client:
        settings = make_settings(emu, tmp_path)
        first = select_backend(client, "acme", settings=settings)
        second = select_backend(client, "acme", settings=settings)
        assert first.name == second.name == expected
        assert emu.log.count("GET", PROBE) == 1  # the second choice came from the cache
        assert emu.log.count("GET", r"/v2/namespaces/acme/repositories$") == 1
        if isinstance(first, RegistryBackend):
            first.close()


@pytest.mark.parametrize("status", [405, 410])
def test_a_retired_endpoint_means_the_registry(tmp_path: Path, status: int) -> None:
    with serve(load_seed(seed(True))) as emu, hub_client(emu) as client:
        emu.faults.add(Fault("status", path="images-summary", status=status))
        assert probe_backend(client, "acme") == "registry"


def test_a_failed_probe_is_raised_and_not_cached(tmp_path: Path) -> None:
    with serve(load_seed(seed(True))) as emu, hub_client(emu) as client:
        emu.faults.add(Fault("status", path="images-summary", status=503, times=3))
        with pytest.raises(HubServerError):
            probe_backend(client, "acme")
        assert probe_backend(client, "acme") == "delete-images"  # probed again, now answered
        assert emu.log.count("GET", PROBE) == 4


def test_an_empty_namespace_has_nothing_to_probe(emulator: RunningEmulator) -> None:
    with hub_client(emulator) as client:
        assert probe_backend(client, USER) == "delete-images"
        assert probe_backend(client, USER) == "delete-images"
    assert emulator.log.count("GET", PROBE) == 0
    assert emulator.log.count("GET", rf"/v2/namespaces/{USER}/repositories$") == 2  # not cached


def test_a_forced_backend_is_used_without_probing(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    with hub_client(emulator) as client:
        registry = select_backend(
            client, "acme", settings=make_settings(emulator, tmp_path, "registry")
        )
        assert isinstance(registry, RegistryBackend)
        assert registry.registry.base_url == emulator.registry_url
        registry.close()
        forced = select_backend(
            client, "acme", settings=make_settings(emulator, tmp_path, "delete-images")
        )
        assert isinstance(forced, DeleteImagesBackend)
    assert emulator.log.entries() == []


def test_the_registry_backend_needs_credentials(emulator: RunningEmulator) -> None:
    settings = Settings(hub_url=emulator.url, delete_backend="registry")
    with hub_client(emulator) as client, pytest.raises(ConfigError, match="JANITOR_HUB_TOKEN"):
        select_backend(client, "acme", settings=settings)
