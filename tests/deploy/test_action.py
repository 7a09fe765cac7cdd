"""The GitHub Action (action.yml): its own run steps, executed by bash as a runner would (the
`${{ ... }}` expressions filled in from the inputs), against the emulator on loopback. The
`uses:` steps are GitHub's own actions (setup-python, cache, upload-artifact) and the install
step is what this test's interpreter already did; the test checks how they are wired instead."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from janitor.cli.demo import SAMPLE_SEED, _demo_user
from janitor.emulator.server import RunningEmulator, start_emulator
from janitor.emulator.state import load_seed

ROOT = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
STEPS: list[dict[str, Any]] = ACTION["runs"]["steps"]
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
NOT_RUN_HERE = {"Install janitor"}  # pip install of the action's folder: done by this test's venv


@pytest.fixture(scope="module")
def hub() -> Iterator[RunningEmulator]:
    with start_emulator(load_seed(SAMPLE_SEED)) as emulator:
        yield emulator


@dataclass
class ActionRun:
    status: int
    output: str
    summary: str
    outputs: dict[str, str]
    data: Path


def runner_bin(tmp_path: Path) -> Path:
    """`python` and `janitor` as a runner has them after setup-python and the install step:
    this test's interpreter, whatever its scripts folder is called or wherever it is."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name, command in (
        ("python", f'exec "{sys.executable}" "$@"'),
        ("janitor", f'exec "{sys.executable}" -c "from janitor.cli import main; main()" "$@"'),
    ):
        (folder / name).write_text(f"#!/bin/sh\n{command}\n", encoding="utf-8")
        (folder / name).chmod(0o755)
    return folder


def run_action(tmp_path: Path, inputs: dict[str, str]) -> ActionRun:
    """Run the action's run steps in order, as a runner does, stopping at the first failure."""
    values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    values.update(inputs)
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    context = {
        "runner.temp": str(runner_temp),
        "github.workflow": "cleanup",
        "github.run_id": "7",
        "github.run_attempt": "1",
        **{f"inputs.{name}": value for name, value in values.items()},
    }

    def fill(text: str) -> str:
        return EXPRESSION.sub(lambda m: context[m[1]], text)

    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    summary.touch()
    outputs.touch()
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JANITOR_", "PYTHON"))}
    base.update(
        PATH=f"{runner_bin(tmp_path)}{os.pathsep}{base.get('PATH', '')}",
        GITHUB_ACTION_PATH=str(ROOT),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(outputs),
        GITHUB_WORKSPACE=str(workspace),
        RUNNER_TEMP=str(runner_temp),
    )
    status, output = 0, ""
    for step in STEPS:
        if "run" not in step or step["name"] in NOT_RUN_HERE:
            continue
        if step.get("if") == "inputs.plan == 'true'" and values["plan"] != "true":
            continue
        env = {**base, **{k: fill(str(v)) for k, v in (step.get("env") or {}).items()}}
        result = subprocess.run(
            ["bash", "-e", "-c", fill(step["run"])], env=env, cwd=workspace,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        output += result.stdout + result.stderr
        if result.returncode != 0:
            status = result.returncode
            break
    recorded = dict(
        line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines() if line
    )
    return ActionRun(status, output, summary.read_text(encoding="utf-8"), recorded,
                     runner_temp / "janitor-data")  # fmt: skip


def inputs_for(hub: RunningEmulator, policies: Path, **more: str) -> dict[str, str]:
    username, token = _demo_user(SAMPLE_SEED)
    return {
        "policies": str(policies), "hub-username": username, "hub-token": token,
        "hub-url": hub.url, **more,
    }  # fmt: skip


def real_deletes(hub: RunningEmulator) -> int:
    return sum(
        1
        for e in hub.log.entries()
        if e.path.endswith("delete-images") and isinstance(e.json, dict) and not e.json["dry_run"]
    )


@pytest.fixture(autouse=True)
def _needs_bash() -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")


def test_a_dry_run_writes_the_summary_the_reports_and_the_store(
    hub: RunningEmulator, tmp_path: Path
) -> None:
    before = real_deletes(hub)
    result = run_action(tmp_path, inputs_for(hub, ROOT / "policies"))
    assert result.status == 0, result.output
    assert result.outputs["status"] == "0"
    assert "## janitor: dry run of" in result.summary
    plans = result.summary.index("## janitor plan: `untagged-and-cold` on `acme`")
    assert plans < result.summary.index("## janitor: dry run of")
    assert (result.data / "reports" / "plan.md").is_file()
    assert "policy untagged-and-cold (acme): dry run" in result.summary
    reports = Path(result.outputs["reports"])
    assert reports == result.data / "reports"
    policies = [p for p in (ROOT / "policies").glob("*.yaml") if not p.name.startswith("_")]
    assert len(list(reports.glob("*.html"))) == len(policies)
    # The SQLite file sits where the cache steps keep it.
    (cache_restore,) = [s for s in STEPS if s.get("uses", "").startswith("actions/cache/restore")]
    assert cache_restore["with"]["path"].endswith("/janitor-data/janitor.db")
    assert (result.data / "janitor.db").is_file()
    assert real_deletes(hub) == before
    assert inputs_for(hub, ROOT)["hub-token"] not in result.summary + result.output


def test_apply_deletes_for_a_delete_policy(hub: RunningEmulator, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    text = (ROOT / "policies" / "untagged-and-cold.yaml").read_text(encoding="utf-8")
    (policies / "cold.yaml").write_text(
        text.replace("mode: dry-run", "mode: delete"), encoding="utf-8"
    )
    before = real_deletes(hub)
    result = run_action(tmp_path, inputs_for(hub, policies, mode="apply", plan="false"))
    assert result.status == 0, result.output
    assert "## janitor plan:" not in result.summary  # plan: false skips the plan step
    assert "## janitor: apply of" in result.summary and "delete run" in result.summary
    assert real_deletes(hub) > before


def test_broken_policies_become_annotations_and_fail_the_step(
    hub: RunningEmulator, tmp_path: Path
) -> None:
    broken = ROOT / "tests" / "policy" / "broken"
    result = run_action(tmp_path, inputs_for(hub, broken / "bad-durations.yaml"))
    assert result.status == 2, result.output
    assert f"::error file={broken / 'bad-durations.yaml'},line=5::" in result.output
    assert result.outputs["status"] == "2"
    assert "(exit 2)" in result.summary


def test_a_wrong_mode_is_refused(hub: RunningEmulator, tmp_path: Path) -> None:
    result = run_action(tmp_path, inputs_for(hub, ROOT / "policies", mode="delete-all"))
    assert result.status == 2
    assert "::error::mode: expected dry-run or apply" in result.output


def test_the_github_steps_are_wired_to_the_run() -> None:
    by_name = {step["name"]: step for step in STEPS}
    assert by_name["Install janitor"]["run"].endswith('"$GITHUB_ACTION_PATH"')
    save = by_name["Save the run history"]
    restore = by_name["Restore the run history"]
    assert save["with"]["key"] == restore["with"]["key"]
    assert save["with"]["path"] == restore["with"]["path"]
    assert "always()" in save["if"] and "inputs.database-url == ''" in save["if"]
    upload = by_name["Upload the reports"]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"] == "always()"
    run = by_name["Run the policies"]
    assert upload["with"]["path"] == f"{run['env']['JANITOR_DATA_DIR']}/reports"
    assert run["env"]["JANITOR_HUB_TOKEN"] == "${{ inputs.hub-token }}"
    assert ACTION["inputs"]["hub-token"]["required"] is True
    assert ACTION["outputs"]["status"]["value"] == "${{ steps.run.outputs.status }}"
