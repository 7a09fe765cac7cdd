"""The life of ``janitor serve`` in its main thread: signals, the pid file, the wait.

SIGTERM/SIGINT stop the service (a second one during the stop stops waiting for runs in
flight); SIGHUP reloads the policies. Signal handlers only put a word on a queue (a
SimpleQueue's ``put`` is safe in a handler); the main thread does the work.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from janitor.config import Settings
from janitor.errors import JanitorError
from janitor.policy import Policy
from janitor.service.scheduler import Service

log = logging.getLogger("janitor.service")

PID_FILE_NAME = "janitor-serve.pid"


def pid_file_path(settings: Settings) -> Path:
    return settings.data_dir / PID_FILE_NAME


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def is_janitor_process(pid: int) -> bool:
    """Whether ``pid`` is alive and (where /proc tells) a janitor process: a pid file left by a
    dead janitor may name a process that reused the pid, and SIGHUP would kill most programs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: not ours to signal
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self").exists():
        return True
    try:
        return b"janitor" in cmdline.read_bytes()
    except OSError:
        return False


def send_reload(settings: Settings) -> int:
    """Send SIGHUP to the ``janitor serve`` whose pid file is in the data dir; returns its pid."""
    path = pid_file_path(settings)
    pid = read_pid(path)
    if pid is None:
        raise JanitorError(
            f"no janitor serve is running with data dir {settings.data_dir} (no pid file {path})"
        )
    if not is_janitor_process(pid):
        raise JanitorError(
            f"the pid file {path} names process {pid}, which is not a running janitor serve "
            "(it stopped without cleaning up); nothing to reload"
        )
    os.kill(pid, signal.SIGHUP)
    return pid


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid = os.getpid()

    def write(self) -> None:
        other = read_pid(self.path)
        if other is not None and other != self.pid and is_janitor_process(other):
            log.warning(
                "another janitor serve (pid %d) uses the data dir %s; `janitor serve --reload` "
                "will now signal this one (pid %d)",
                other,
                self.path.parent,
                self.pid,
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{self.pid}")
        tmp.write_text(f"{self.pid}\n", encoding="ascii")
        tmp.replace(self.path)

    def remove(self) -> None:
        if read_pid(self.path) == self.pid:
            with contextlib.suppress(OSError):
                self.path.unlink()


def serve_until_signalled(
    service: Service,
    policies: Sequence[Policy],
    *,
    pid_file: Path | None,
    grace: float | None = None,
) -> int:
    """Start ``service``, run until SIGTERM/SIGINT (reloading on SIGHUP), stop it. Returns the
    exit code: 0 when every run in flight finished and was recorded in time, 1 when the grace
    time ran out (those runs are marked interrupted). Must run in the main thread."""
    commands: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
    stopping = threading.Event()
    force = threading.Event()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        if stopping.is_set():
            force.set()
        commands.put(("stop", signum))

    def on_reload(signum: int, frame: FrameType | None) -> None:
        commands.put(("reload", signum))

    handlers = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_reload}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    pid = PidFile(pid_file) if pid_file is not None else None
    try:
        service.start(policies)
        if pid is not None:
            pid.write()
        while True:
            try:
                command, signum = commands.get(timeout=1.0)
            except queue.Empty:
                continue
            name = signal.Signals(signum).name
            if command == "reload":
                log.info("received %s: reloading policies", name, extra={"event": "reload"})
                try:
                    service.reload()
                except Exception as exc:  # never leave the loop: the signals stay handled
                    log.error(
                        "reload failed (%s: %s): keeping the policies loaded before",
                        type(exc).__name__,
                        exc,
                        extra={"event": "reload_refused"},
                    )
            else:
                log.info("received %s: stopping", name, extra={"event": "signal"})
                break
        stopping.set()
        clean = service.stop(grace, force=force)
        return 0 if clean else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if pid is not None:
            pid.remove()
