"""Human-readable sizes, times and digests: the one formatter of each, shared by the CLI, the
plan, the reports, the JSON output and the service."""

from __future__ import annotations

from datetime import UTC, datetime

_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def human_bytes(size: int | None) -> str:
    """``1536`` -> ``1.5 KiB`` (binary units: Hub's sizes are bytes); None -> ``unknown``."""
    if size is None:
        return "unknown"
    if abs(size) < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        if abs(value) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (``2026-12-06T13:24:00Z``); None stays None."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def short_time(moment: datetime | None, *, never: str = "never") -> str:
    if moment is None:
        return never
    return moment.strftime("%Y-%m-%d %H:%M")


def short_digest(digest: str) -> str:
    """``sha256:0123456789ab`` (the algorithm and the first 12 hex digits)."""
    algorithm, sep, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if sep else digest[:19]
