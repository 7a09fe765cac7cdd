#!/usr/bin/env python3
"""Check what the README's first command (`janitor demo`) left behind, the way a user would see
it: `janitor runs list --json` shows one recorded, succeeded dry run per example policy, and each
run's HTML report (and its text twin) exists where the demo said.

    python .ci/check_demo.py DEMO_OUTPUT_FILE

Runs the `janitor` found on PATH, with the environment it is given (JANITOR_DATA_DIR: where the
demo wrote). Exit 0 when all holds, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path


def problems(demo_output: str, runs: list[dict[str, object]]) -> list[str]:
    found: list[str] = []
    announced = re.search(r"^dry run of (\d+) policies from ", demo_output, re.MULTILINE)
    if announced is None:
        return ["the demo's output does not say how many policies it ran"]
    expected = int(announced[1])
    if expected < 1:
        found.append("the demo ran no policy")
    if len(runs) != expected:
        found.append(f"`janitor runs list` shows {len(runs)} runs, the demo ran {expected}")
    printed = set(re.findall(r"^report: (.+)$", demo_output, re.MULTILINE))
    for run in runs:
        name = f"run {run.get('run_id')} ({run.get('policy')})"
        if (run.get("status"), run.get("dry_run"), run.get("trigger")) != (
            "succeeded",
            True,
            "demo",
        ):
            found.append(f"{name}: {run.get('status')}, dry_run={run.get('dry_run')}, "
                         f"trigger={run.get('trigger')}, error={run.get('error')}")  # fmt: skip
        report = run.get("report")
        if not isinstance(report, str):
            found.append(f"{name}: no report recorded")
            continue
        html = Path(report)
        for path in (html, html.with_suffix(".txt")):
            if not path.is_file() or path.stat().st_size == 0:
                found.append(f"{name}: report {path} is missing or empty")
        if report not in printed:
            found.append(f"{name}: the demo did not print its report {report}")
    if not any(int(run["metrics"]["would_delete"]) > 0 for run in runs):  # type: ignore[index]
        found.append("no demo run would delete anything: the sample lost its point")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write(__doc__ or "")
        return 2
    demo_output = Path(argv[1]).read_text(encoding="utf-8")
    listed = subprocess.run(
        ["janitor", "runs", "list", "--json", "--limit", "1000"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if listed.returncode != 0:
        sys.stderr.write(f"`janitor runs list --json` failed: {listed.stderr}")
        return 1
    runs = json.loads(listed.stdout)
    found = problems(demo_output, runs)
    for problem in found:
        sys.stderr.write(f"demo check: {problem}\n")
    if not found:
        sys.stdout.write(f"demo check: {len(runs)} runs recorded, their reports exist\n")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
