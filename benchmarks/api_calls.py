"""Benchmark 1: Hub calls of a full dry run against the fewest the paging and batching allow.

The emulator (its own process) serves a mid-sized namespace (50 repositories x 300 images by
default); janitor makes a dry run of the typical policy through ``run_once``. The minimum is
computed from the namespace's shape and the run's plan:

    1 login
    + ceil(repositories / 100)                    repository list pages
    + per repository ceil(images / 100)           image pages (at least 1)
    +                ceil(current tags / 100)     tag pages (at least 1: an empty page says so)
    +                per select-entry group ceil(planned deletes / batch_size)
                                                  dry-run delete-images calls

The shape comes from the emulator's state (its admin API), the plan from the run's recorded
decisions (grouped by repository and selecting entry: the typical policy's two entries have
different cutoffs, so each is its own ``active_from`` group). Calls are counted by janitor's
client and, independently, by the emulator's request log.

    python benchmarks/api_calls.py [--repos 50] [--images 300] [--batch-size 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from common import (
    NAMESPACE,
    Emulator,
    Report,
    add_patch_argument,
    arguments,
    ceil_div,
    hub_client,
    load_engine,
    settings,
    typical_policy,
)

from janitor.hub.client import PAGE_SIZE, HubClient
from janitor.store import Store

TARGET_RATIO = 1.05


def namespace_shape(emulator: Emulator) -> dict[str, tuple[int, int]]:
    """repository -> (top-level images, current tags), from the emulator's own state."""
    import httpx

    answer = httpx.get(f"{emulator.url}/_emulator/state/{NAMESPACE}", timeout=120)
    answer.raise_for_status()
    repositories = answer.json()["namespaces"][NAMESPACE]["repositories"]
    shape = {}
    for name, body in repositories.items():
        images = body["images"]
        tags = {t["tag"] for i in images for t in i.get("tags", []) if t.get("is_current", True)}
        shape[name] = (len(images), len(tags))
    return shape


def one_run(engine: ModuleType, emulator: Emulator, batch_size: int) -> dict[str, Any]:
    clients: list[HubClient] = []

    def factory() -> HubClient:
        client = hub_client(emulator.url)
        clients.append(client)
        return client

    before = len(emulator.request_log())
    with tempfile.TemporaryDirectory(prefix="janitor-bench-") as folder:
        conf = settings(emulator.url, Path(folder), batch_size=batch_size)
        store = Store(conf.database_url)
        try:
            store.ensure_schema()
            ctx = engine.RunContext(settings=conf, store=store, hub_factory=factory)
            record = engine.run_once(ctx, typical_policy(), trigger="manual", dry_run=True)
            groups = Counter(
                (d.repository, d.selected_by) for d in store.decisions(record.id, verdict="delete")
            )
        finally:
            store.close()
    log = emulator.request_log()[before:]
    by_endpoint: Counter[str] = Counter()
    for client in clients:
        by_endpoint.update(client.stats.by_endpoint)
    return {
        "record": record,
        "groups": groups,
        "client_calls": sum(c.stats.calls for c in clients),
        "server_calls": len(log),
        "server_429": sum(1 for e in log if e["status"] == 429),
        "by_endpoint": by_endpoint,
    }


def minimum(
    shape: dict[str, tuple[int, int]], groups: Counter[tuple[str, str | None]], batch_size: int
) -> dict[str, int]:
    deletes = sum(ceil_div(n, batch_size) for n in groups.values())
    return {
        "auth/token": 1,
        "repositories": max(1, ceil_div(len(shape), PAGE_SIZE)),
        "images": sum(max(1, ceil_div(images, PAGE_SIZE)) for images, _ in shape.values()),
        "tags": sum(max(1, ceil_div(tags, PAGE_SIZE)) for _, tags in shape.values()),
        "delete-images": deletes,
    }


def main() -> None:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repos", type=int, default=50)
        p.add_argument("--images", type=int, default=300)
        p.add_argument("--batch-size", type=int, default=100)
        add_patch_argument(p)

    args = arguments(__doc__.splitlines()[0], add)
    engine = load_engine(args.patch)
    report = Report(
        "api_calls",
        {
            "namespace": f"{args.repos} repositories x {args.images} images",
            "batch_size": args.batch_size,
            "policy": "typical (benchmarks/common.py), dry run",
            "proposed changes": ", ".join(p.name for p in args.patch) or "none",
            "repeat": args.repeat,
        },
    )
    with Emulator(args.repos, args.images) as emulator:
        shape = namespace_shape(emulator)
        runs = [one_run(engine, emulator, args.batch_size) for _ in range(args.repeat)]
    least = minimum(shape, runs[0]["groups"], args.batch_size)
    least_total = sum(least.values())
    first = runs[0]
    print(f"  {'endpoint':<14} {'calls':>7} {'minimum':>8}")
    for endpoint in sorted(set(least) | set(first["by_endpoint"])):
        made = first["by_endpoint"].get(endpoint, 0)
        print(f"  {endpoint:<14} {made:>7,} {least.get(endpoint, 0):>8,}")
    record = first["record"]
    report.parameters["run"] = (
        f"{record.status}; {record.metrics.images_scanned:,} images, "
        f"{record.metrics.planned_deletes:,} planned in {len(first['groups'])} "
        f"repository x entry groups, {record.metrics.would_delete:,} would delete, "
        f"{record.metrics.skipped_by_warning:,} skipped by a warning"
    )
    report.add("minimum calls", least_total, "")
    report.add("calls made (janitor's count)", [r["client_calls"] for r in runs], "")
    report.add("calls made (emulator's log)", [r["server_calls"] for r in runs], "")
    ratios = [r["server_calls"] / least_total for r in runs]
    report.add(
        "ratio made / minimum",
        ratios,
        "x",
        target=f"<= {TARGET_RATIO}x",
        ok=max(ratios) <= TARGET_RATIO,
    )
    report.add("answers 429", [r["server_429"] for r in runs], "")
    report.finish()


if __name__ == "__main__":
    main()
