"""Human-readable sizes and times, shared by the CLI and the reports."""

from __future__ import annotations

from datetime import datetime


def human_bytes(size: int | None) -> str:
    if size is None:
        return "unknown"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def short_time(moment: datetime | None, *, never: str = "never") -> str:
    if moment is None:
        return never
    return moment.strftime("%Y-%m-%d %H:%M")


def short_digest(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest[:19]
