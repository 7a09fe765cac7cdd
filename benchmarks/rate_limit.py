"""Benchmark 2: a dry run under Hub's rate limit, scaled down so it needs several windows.

The emulator (its own process) allows ``--limit`` requests per ``--window`` seconds per token
(default 120 per 10 s, i.e. 720 a minute), with Hub's ``X-RateLimit-*`` headers; janitor makes a
dry run of the typical policy through ``run_once`` on a namespace that needs about a minute of
calls at that rate. Targets: no 429 answer at all, and a run that takes at most 1.1x the time
the calls need at the limit (calls / limit x window).

Windows are fixed and aligned (as the emulator's are): a run that starts late in a window gets
that window's full allowance early, so the ratio may come out below 1.

    python benchmarks/rate_limit.py [--repos 30] [--images 1000] [--limit 120] [--window 10]
"""

from __future__ import annotations

import argparse
import tempfile
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
    settings,
    typical_policy,
)

from janitor.hub.client import HubClient
from janitor.store import Store

TARGET_RATIO = 1.1


def one_run(engine: ModuleType, emulator: Emulator, limit: int, window: float) -> dict[str, Any]:
    clients: list[HubClient] = []

    def factory() -> HubClient:
        client = hub_client(emulator.url)
        clients.append(client)
        return client

    before = len(emulator.request_log())
    with tempfile.TemporaryDirectory(prefix="janitor-bench-") as folder:
        conf = settings(emulator.url, Path(folder))
        store = Store(conf.database_url)
        try:
            store.ensure_schema()
            ctx = engine.RunContext(settings=conf, store=store, hub_factory=factory)
            with measure() as m:
                record = engine.run_once(ctx, typical_policy(), trigger="manual", dry_run=True)
        finally:
            store.close()
    log = emulator.request_log()[before:]
    logins = sum(1 for e in log if e["path"] in ("/v2/auth/token", "/v2/users/login"))
    paced = len(log) - logins  # logins count against the caller's address, not the token
    ideal = paced / limit * window
    return {
        "record": record,
        "wall": m.wall,
        "calls": paced,
        "server_429": sum(1 for e in log if e["status"] == 429),
        "client_429": sum(c.stats.rate_limited for c in clients),
        "ideal": ideal,
        "ratio": m.wall / ideal,
    }


def main() -> None:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--repos", type=int, default=30)
        p.add_argument("--images", type=int, default=1000)
        p.add_argument("--limit", type=int, default=120)
        p.add_argument("--window", type=float, default=10.0)
        add_patch_argument(p)

    args = arguments(__doc__.splitlines()[0], add)
    engine = load_engine(args.patch)
    report = Report(
        "rate_limit",
        {
            "namespace": f"{args.repos} repositories x {args.images} images",
            "limit": f"{args.limit} requests per {args.window:g} s window per token",
            "policy": "typical (benchmarks/common.py), dry run",
            "proposed changes": ", ".join(p.name for p in args.patch) or "none",
            "repeat": args.repeat,
        },
    )
    runs = []
    with Emulator(args.repos, args.images, rate_limit=args.limit, rate_window=args.window) as emu:
        for _ in range(args.repeat):
            run = one_run(engine, emu, args.limit, args.window)
            runs.append(run)
            print(
                f"  {run['record'].status}: {run['calls']:,} calls in {run['wall']:.1f} s "
                f"(at the limit: {run['ideal']:.1f} s), {run['server_429']} answered 429",
                flush=True,
            )
    report.add("calls under the limit", [r["calls"] for r in runs], "")
    report.add("time the calls need at the limit", [r["ideal"] for r in runs], "s")
    report.add("run wall time", [r["wall"] for r in runs], "s")
    ratios = [r["ratio"] for r in runs]
    report.add(
        "ratio wall / time at the limit",
        ratios,
        "x",
        target=f"<= {TARGET_RATIO}x",
        ok=max(ratios) <= TARGET_RATIO,
    )
    answered_429 = [r["server_429"] for r in runs]
    report.add(
        "answers 429 (emulator's log)", answered_429, "", target="0", ok=max(answered_429) == 0
    )
    report.add("429 seen by janitor", [r["client_429"] for r in runs], "")
    failed = [r["record"] for r in runs if r["record"].status != "succeeded"]
    for record in failed:
        report.note(f"run {record.id} {record.status}: {record.error}")
    report.finish()


if __name__ == "__main__":
    main()
