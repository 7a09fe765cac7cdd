"""Benchmark: evaluate 1,000 repositories x 1,000 images with a typical policy; print figures.

Not a test (no timed assertions in tests). Run from the repository root:
``PYTHONPATH=. python tests/policy/bench_evaluate.py [repositories] [images] [--whole]``.
Inventories are generated deterministically (70% untagged old CI builds, pr-*, latest/main,
semver and release tags, 40% never pulled); only the CPU time spent judging is counted.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from janitor.hub.models import Image, Repository, RepositoryInventory, TagRef
from janitor.policy import check_limits, evaluate, evaluate_repository, parse_policy

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POLICY = """\
name: bench
namespace: acme
select:
  - name: untagged-and-cold
    currently_tagged: false
    last_pushed: {older_than: 30d}
    last_pulled: {older_than: 30d, never: match}
  - name: old-pr-builds
    tags: ["pr-*"]
    last_pushed: {older_than: 14d, newer_than: 2y}
    current_tag: delete
keep:
  - most_recent: 5
  - tags: ["latest", "stable", "re:^v?\\\\d+\\\\.\\\\d+\\\\.\\\\d+$"]
  - tags: ["release-*"]
    most_recent: 3
  - pulled_within: 7d
limits: {max_deletes: 1000000, max_fraction_per_repository: 0.9}
"""


def inventory(rng: random.Random, index: int, size: int) -> RepositoryInventory:
    name = f"repo-{index}"
    images = []
    for i in range(size):
        roll = rng.random()
        if roll < 0.70:
            tags: tuple[TagRef, ...] = (TagRef(f"sha-{index}-{i}", False),)
        elif roll < 0.85:
            tags = (TagRef(f"pr-{rng.randrange(10_000)}", True),)
        elif roll < 0.90:
            tags = (TagRef(rng.choice(["latest", "main", "stable"]), True),)
        elif roll < 0.95:
            tags = (TagRef(f"v1.{i % 50}.{rng.randrange(20)}", True),)
        else:
            tags = (TagRef(f"release-{i}", True), TagRef("nightly", True))
        pushed = NOW - timedelta(seconds=rng.randrange(3 * 365 * 86400))
        pulled = None if rng.random() < 0.4 else NOW - timedelta(seconds=rng.randrange(400 * 86400))
        images.append(Image("acme", name, f"sha256:{index:08x}{i:056x}", tags, pushed, pulled))
    return RepositoryInventory(Repository("acme", name), tuple(images))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repositories", type=int, nargs="?", default=1000)
    parser.add_argument("images", type=int, nargs="?", default=1000)
    parser.add_argument(
        "--whole",
        action="store_true",
        help="build every inventory first and time one evaluate() over all (the plan is kept)",
    )
    args = parser.parse_args()
    policy = parse_policy(POLICY, "bench.yaml")
    rng = random.Random(7)
    images = args.repositories * args.images
    if args.whole:
        inventories = [inventory(rng, i, args.images) for i in range(args.repositories)]
        start = time.process_time()
        plan = evaluate(inventories, policy, NOW)
        cpu = time.process_time() - start
        deletes = len(plan.to_delete)
        violations = len(plan.violations)
    else:  # streaming, as the engine does: one repository at a time, plans not kept
        cpu = 0.0
        counts = []
        deletes = 0
        for index in range(args.repositories):
            inv = inventory(rng, index, args.images)
            start = time.process_time()
            repository_plan = evaluate_repository(inv, policy, NOW)
            cpu += time.process_time() - start
            n_delete = sum(1 for d in repository_plan.decisions if d.verdict == "delete")
            deletes += n_delete
            counts.append((repository_plan.repository, len(repository_plan.decisions), n_delete))
        start = time.process_time()
        violations = len(check_limits(counts, policy))
        cpu += time.process_time() - start
    mode = "whole plan" if args.whole else "streaming"
    print(f"{mode}: images judged: {images:,}; to delete: {deletes:,}; violations: {violations}")  # noqa: T201
    print(f"evaluate CPU: {cpu:.2f} s ({cpu / images * 1e6:.2f} us per image)")  # noqa: T201


if __name__ == "__main__":
    main()
