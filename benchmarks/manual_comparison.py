"""Benchmark 6: janitor against cleaning Docker Hub by hand, on the same namespace.

The way people clean Hub today is a script that lists every repository's tags page by page
(``GET /v2/namespaces/{ns}/repositories/{repo}/tags``) and sends one
``DELETE /v2/namespaces/{ns}/repositories/{repo}/tags/{tag}`` per tag it wants gone. Here that
script removes the ``pr-*`` tags last pushed more than 14 days ago, one request at a time, as
such scripts do. janitor runs the same selection as a policy (``tags: ["pr-*"]``, ``last_pushed
older_than 14d``, ``current_tag: delete``) with ``--apply`` through ``run_once``: it lists
images and tags, asks Hub's dry run, then deletes with ``delete-images``, 100 images a call.

Each side gets its own emulator process with the same generated namespace (same seed). What the
two leave behind differs, and is printed: the manual way only untags (the images stay stored
and still count against storage: freeing them takes one registry ``DELETE`` per manifest more),
and it also untags images pulled in the last 14 days, which janitor skips (Hub's ``is_active``
warning for the entry's cutoff).

    python benchmarks/manual_comparison.py [--repos 50] [--images 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from common import (
    HTTP_TIMEOUT,
    NAMESPACE,
    Emulator,
    Report,
    add_patch_argument,
    arguments,
    hub_client,
    load_engine,
    measure,
    settings,
)

from janitor.emulator.state import BENCH_TOKEN, BENCH_USERNAME
from janitor.hub.client import HubClient
from janitor.policy import parse_policy
from janitor.store import Store

POLICY = """\
name: pr-builds
namespace: {namespace}
mode: delete
select:
  - name: old-pr-builds
    tags: ["pr-*"]
    last_pushed: {{older_than: 14d}}
    current_tag: delete
limits: {{max_deletes: 10000000, max_fraction_per_repository: 1.0}}
"""
AGE = timedelta(days=14)


def stored(emulator: Emulator) -> tuple[int, int]:
    """(images, current tags) the emulator holds for the namespace (admin API, not counted)."""
    answer = httpx.get(f"{emulator.url}/_emulator/state/{NAMESPACE}", timeout=120)
    answer.raise_for_status()
    images = tags = 0
    for body in answer.json()["namespaces"][NAMESPACE]["repositories"].values():
        images += len(body["images"])
        tags += sum(1 for i in body["images"] for t in i["tags"] if t["is_current"])
    return images, tags


def _pages(http: httpx.Client, url: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        answer = http.get(next_url)
        answer.raise_for_status()
        body = answer.json()
        results.extend(body["results"])
        next_url = body.get("next")
    return results


def manual(url: str) -> dict[str, Any]:
    """The hand-written script: list tags, delete them one by one."""
    cutoff = datetime.now(UTC) - AGE
    sent: list[httpx.Request] = []
    deleted = 0
    hooks = {"request": [sent.append]}
    with (
        httpx.Client(base_url=url, timeout=HTTP_TIMEOUT, event_hooks=hooks) as http,
        measure() as m,
    ):
        login = http.post(
            "/v2/auth/token", json={"identifier": BENCH_USERNAME, "secret": BENCH_TOKEN}
        )
        login.raise_for_status()
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        base = f"{url}/v2/namespaces/{NAMESPACE}/repositories"
        for repository in _pages(http, f"{base}?page_size=100"):
            name = repository["name"]
            tags = _pages(http, f"{base}/{name}/tags?page_size=100")
            doomed = [
                t["name"]
                for t in tags
                if fnmatchcase(t["name"], "pr-*")
                and t.get("tag_last_pushed")
                and datetime.fromisoformat(t["tag_last_pushed"]) <= cutoff
            ]
            for tag in doomed:
                answer = http.delete(f"{base}/{name}/tags/{tag}")
                answer.raise_for_status()
                deleted += 1
    return {"wall": m.wall, "cpu": m.cpu, "calls": len(sent), "tags_deleted": deleted}


def with_janitor(engine: ModuleType, url: str) -> dict[str, Any]:
    clients: list[HubClient] = []

    def factory() -> HubClient:
        client = hub_client(url)
        clients.append(client)
        return client

    policy = parse_policy(POLICY.format(namespace=NAMESPACE), "pr-builds.yaml")
    with tempfile.TemporaryDirectory(prefix="janitor-bench-") as folder:
        conf = settings(url, Path(folder))
        store = Store(conf.database_url)
        try:
            store.ensure_schema()
            ctx = engine.RunContext(settings=conf, store=store, hub_factory=factory)
            with measure() as m:
                record = engine.run_once(ctx, policy, trigger="manual", dry_run=False)
        finally:
            store.close()
    return {
        "wall": m.wall,
        "cpu": m.cpu,
        "calls": sum(c.stats.calls for c in clients),
        "record": record,
    }


def main() -> None:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repos", type=int, default=50)
        p.add_argument("--images", type=int, default=300)
        add_patch_argument(p)

    args = arguments(__doc__.splitlines()[0], add)
    engine = load_engine(args.patch)
    report = Report(
        "manual_comparison",
        {
            "namespace": f"{args.repos} repositories x {args.images} images, same seed each side",
            "selection": "pr-* tags last pushed more than 14 days ago",
            "proposed changes": ", ".join(p.name for p in args.patch) or "none",
            "repeat": args.repeat,
        },
    )
    manual_runs, janitor_runs = [], []
    for _ in range(args.repeat):
        with Emulator(args.repos, args.images) as emulator:
            start = stored(emulator)
            run = manual(emulator.url)
            run["left"] = stored(emulator)
            manual_runs.append(run)
        with Emulator(args.repos, args.images) as emulator:
            run = with_janitor(engine, emulator.url)
            run["left"] = stored(emulator)
            janitor_runs.append(run)
    first_manual, first_janitor = manual_runs[0], janitor_runs[0]
    record = first_janitor["record"]
    report.parameters["namespace holds"] = f"{start[0]:,} images, {start[1]:,} current tags"
    report.parameters["manual leaves"] = (
        f"{first_manual['left'][0]:,} images, {first_manual['left'][1]:,} current tags "
        f"({first_manual['tags_deleted']:,} tags deleted, no image)"
    )
    report.parameters["janitor leaves"] = (
        f"{first_janitor['left'][0]:,} images, {first_janitor['left'][1]:,} current tags "
        f"({record.metrics.deleted:,} images deleted with {record.hub_metrics.tag_deletes:,} "
        f"tags, {record.metrics.skipped_by_warning:,} skipped as pulled since the cutoff; "
        f"run {record.status})"
    )
    report.add("manual: calls", [r["calls"] for r in manual_runs], "")
    report.add("janitor --apply: calls", [r["calls"] for r in janitor_runs], "")
    report.add(
        "calls: manual / janitor",
        [m["calls"] / j["calls"] for m, j in zip(manual_runs, janitor_runs, strict=True)],
        "x",
        better="higher",
    )
    report.add("manual: wall", [r["wall"] for r in manual_runs], "s")
    report.add("janitor --apply: wall", [r["wall"] for r in janitor_runs], "s")
    report.add("janitor --apply: CPU", [r["cpu"] for r in janitor_runs], "s")
    report.note(
        "the emulator has the tag DELETE endpoint (janitor/emulator/api/tags_delete.py): the "
        "manual way's deletes are real calls, timed, not estimated"
    )
    report.finish()


if __name__ == "__main__":
    main()
