"""What every benchmark shares: the emulator in its own process, the typical policy, a janitor
run context on SQLite, CPU/wall/RSS measurement, and the way figures are printed.

Benchmarks are scripts, never tests: each prints its figures next to their targets and ends with
one ``BENCH-RESULT {json}`` line that ``run_all.py`` collects. Everything stays on 127.0.0.1.
Run them from the repository root, e.g. ``python benchmarks/throughput.py``.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import importlib.util
import json
import math
import os
import platform
import re
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from bench_path import child_env

import janitor
from janitor.config import Settings
from janitor.emulator.state import BENCH_TOKEN, BENCH_USERNAME
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.policy import Policy, parse_policy

NAMESPACE = "bench"
START_TIMEOUT = 120.0  # generating the stubs of 1,000 repositories takes well under a second
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 60.0

TYPICAL_POLICY = """\
name: typical
namespace: {namespace}
mode: {mode}
select:
  - name: untagged-and-cold
    currently_tagged: false
    last_pushed: {{older_than: 30d}}
    last_pulled: {{older_than: 30d, never: match}}
  - name: old-pr-builds
    tags: ["pr-*"]
    last_pushed: {{older_than: 14d, newer_than: 2y}}
    current_tag: delete
keep:
  - most_recent: 5
  - tags: ["latest", "stable", "re:^v?\\\\d+\\\\.\\\\d+\\\\.\\\\d+$"]
  - tags: ["release-*"]
    most_recent: 3
  - pulled_within: 7d
limits: {{max_deletes: 10000000, max_fraction_per_repository: 1.0}}
"""
"""Two select entries (untagged and cold; old pull-request builds, deleted with their tag) and
four keep rules: the policy of the README's example, with limits out of the way."""


def typical_policy(namespace: str = NAMESPACE, *, mode: str = "dry-run") -> Policy:
    return parse_policy(TYPICAL_POLICY.format(namespace=namespace, mode=mode), "typical.yaml")


# -- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """nproc, CPU model and RAM, as docs/performance.md reports them."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "package": str(Path(janitor.__file__).parent),
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "load_1min": load,
    }


# -- measuring ---------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    wall: float = 0.0
    cpu: float = 0.0


@contextmanager
def measure() -> Iterator[Measured]:
    """Wall time and this process's CPU time (all threads) of the block."""
    result = Measured()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield result
    finally:
        result.wall = time.perf_counter() - wall
        result.cpu = time.process_time() - cpu


# -- the emulator, in its own process ----------------------------------------------------------


class Emulator:
    """``python -m janitor.emulator serve --generate RxI ...`` on a free loopback port.

    Its own process, so its CPU and memory are not counted as janitor's (``cpu_seconds()`` and
    ``peak_rss_mb()`` report them apart). Stopped with SIGTERM (SIGKILL after 10 s)."""

    def __init__(
        self,
        repos: int,
        images: int,
        *,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        random_seed: int = 0,
        namespace: str = NAMESPACE,
    ) -> None:
        command = [
            sys.executable,
            "-m",
            "janitor.emulator",
            "serve",
            "--generate",
            f"{repos}x{images}",
            "--namespace",
            namespace,
            "--random-seed",
            str(random_seed),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]
        if rate_limit is not None:
            command += ["--rate-limit", str(rate_limit), "--rate-window", str(rate_window)]
        self.repos, self.images, self.namespace = repos, images, namespace
        # A pipe nobody reads could fill up and block the emulator: its stderr goes to a file.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=child_env()
        )
        try:
            self.url = self._wait_for_url()
        except BaseException:
            self.stop()
            raise

    def _wait_for_url(self) -> str:
        assert self._process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._process.stdout], [], [], 0.5)
            if ready:
                line = self._process.stdout.readline()
                found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
                if found:
                    return found.group(1)
            if self._process.poll() is not None:
                self._stderr.seek(0)
                err = self._stderr.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the emulator exited with {self._process.returncode}: {err}")
        raise RuntimeError(f"the emulator did not start within {START_TIMEOUT:.0f} s")

    @property
    def pid(self) -> int:
        return self._process.pid

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self._process.pid)

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return math.nan

    def request_log(self) -> list[dict[str, Any]]:
        """Every request the emulator answered (its admin API; not counted, not limited)."""
        import httpx

        answer = httpx.get(f"{self.url}/_emulator/log", timeout=HTTP_TIMEOUT)
        answer.raise_for_status()
        entries: list[dict[str, Any]] = answer.json()["entries"]
        return entries

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT)
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def hub_client(url: str, **kwargs: Any) -> HubClient:
    """A client as janitor's CLI builds it, with the generated namespace's credentials."""
    return HubClient(url, Credentials(BENCH_USERNAME, BENCH_TOKEN), timeout=HTTP_TIMEOUT, **kwargs)


