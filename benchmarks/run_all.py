"""Run every benchmark in sequence, each in its own process, and print a summary table.

Each script prints its own figures as it goes; at the end this prints every figure with its
target and whether it was met, and exits 1 when a target was missed. ``--patch DIFF`` is passed
on to the benchmarks that run the engine (memory, api_calls, rate_limit, manual_comparison), to
measure proposed changes (``benchmarks/proposed/*.diff``) on a copy.

    python benchmarks/run_all.py [--only NAME ...] [--patch DIFF ...]

The whole set takes about ten minutes on 2 cores (throughput and memory a few minutes each).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("api_calls", "rate_limit", "throughput", "memory", "store", "manual_comparison")
TAKES_PATCHES = frozenset({"api_calls", "rate_limit", "memory", "manual_comparison"})
TIMEOUT = 900.0


def run(name: str, patches: list[Path]) -> dict[str, Any] | None:
    command = [sys.executable, str(HERE / f"{name}.py")]
    if name in TAKES_PATCHES:
        for patch in patches:
            command += ["--patch", str(patch)]
    print(f"\n### {name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    result: dict[str, Any] | None = None
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                if line.startswith("BENCH-RESULT "):
                    result = json.loads(line[len("BENCH-RESULT ") :])
                else:
                    print(line, end="", flush=True)
            process.wait(timeout=TIMEOUT)
        except BaseException:
            process.kill()
            raise
    print(f"### {name}: {time.monotonic() - started:.0f} s, exit {process.returncode}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--patch", type=Path, action="append", default=[], metavar="DIFF")
    args = parser.parse_args()
    results = {name: run(name, args.patch) for name in args.only}
    print("\n== summary ==")
    rows = [("benchmark", "figure", "value", "target", "")]
    for name, result in results.items():
        if result is None:
            rows.append((name, "(no result: the script failed)", "", "", "FAILED"))
            continue
        for figure in result["figures"]:
            value = figure["median"]
            shown = f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
            verdict = "" if figure["ok"] is None else ("OK" if figure["ok"] else "MISSED")
            rows.append(
                (
                    name,
                    figure["name"],
                    f"{shown} {figure['unit']}".strip(),
                    figure["target"] or "",
                    verdict,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    missed = [r for r in rows if r[4] in ("MISSED", "FAILED")]
    print(f"\n{len(missed)} target(s) missed" if missed else "\nevery target met")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
