"""One seam: `janitor plan` and `janitor snapshot` read a namespace through the backend
``select_backend`` chose, so they work on a Hub whose image-management API answers 404."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from janitor.cli import cli
from janitor.emulator.server import RunningEmulator

from .conftest import AOLD, APR, B1, B2, IDX, PR1, TOKEN, USER, write_policy


@pytest.fixture
def env(emulator: RunningEmulator, tmp_path: Path) -> dict[str, str]:
    return {
        "JANITOR_HUB_URL": emulator.url,
        "JANITOR_REGISTRY_URL": emulator.registry_url,
        "JANITOR_HUB_USERNAME": USER,
        "JANITOR_HUB_TOKEN": TOKEN,
        "JANITOR_DATA_DIR": str(tmp_path / "data"),
        "JANITOR_POLICIES": str(tmp_path / "policies"),
        "JANITOR_DELETE_BACKEND": "auto",
    }


def janitor(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def verdicts(result: Result) -> dict[str, str]:
    (plan,) = json.loads(result.stdout)
    return {i["digest"]: i["verdict"] for r in plan["repositories"] for i in r["images"]}


def images_calls(emu: RunningEmulator) -> int:
    return sum(1 for e in emu.log.entries() if e.path.endswith("/images"))


def test_plan_on_a_hub_without_the_images_api(
    env: dict[str, str], emulator: RunningEmulator, tmp_path: Path
) -> None:
    write_policy(tmp_path / "policies")
    result = janitor(env, "plan", "--json")
    assert result.exit_code == 0, result.output
    deleted = {d for d, verdict in verdicts(result).items() if verdict == "delete"}
    assert deleted == {B1, B2, PR1, IDX, APR, AOLD}
    assert images_calls(emulator) == 0  # never the retired endpoint


def test_snapshot_then_plan_offline_on_a_hub_without_the_images_api(
    env: dict[str, str], emulator: RunningEmulator, tmp_path: Path
) -> None:
    write_policy(tmp_path / "policies")
    out = tmp_path / "acme.yaml"
    result = janitor(env, "snapshot", "acme", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert images_calls(emulator) == 0
    offline = janitor(env, "plan", "--json", "--snapshot", str(out))
    assert offline.exit_code == 0, offline.output
    online = janitor(env, "plan", "--json")

    assert verdicts(offline) == verdicts(online)
