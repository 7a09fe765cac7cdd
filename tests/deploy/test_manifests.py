"""The deployment files hold their contract without a cluster or a Docker engine: the Kubernetes
manifests and deploy/compose.yaml parse; every environment variable they set is one janitor
reads, and the settings they make load; every secret comes from a Secret (or a compose secret)
and never sits in a literal; the probes and the ServiceMonitor hit paths the real HTTP server
answers; janitor runs as the image's non-root user with a read-only root filesystem; the
container commands are real janitor command lines; the policies ConfigMap loads."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from janitor.config import environment_variables, load_settings
from janitor.policy import parse_policy
from janitor.service.http import Health, HttpServer, create_http_app
from janitor.service.metrics import ServiceMetrics
from tests.core.test_readme import command_path
from tests.service.test_docker import final_stage

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE = ROOT / "deploy" / "compose.yaml"
SECRET_NAMES = re.compile(r"TOKEN|PASSWORD|DATABASE_URL")
IMAGE_USER = 10001


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object of deploy/kubernetes, by `Kind/name` (kustomization files
    apart)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBERNETES.rglob("*.yaml")):
        for doc in documents(path):
            if doc["kind"] != "Kustomization":
                key = f"{doc['kind']}/{doc['metadata']['name']}"
                assert key not in found, f"{key} defined twice"
                found[key] = doc
    return found


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    objects = manifests()
    yield "CronJob", objects["CronJob/janitor"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    yield "Deployment", objects["Deployment/janitor"]["spec"]["template"]["spec"]


PODS = dict(pod_specs())


def the_container(pod: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod["containers"]
    return container


def test_every_kustomization_lists_files_that_exist_and_every_manifest_is_listed() -> None:
    listed: set[Path] = set()
    for kustomization in KUBERNETES.rglob("kustomization.yaml"):
        (doc,) = documents(kustomization)
        for resource in doc["resources"]:
            target = (kustomization.parent / resource).resolve()
            assert target.exists(), f"{kustomization}: {resource} does not exist"
            listed.add(target if target.is_file() else target / "kustomization.yaml")
    optional = {KUBERNETES / "service" / "servicemonitor.yaml"}
    every = {p.resolve() for p in KUBERNETES.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert every - optional <= listed


def test_the_cronjob_never_overlaps_and_the_service_runs_two_replicas() -> None:
    objects = manifests()
    cron = objects["CronJob/janitor"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert the_container(PODS["CronJob"])["args"] == ["run", "--apply"]
    deployment = objects["Deployment/janitor"]["spec"]
    assert deployment["replicas"] == 2
    assert the_container(PODS["Deployment"])["args"][0] == "serve"


@pytest.mark.parametrize("kind", PODS)
def test_the_container_command_is_a_janitor_command_line(kind: str) -> None:
    # The image's ENTRYPOINT is janitor: args are janitor's arguments.
    stage = final_stage()
    assert ("ENTRYPOINT", '["janitor"]') in stage
    command_path(the_container(PODS[kind])["args"])


def env_value(entry: dict[str, Any]) -> str:
    """A plausible value for a variable: literal values as written, Secret references by what
    such a Secret holds."""
    if "value" in entry:
        return str(entry["value"])
    ref = entry["valueFrom"]["secretKeyRef"]
    return {
        "url": "postgresql://janitor:pw@postgres:5432/janitor",
        "username": "acme-bot",
    }[ref["key"]]


@pytest.mark.parametrize("kind", PODS)
def test_every_variable_is_one_janitor_reads_and_the_settings_load(
    kind: str, tmp_path: Path
) -> None:
    pod = PODS[kind]
    container = the_container(pod)
    env = {entry["name"]: env_value(entry) for entry in container["env"]}
    unknown = set(env) - environment_variables()
    assert not unknown, f"janitor reads no {sorted(unknown)}"
    # Point the secret files at a readable file, as the mounted Secret would be.
    token = tmp_path / "token"
    token.write_text("dckr_pat_example", encoding="utf-8")
    resolved = {k: (str(token) if k.endswith("_FILE") else v) for k, v in env.items()}
    settings = load_settings(resolved)
    assert settings.hub_token is not None and settings.hub_username == "acme-bot"
    assert str(settings.policies) == "/policies" and str(settings.data_dir) == "/data"


@pytest.mark.parametrize("kind", PODS)
def test_every_secret_comes_from_a_secret(kind: str) -> None:
    pod = PODS[kind]
    container = the_container(pod)
    secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
    secret_mounts = [
        m["mountPath"] for m in container["volumeMounts"] if m["name"] in secret_volumes
    ]
    for entry in container["env"]:
        name = entry["name"]
        if name.endswith("_FILE"):
            assert any(entry["value"].startswith(f"{mount}/") for mount in secret_mounts), name
        elif SECRET_NAMES.search(name):
            assert "value" not in entry, f"{name} is a literal"
            assert entry["valueFrom"]["secretKeyRef"]["name"], name
    shipped = [key for key in manifests() if key.startswith("Secret/")]
    assert shipped == [], "no Secret with a placeholder ships: people create theirs (README)"


@pytest.mark.parametrize("kind", PODS)
def test_janitor_runs_as_the_images_non_root_user_on_a_read_only_root(kind: str) -> None:
    pod = PODS[kind]
    container = the_container(pod)
    users = [rest for keyword, rest in final_stage() if keyword == "USER"]
    assert users[-1].split(":")[0] == str(IMAGE_USER)
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == IMAGE_USER
    assert security["fsGroup"] == IMAGE_USER  # the volumes are writable by that user
    own = container["securityContext"]
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False and own["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert {"/data", "/tmp", "/policies"} <= set(mounts)  # where it writes, and its policies
    assert mounts["/policies"]["readOnly"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["terminationGracePeriodSeconds"] >= 70  # the batch in flight gets its 60 s


@pytest.mark.parametrize("kind", PODS)
def test_resources_are_requested_and_memory_is_bounded(kind: str) -> None:
    resources = the_container(PODS[kind])["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    # README, Performance: a 1M-image dry run peaks at 281 MB; the request covers it.
    assert _mebibytes(resources["requests"]["memory"]) * 1.048576 >= 281
    assert _mebibytes(resources["limits"]["memory"]) > _mebibytes(resources["requests"]["memory"])


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return int(number) * (1024 if unit == "Gi" else 1)


@pytest.fixture(scope="module")
def http_server() -> Iterator[HttpServer]:
    """The service's real HTTP app, healthy."""
    app = create_http_app(lambda: Health(True, {"scheduler": "running"}), ServiceMetrics())
    server = HttpServer(app, "127.0.0.1", 0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_probes_service_and_servicemonitor_hit_real_paths(http_server: HttpServer) -> None:
    objects = manifests()
    container = the_container(PODS["Deployment"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert ports == {"http": int(env["JANITOR_HTTP_PORT"])}
    paths = set()
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] in ports
        paths.add(get["path"])
    service = objects["Service/janitor"]["spec"]
    labels = objects["Deployment/janitor"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= labels.items()
    assert [p["targetPort"] for p in service["ports"]] == ["http"]
    monitor = objects["ServiceMonitor/janitor"]["spec"]
    assert (
        monitor["selector"]["matchLabels"].items()
        <= objects["Service/janitor"]["metadata"]["labels"].items()
    )
    service_ports = {p["name"] for p in service["ports"]}
    for endpoint in monitor["endpoints"]:
        assert endpoint["port"] in service_ports
        paths.add(endpoint["path"])
    assert paths == {"/healthz", "/metrics"}
    for path in paths:
        answer = httpx.get(f"{http_server.url}{path}", timeout=10)
        assert answer.status_code == 200, path


def test_the_policies_configmap_holds_valid_policies() -> None:
    data = manifests()["ConfigMap/janitor-policies"]["data"]
    assert data
    for name, text in data.items():
        assert name.endswith(".yaml")
        parse_policy(text, name)


def test_the_cronjob_keeps_its_sqlite_store_on_a_claim_or_uses_postgresql() -> None:
    pod = PODS["CronJob"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "janitor-data"
    assert "PersistentVolumeClaim/janitor-data" in manifests()
    database = {e["name"]: e for e in the_container(pod)["env"]}["JANITOR_DATABASE_URL"]
    assert database["valueFrom"]["secretKeyRef"]["optional"] is True
    deployment = {e["name"]: e for e in the_container(PODS["Deployment"])["env"]}
    assert "optional" not in deployment["JANITOR_DATABASE_URL"]["valueFrom"]["secretKeyRef"]


# ---------------------------------------------------------------------------------- compose

INTERPOLATION = re.compile(r"\$\{([A-Z_]+)(?::\?[^}]*)?\}")


def compose() -> dict[str, Any]:
    (doc,) = documents(COMPOSE)
    return doc


def test_compose_runs_janitor_serve_on_postgresql() -> None:
    services = compose()["services"]
    janitor = services["janitor"]
    assert janitor["command"][0] == "serve"
    command_path(janitor["command"])
    assert janitor["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert janitor["build"]["context"] == ".."
    assert (COMPOSE.parent / janitor["build"]["context"] / "Dockerfile").is_file()


def test_compose_environment_is_janitors_and_its_secrets_come_from_secrets(
    tmp_path: Path,
) -> None:
    doc = compose()
    janitor = doc["services"]["janitor"]
    env = janitor["environment"]
    assert set(env) <= environment_variables()
    for name, value in env.items():
        if SECRET_NAMES.search(name) and not name.endswith("_FILE"):
            # only from the operator's .env (compose interpolation), never a literal
            if name == "JANITOR_DATABASE_URL":
                assert "${POSTGRES_PASSWORD:?" in value
            else:
                pytest.fail(f"{name} set in compose.yaml")
    assert env["JANITOR_HUB_TOKEN_FILE"] == f"/run/secrets/{janitor['secrets'][0]}"
    assert doc["secrets"][janitor["secrets"][0]]["file"].startswith("./secrets/")
    token = tmp_path / "token"
    token.write_text("dckr_pat_example", encoding="utf-8")
    resolved = {
        k: str(token) if k.endswith("_FILE") else INTERPOLATION.sub("x", str(v))
        for k, v in env.items()
    }
    settings = load_settings(resolved)
    assert settings.database_url.startswith("postgresql")
    assert janitor["user"].split(":")[0] == str(IMAGE_USER)
    assert janitor["read_only"] is True and "/tmp" in janitor["tmpfs"]
    assert janitor["ports"] == ["127.0.0.1:9464:9464"]
    assert int(janitor["stop_grace_period"].rstrip("s")) >= 70


def test_the_secrets_the_deploy_files_need_are_kept_out_of_git() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/deploy/secrets/" in ignored and "/deploy/.env" in ignored


# ---------------------------------------------------------------------------------- image


def test_the_image_carries_the_oci_labels() -> None:
    import shlex
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    labels: dict[str, str] = {}
    for keyword, rest in final_stage():
        if keyword == "LABEL":
            labels.update(item.split("=", 1) for item in shlex.split(rest))  # type: ignore[misc]
    assert labels["org.opencontainers.image.version"] == project["version"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]["text"]
    assert labels["org.opencontainers.image.source"] == "${SOURCE_URL}"
    assert ("ARG", 'SOURCE_URL=""') in final_stage()
