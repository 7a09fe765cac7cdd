"""Headless Chromium (Debian's ``chromium``) for the dashboard tests: the DOM a browser builds
from a page, and screenshots at phone and desktop widths."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PHONE = (390, 1400)
DESKTOP = (1280, 1000)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install -y chromium)")
    return path


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    chromium = require_chromium()
    with tempfile.TemporaryDirectory(prefix="janitor-chromium-") as profile:
        return subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",  # tests may run as root (containers)
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )


def dump_dom(url: str) -> str:
    """The DOM Chromium built from ``url``, serialised (what a user's browser would show)."""
    result = _run(["--dump-dom", url])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "<html" in result.stdout, result.stderr[-2000:]
    return result.stdout


def screenshot(url: str, path: Path, size: tuple[int, int]) -> Path:
    width, height = size
    result = _run([f"--screenshot={path}", f"--window-size={width},{height}", url])
    assert result.returncode == 0 and path.is_file(), result.stderr[-2000:]
    return path


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
