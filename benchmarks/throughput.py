"""Benchmark 3: listing and evaluating 1,000 repositories x 1,000 images (a million images).

Part 1, over HTTP: the emulator serves the namespace from its own process; janitor lists it
the way a run does (``iter_inventory``: repositories, then per repository its images and its
tags, ``concurrency`` threads, repositories yielded in order and dropped once judged) and
judges each repository with the typical policy (``evaluate_repository``). Printed: wall time,
janitor's CPU time (every thread of this process), the emulator's CPU time apart, images/s,
Hub calls and this process's peak RSS.

Part 2, in memory: the same million images built as ``Image`` values up front (not timed),
then judged by one ``evaluate()`` over all of them, the plan kept, and again repository by
repository (``evaluate_repository``, as ``run_once`` does): CPU time against the target of
10 s. Part 1 runs first, so its peak RSS is not inflated by part 2's inventory. (This part
supersedes ``tests/policy/bench_evaluate.py``, which judges synthetic inventories of its own.)

    python benchmarks/throughput.py [--repos 1000] [--images 1000] [--concurrency 4]
                                    [--repeat 1] [--skip-http] [--skip-memory]
"""

from __future__ import annotations

import argparse
import gc
from datetime import UTC, datetime

from common import (
    NAMESPACE,
    Emulator,
    Report,
    arguments,
    hub_client,
    measure,
    peak_rss_mb,
    typical_policy,
)

from janitor.emulator.generate import generate_state
from janitor.hub.inventory import iter_inventory
from janitor.hub.models import Image, Repository, RepositoryInventory, TagRef
from janitor.policy import evaluate, evaluate_repository

EVALUATE_TARGET_CPU = 10.0


def list_and_evaluate(url: str, concurrency: int) -> dict[str, float]:
    policy = typical_policy()
    now = datetime.now(UTC)
    images = deletes = 0
    with hub_client(url) as client, measure() as m:
        for inventory in iter_inventory(
            client, NAMESPACE, repositories=policy.covers, concurrency=concurrency
        ):
            plan = evaluate_repository(inventory, policy, now)
            images += len(plan.decisions)
            deletes += sum(1 for d in plan.decisions if d.verdict == "delete")
        calls = client.stats.calls
    return {"wall": m.wall, "cpu": m.cpu, "images": images, "deletes": deletes, "calls": calls}


def memory_inventory(repos: int, images: int) -> tuple[list[RepositoryInventory], datetime]:
    """The emulator's generated namespace as janitor's values, without HTTP."""
    now = datetime.now(UTC)
    state = generate_state(namespace=NAMESPACE, repos=repos, images=images, now=now)
    out = []
    for name in sorted(state.namespaces[NAMESPACE].repositories):
        listed = state.images(NAMESPACE, name)
        out.append(
            RepositoryInventory(
                Repository(NAMESPACE, name),
                tuple(
                    Image(
                        namespace=NAMESPACE,
                        repository=name,
                        digest=s.digest,
                        tags=tuple(TagRef(t.tag, t.is_current) for t in s.tags),
                        last_pushed=s.last_pushed,
                        last_pulled=s.last_pulled,
                        status=None,
                        size=s.size,
                        children=tuple(p.digest for p in s.platforms),
                    )
                    for s in listed
                ),
            )
        )
    return out, now


def main() -> None:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repos", type=int, default=1000)
        p.add_argument("--images", type=int, default=1000)
        p.add_argument("--concurrency", type=int, default=4)
        p.add_argument("--skip-http", action="store_true")
        p.add_argument("--skip-memory", action="store_true")

    args = arguments(__doc__.splitlines()[0], add)
    total = args.repos * args.images
    report = Report(
        "throughput",
        {
            "namespace": f"{args.repos:,} repositories x {args.images:,} images = {total:,}",
            "concurrency": args.concurrency,
            "repeat": args.repeat,
        },
    )
    if not args.skip_http:
        runs = []
        with Emulator(args.repos, args.images) as emulator:
            for _ in range(args.repeat):
                emulator_cpu = emulator.cpu_seconds()
                result = list_and_evaluate(emulator.url, args.concurrency)
                result["emulator_cpu"] = emulator.cpu_seconds() - emulator_cpu
                runs.append(result)
                print(
                    f"  listed and judged {result['images']:,.0f} images in {result['wall']:.1f} s"
                    f" (janitor CPU {result['cpu']:.1f} s, emulator CPU "
                    f"{result['emulator_cpu']:.1f} s, {result['calls']:,.0f} calls)",
                    flush=True,
                )
            emulator_rss = emulator.peak_rss_mb()
        rss = peak_rss_mb()
        report.add("list + evaluate: wall", [r["wall"] for r in runs], "s")
        report.add("list + evaluate: janitor CPU", [r["cpu"] for r in runs], "s")
        report.add(
            "list + evaluate: images/s",
            [r["images"] / r["wall"] for r in runs],
            "images/s",
            better="higher",
        )
        report.add(
            "list + evaluate: janitor CPU per image",
            [r["cpu"] / r["images"] * 1e6 for r in runs],
            "us",
        )
        report.add("emulator CPU (its own process)", [r["emulator_cpu"] for r in runs], "s")
        report.add("Hub calls", [r["calls"] for r in runs], "")
        report.add("images planned for deletion", [r["deletes"] for r in runs], "")
        report.add("list + evaluate: janitor peak RSS", rss, "MB", target="< 300 MB", ok=rss < 300)
        report.add("emulator peak RSS (its own process)", emulator_rss, "MB")
    if not args.skip_memory:
        inventories, now = memory_inventory(args.repos, args.images)
        policy = typical_policy()
        cpus, streaming = [], []
        for _ in range(args.repeat):
            gc.collect()
            with measure() as m:
                plan = evaluate(inventories, policy, now)
            cpus.append(m.cpu)
            judged = sum(len(r.decisions) for r in plan.repositories)
            del plan
            gc.collect()
            with measure() as m:  # as run_once judges: one repository at a time, plans dropped
                for inventory in inventories:
                    evaluate_repository(inventory, policy, now)
            streaming.append(m.cpu)
        report.add(
            f"evaluate {judged:,} images in memory: CPU",
            cpus,
            "s",
            target=f"< {EVALUATE_TARGET_CPU:.0f} s",
            ok=max(cpus) < EVALUATE_TARGET_CPU,
        )
        report.add("evaluate in memory: CPU per image", [c / judged * 1e6 for c in cpus], "us")
        report.add(
            "evaluate_repository, one repository at a time: CPU",
            streaming,
            "s",
            target=f"< {EVALUATE_TARGET_CPU:.0f} s",
            ok=max(streaming) < EVALUATE_TARGET_CPU,
        )
    report.finish()


if __name__ == "__main__":
    main()
