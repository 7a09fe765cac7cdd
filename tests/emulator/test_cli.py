"""``janitor emulator serve``: argument errors in-process, serving in a real subprocess."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from janitor.emulator.cli import emulator

from .test_state import SAMPLE

ROOT = Path(__file__).resolve().parents[2]


def test_help_texts() -> None:
    runner = CliRunner()
    for args in (["--help"], ["serve", "--help"]):
        result = runner.invoke(emulator, args)
        assert result.exit_code == 0
        assert "Usage:" in result.output
    assert "--generate" in runner.invoke(emulator, ["serve", "--help"]).output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "exactly one of --seed"),
        (["--seed", str(SAMPLE), "--generate", "1x1"], "exactly one of --seed"),
        (["--generate", "lots"], "REPOSxIMAGES"),
        (["--generate", "1x1", "--fault", "explode"], "unknown fault kind"),
        (["--generate", "1x1", "--rate-limit", "0"], "--rate-limit"),
        (["--seed", "/nonexistent/seed.yaml"], "does not exist"),
    ],
)
def test_argument_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(emulator, ["serve", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_invalid_seed_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("namespaces:\n  acme:\n    colour: blue\n")
    result = CliRunner().invoke(emulator, ["serve", "--seed", str(bad)])
    assert result.exit_code == 2
    assert "unknown key(s) colour" in result.output


class Served:
    """``python -m janitor.emulator serve ...`` in a subprocess, read line by line."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "janitor.emulator", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True).start()

    def url(self) -> str:
        try:
            line = self.lines.get(timeout=30)
        except queue.Empty:
            self.kill()
            raise AssertionError("the emulator printed nothing") from None
        prefix = "emulator listening on "
        assert line.startswith(prefix), line
        return line[len(prefix) :].strip()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()


def test_serve_a_seed_until_sigterm() -> None:
    served = Served("--seed", str(SAMPLE), "--rate-limit", "50")
    try:
        url = served.url()
        assert url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=url, timeout=10) as client:
            response = client.get("/v2/namespaces/acme/repositories")
            assert response.status_code == 200
            assert response.headers["x-ratelimit-limit"] == "50"
            assert {r["name"] for r in response.json()["results"]} >= {"web", "docs"}
            token = client.post(
                "/v2/users/login", json={"username": "demo", "password": "demo-password"}
            )
            assert token.status_code == 200
    finally:
        code = served.terminate()
    assert code == 0


def test_serve_generated_data_with_faults() -> None:
    served = Served(
        "--generate", "2x30", "--random-seed", "4", "--tag-shape", "spec",
        "--fault", "status:status=503,path=/tags,times=1",
    )  # fmt: skip
    try:
        url = served.url()
        with httpx.Client(base_url=url, timeout=10) as client:
            tags = "/v2/namespaces/bench/repositories/api-0000/tags"
            auth = client.post("/v2/auth/token", json={"identifier": "bench", "secret": "bench"})
            headers = {"Authorization": "Bearer " + auth.json()["access_token"]}
            assert client.get(tags, headers=headers).status_code == 503
            body = client.get(tags, headers=headers).json()
            assert isinstance(body["results"][0]["images"], dict)  # spec shape
            images = client.get(tags.replace("/tags", "/images"), headers=headers).json()
            assert images["count"] == 30
    finally:
        code = served.terminate()
    assert code == 0


def test_serve_like_hub() -> None:
    served = Served("--generate", "1x5", "--random-seed", "2", "--like-hub")
    try:
        url = served.url()
        with httpx.Client(base_url=url, timeout=10) as client:
            auth = client.post("/v2/auth/token", json={"identifier": "bench", "secret": "bench"})
            headers = {"Authorization": "Bearer " + auth.json()["access_token"]}
            repo = "/v2/namespaces/bench/repositories/api-0000"
            tags = client.get(repo + "/tags", params={"page_size": 500}, headers=headers)
            assert tags.status_code == 200  # page_size capped, not refused
            tag = tags.json()["results"][0]
            assert "tag_status" in tag and "status" not in tag
            manifests = client.get(repo + "/manifests", headers=headers)
            assert manifests.status_code == 200 and manifests.json()["manifests"]
    finally:
        code = served.terminate()
    assert code == 0
