"""`janitor serve` as a subprocess: its JSON log lines read on threads, waits with deadlines,
and a kill in ``close()`` so that no test leaves one behind."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

COMMAND = [sys.executable, "-m", "janitor", "--log-format", "json"]
LISTENING = re.compile(r"http server listening on (http://[\d.]+:\d+)")


def janitor(
    args: Sequence[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a janitor command to completion."""
    return subprocess.run(
        [*COMMAND, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        check=False,
    )  # fmt: skip


class ServeProcess:
    def __init__(self, args: Sequence[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self.name = name
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [*COMMAND, "serve", "--host", "127.0.0.1", "--port", "0", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.proc.stdout, self.proc.stderr)
        ]
        for reader in self._readers:
            reader.start()
        self.url = ""

    def _read(self, stream: Any) -> None:
        for line in stream:
            line = line.rstrip("\n")
            event: dict[str, Any] | None = None
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    event = None
            with self._lock:
                self.lines.append(line)
                if event is not None:
                    self.events.append(event)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def messages(self) -> list[str]:
        with self._lock:
            return [str(e.get("message", "")) for e in self.events]

    def output(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def wait_for(
        self, predicate: Callable[[str], bool], timeout: float = 30, what: str = ""
    ) -> str:
        deadline = time.monotonic() + timeout
        while True:
            exited = self.proc.poll() is not None
            if exited:  # let the readers drain what it wrote before it ended
                for reader in self._readers:
                    reader.join(2)
            for message in self.messages():
                if predicate(message):
                    return message
            if exited:
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode}) before {what}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: timed out waiting for {what}:\n{self.output()}")
            time.sleep(0.05)

    def wait_listening(self, timeout: float = 30) -> str:
        line = self.wait_for(lambda m: bool(LISTENING.search(m)), timeout, "the HTTP server")
        match = LISTENING.search(line)
        assert match is not None
        self.url = match.group(1)
        return self.url

    def get(self, path: str) -> httpx.Response:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            return client.get(path)

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
