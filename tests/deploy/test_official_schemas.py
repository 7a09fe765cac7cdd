"""The deployment files against the formats' own definitions, offline: each Kubernetes manifest
round-trips through the official Kubernetes client's models (a misspelt or misplaced field is
dropped on the way and shows as a difference), and action.yml, deploy/compose.yaml and the
README's workflow validate against the GitHub Actions, Compose and workflow JSON Schemas that
check-jsonschema ships."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.core.test_readme import README, readme_commands

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
CUSTOM_RESOURCES = {"Kustomization", "ServiceMonitor"}  # no model in the Kubernetes client


def kubernetes_documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and doc["kind"] not in CUSTOM_RESOURCES:
                found.append((f"{path.relative_to(KUBERNETES)}:{doc['kind']}", doc))
    return found


def round_trip(doc: dict[str, Any]) -> Any:
    client = pytest.importorskip("kubernetes.client", reason="the test extra installs kubernetes")
    api = client.ApiClient()
    model = f"{doc['apiVersion'].split('/')[-1].capitalize()}{doc['kind']}"  # V1CronJob
    return api.sanitize_for_serialization(api._ApiClient__deserialize(doc, model))


DOCUMENTS = kubernetes_documents()


@pytest.mark.parametrize("doc", [d for _, d in DOCUMENTS], ids=[n for n, _ in DOCUMENTS])
def test_each_manifest_is_what_the_kubernetes_models_read(doc: dict[str, Any]) -> None:
    assert round_trip(doc) == doc


def test_a_misspelt_field_would_be_caught() -> None:
    (cronjob,) = [d for name, d in DOCUMENTS if name.endswith(":CronJob")]
    broken = copy.deepcopy(cronjob)
    broken["spec"]["concurencyPolicy"] = broken["spec"].pop("concurrencyPolicy")
    assert round_trip(broken) != broken


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("check_jsonschema", reason="the test extra installs check-jsonschema")
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.github-actions", ROOT / "action.yml"),
     ("vendor.compose-spec", ROOT / "deploy" / "compose.yaml")],
    ids=["action.yml", "compose.yaml"],
)  # fmt: skip
def test_action_and_compose_match_their_schemas(schema: str, path: Path) -> None:
    result = check_jsonschema(schema, path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_readmes_workflow_matches_the_workflow_schema(tmp_path: Path) -> None:
    workflows = [
        b
        for b in readme_commands.code_blocks(README)
        if b.language == "yaml" and b.lines and b.lines[0].startswith("# .github/workflows/")
    ]
    assert len(workflows) == 1
    path = tmp_path / "workflow.yml"
    path.write_text("\n".join(workflows[0].lines) + "\n", encoding="utf-8")
    result = check_jsonschema("vendor.github-workflows", path)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]["janitor"]["steps"]
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    (ours,) = [s for s in steps if "janitor" in s.get("uses", "")]
    assert set(ours["with"]) <= set(action["inputs"])
    required = {name for name, spec in action["inputs"].items() if spec.get("required")}
    assert required <= set(ours["with"])


def test_a_wrong_action_would_be_caught(tmp_path: Path) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    action["runs"]["using"] = "compsite"
    path = tmp_path / "action.yml"
    path.write_text(yaml.safe_dump(action), encoding="utf-8")
    assert check_jsonschema("vendor.github-actions", path).returncode != 0


@pytest.mark.parametrize("folder", ["cronjob", "service"])
def test_kustomize_builds_each_folder(folder: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed")
    built = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / folder)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    objects = {f"{d['kind']}/{d['metadata']['name']}": d for d in yaml.safe_load_all(built.stdout)}
    workload = {"cronjob": "CronJob/janitor", "service": "Deployment/janitor"}[folder]
    assert "ConfigMap/janitor-policies" in objects and workload in objects
    for doc in objects.values():
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "janitor"
        assert round_trip(doc) == doc
    text = yaml.safe_dump(objects[workload])
    assert "image: janitor:0.1.0" in text  # the kustomization's images: entry applied
