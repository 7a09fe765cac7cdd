"""Words and tones for run states: every status is written out, color only repeats it."""

from __future__ import annotations

from dataclasses import dataclass

# "ok" | "bad" | "warn" | "info" | "muted" | "strong": the CSS class suffix of a badge or banner
Tone = str


@dataclass(frozen=True, slots=True)
class StatusLabel:
    word: str
    tone: Tone
    meaning: str


_STATUS: dict[str, StatusLabel] = {
    "succeeded": StatusLabel("SUCCEEDED", "ok", "the run finished"),
    "failed": StatusLabel("FAILED", "bad", "the run stopped on an error"),
    "interrupted": StatusLabel(
        "INTERRUPTED", "warn", "the process stopped before the run finished"
    ),
    "running": StatusLabel(
        "STILL RUNNING", "info", "this report was written before the run finished"
    ),
    "skipped": StatusLabel("SKIPPED", "muted", "the run did not start"),
}


def status_label(status: str) -> StatusLabel:
    return _STATUS.get(status, StatusLabel(status.upper(), "muted", "unknown state"))


def mode_label(dry_run: bool) -> StatusLabel:
    if dry_run:
        return StatusLabel("DRY RUN", "info", "nothing was deleted")
    return StatusLabel("DELETE", "strong", "images were deleted for real")
