"""Benchmark 4: peak memory of a full dry run of a million images through ``run_once``.

The emulator (its own process) serves 1,000 repositories x 1,000 images; janitor runs the
typical policy as ``janitor run --dry-run`` would: lists and judges repository by repository,
records every decision in SQLite as it goes, then asks Hub's dry run of ``delete-images`` for
every planned batch and records the outcomes. Printed: this process's peak RSS (VmHWM) at the
end of the listing phase and at the end of the run, against the 300 MB target; wall and CPU
time; the run's own metrics.

``--patch DIFF`` (repeatable) runs the same benchmark with a proposed change
(``benchmarks/proposed/*.diff``) applied to a copy of the module it changes, without touching
the module itself.

    python benchmarks/memory.py [--repos 1000] [--images 1000] [--patch DIFF ...]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from common import (
    Emulator,
    Report,
    add_patch_argument,
    arguments,
    hub_client,
    load_engine,
    measure,
    peak_rss_mb,
    settings,
    typical_policy,
)

from janitor.store import Store

TARGET_MB = 300.0


def vm_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_run(engine: ModuleType, url: str, folder: Path) -> dict[str, Any]:
    conf = settings(url, folder)
    store = Store(conf.database_url)
    store.ensure_schema()
    listing = {"peak": 0.0, "rss": 0.0, "repositories": 0}
    lock = threading.Lock()

    def progress(_text: str) -> None:  # called once per repository judged and recorded
        with lock:
            listing["peak"] = peak_rss_mb()
            listing["rss"] = vm_rss_mb()
            listing["repositories"] += 1
            if listing["repositories"] % 100 == 0:
                print(f"  {_text}; RSS {listing['rss']:.0f} MB", flush=True)

    ctx = engine.RunContext(
        settings=conf, store=store, hub_factory=lambda: hub_client(url), progress=progress
    )
    try:
        with measure() as m:
            record = engine.run_once(ctx, typical_policy(), trigger="manual", dry_run=True)
    finally:
        store.close()
    return {
        "wall": m.wall,
        "cpu": m.cpu,
        "listing_peak": listing["peak"],
        "listing_rss": listing["rss"],
        "peak": peak_rss_mb(),
        "record": record,
    }


def main() -> None:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repos", type=int, default=1000)
        p.add_argument("--images", type=int, default=1000)
        add_patch_argument(p)

    args = arguments(__doc__.splitlines()[0], add)
    if args.repeat != 1:
        raise SystemExit("peak RSS is per process: run the script again to repeat it")
    start_rss = peak_rss_mb()
    total = args.repos * args.images
    report = Report(
        "memory",
        {
            "namespace": f"{args.repos:,} x {args.images:,} = {total:,} images",
            "proposed changes": ", ".join(p.name for p in args.patch) or "none",
        },
    )
    engine = load_engine(args.patch)
    with (
        tempfile.TemporaryDirectory(prefix="janitor-bench-") as folder,
        Emulator(args.repos, args.images) as emulator,
    ):
        emulator_cpu = emulator.cpu_seconds()
        result = one_run(engine, emulator.url, Path(folder))
        emulator_cpu = emulator.cpu_seconds() - emulator_cpu
        emulator_rss = emulator.peak_rss_mb()
    record = result["record"]
    metrics = record.metrics
    report.parameters["run"] = (
        f"{record.status}; {metrics.images_scanned:,} images scanned, "
        f"{metrics.planned_deletes:,} planned, {metrics.would_delete:,} would delete, "
        f"{metrics.skipped_by_warning:,} skipped, {metrics.errors} errors, "
        f"{metrics.hub_calls:,} Hub calls, {metrics.hub_rate_limited} answered 429"
    )
    report.add("peak RSS before the run (imports)", start_rss, "MB")
    report.add("peak RSS after listing + judging + recording", result["listing_peak"], "MB")
    report.add(
        "peak RSS of the whole dry run",
        result["peak"],
        "MB",
        target=f"< {TARGET_MB:.0f} MB",
        ok=result["peak"] < TARGET_MB,
    )
    report.add("dry run: wall", result["wall"], "s")
    report.add("dry run: janitor CPU", result["cpu"], "s")
    report.add("dry run: images/s", metrics.images_scanned / result["wall"], "images/s")
    report.add("emulator CPU (its own process)", emulator_cpu, "s")
    report.add("emulator peak RSS (its own process)", emulator_rss, "MB")
    if record.status != "succeeded":
        report.note(f"the run did not succeed: {record.error}")
    report.finish()


if __name__ == "__main__":
    main()