def settings(url: str, data_dir: Path, **changes: Any) -> Settings:
    """Settings of a run against the emulator, with a SQLite store in ``data_dir``.

    The backend is named (``delete-images``) rather than probed (``auto``), which would cost
    two more calls per process: the first page of repositories and one images-summary."""
    values: dict[str, Any] = {
        "hub_url": url,
        "hub_username": BENCH_USERNAME,
        "delete_backend": "delete-images",
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'janitor.db'}",
        "report_dir": data_dir / "reports",
        "timeout": HTTP_TIMEOUT,
    }
    values.update(changes)
    return Settings(**values)


# -- proposed changes, measured on a copy ------------------------------------------------------

PROPOSED = Path(__file__).resolve().parent / "proposed"


def load_engine(patches: Sequence[Path] = ()) -> ModuleType:
    """``janitor.engine``, or with ``patches`` (unified diffs of modules of the ``janitor``
    package, as in ``benchmarks/proposed/``) a copy of each patched module loaded in place of
    the original for this process only: the files in the repository stay untouched.

    Call it before anything imports ``janitor.engine``, so that the engine's own imports
    (``from janitor.execute import Executor``) find the patched modules."""
    if patches:
        if "janitor.engine" in sys.modules:
            raise RuntimeError("load_engine(patches) must come before janitor.engine is imported")
        folder = Path(tempfile.mkdtemp(prefix="janitor-bench-patched-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        package = importlib.util.find_spec("janitor")
        assert package is not None and package.origin is not None
        root = Path(package.origin).parent.parent
        targets: list[str] = []
        for diff in patches:
            for line in diff.read_text().splitlines():
                if line.startswith("+++ b/"):
                    targets.append(line[len("+++ b/") :].split()[0])
        for target in dict.fromkeys(targets):
            (folder / target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / target, folder / target)
        for diff in patches:
            subprocess.run(
                ["patch", "-p1", "--quiet", "--input", str(diff.resolve())],
                cwd=folder,
                check=True,
                timeout=60,
            )
        # Modules of the package only (a diff may also update tests); dependencies first.
        modules = [t for t in dict.fromkeys(targets) if t.startswith("janitor/")]
        for target in sorted(modules, key=lambda t: t.startswith("janitor/engine/")):
            name = target.removesuffix(".py").replace("/", ".")
            spec = importlib.util.spec_from_file_location(name, folder / target)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            print(f"  measuring a patched copy of {target} ({folder / target})", flush=True)
    return importlib.import_module("janitor.engine")


def add_patch_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--patch",
        type=Path,
        action="append",
        default=[],
        metavar="DIFF",
        help="measure with a proposed change applied to a copy (benchmarks/proposed/*.diff); "
        "repeatable",
    )


# -- figures -----------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    values: list[float]
    unit: str
    target: str | None = None
    ok: bool | None = None
    better: str = "lower"  # which way is better, for the spread's "best"

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def shown(self) -> str:
        if self.unit in ("", "MB") and all(v == int(v) for v in self.values):
            digits = 0
        else:
            digits = 3 if abs(self.median) < 10 else 1 if abs(self.median) < 1000 else 0
        text = f"{self.median:,.{digits}f} {self.unit}".rstrip()
        if len(self.values) > 1:
            text += (
                f" (median of {len(self.values)}: {min(self.values):,.{digits}f} .. "
                f"{max(self.values):,.{digits}f})"
            )
        return text


@dataclass
class Report:
    """Collects a benchmark's figures; ``finish()`` prints them and the BENCH-RESULT line."""

    benchmark: str
    parameters: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        name: str,
        values: float | Sequence[float],
        unit: str = "",
        *,
        target: str | None = None,
        ok: bool | None = None,
        better: str = "lower",
    ) -> Figure:
        listed = [float(values)] if isinstance(values, int | float) else [float(v) for v in values]
        figure = Figure(name, listed, unit, target, ok, better)
        self.figures.append(figure)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)

    def finish(self) -> bool:
        """Print the figures (and the targets beside them); True when every target is met."""
        print()
        print(f"== {self.benchmark} ==")
        print(f"  janitor package: {Path(janitor.__file__).parent}")
        for key, value in self.parameters.items():
            print(f"  {key}: {value}")
        width = max((len(f.name) for f in self.figures), default=0)
        for f in self.figures:
            line = f"  {f.name:<{width}}  {f.shown()}"
            if f.target is not None:
                verdict = "" if f.ok is None else ("  OK" if f.ok else "  MISSED")
                line += f"   [target: {f.target}]{verdict}"
            print(line)
        for text in self.notes:
            print(f"  note: {text}")
        met = all(f.ok is not False for f in self.figures)
        result = {
            "benchmark": self.benchmark,
            "parameters": self.parameters,
            "machine": machine(),
            "figures": [
                {
                    "name": f.name,
                    "median": f.median,
                    "values": f.values,
                    "unit": f.unit,
                    "target": f.target,
                    "ok": f.ok,
                }
                for f in self.figures
            ],
            "met": met,
        }
        print("BENCH-RESULT " + json.dumps(result), flush=True)
        return met


def arguments(description: str, add: Callable[[argparse.ArgumentParser], object]) -> Any:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--repeat", type=int, default=1, help="take each figure this many times (default 1)"
    )
    add(parser)
    return parser.parse_args()


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)
