"""The two settings of the transport: the longest wait and the registry's token service hosts."""

from __future__ import annotations

from pathlib import Path

import pytest

from janitor.config import load_settings
from janitor.errors import ConfigError


def test_the_longest_wait_defaults_to_15_minutes_and_is_checked(tmp_path: Path) -> None:
    base = {"JANITOR_DATA_DIR": str(tmp_path)}
    assert load_settings(base).max_wait_seconds == 900.0
    assert load_settings(base | {"JANITOR_MAX_WAIT_SECONDS": "60"}).max_wait_seconds == 60.0
    for bad in ("0", "-5", "soon", "86401"):
        with pytest.raises(ConfigError, match="JANITOR_MAX_WAIT_SECONDS"):
            load_settings(base | {"JANITOR_MAX_WAIT_SECONDS": bad})


def test_registry_auth_hosts_are_host_names(tmp_path: Path) -> None:
    base = {"JANITOR_DATA_DIR": str(tmp_path)}
    assert load_settings(base).registry_auth_hosts == ()
    hosts = load_settings(base | {"JANITOR_REGISTRY_AUTH_HOSTS": " Auth.Example.com., b.test "})
    assert hosts.registry_auth_hosts == ("auth.example.com", "b.test")
    for bad in ("https://auth.example.com", "auth.example.com:443", "a/b", "a b", "*.example"):
        with pytest.raises(ConfigError, match="JANITOR_REGISTRY_AUTH_HOSTS"):
            load_settings(base | {"JANITOR_REGISTRY_AUTH_HOSTS": bad})
