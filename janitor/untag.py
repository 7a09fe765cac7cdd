"""Run the tag removals of ``action: untag`` entries, after a run's deletes, and record them.

The image stays, so its run item keeps the outcome ``kept``: the removed tags are its detail and
``untagged`` (``would_untag`` in a dry run) its code. A tag skipped by the fresh check makes the
item ``skipped_warning`` (code ``untag_skipped``); a failed tag DELETE makes it ``error`` and
stops the run (a DELETE that may have been applied is never sent again). The same limits as the
deletes apply (``max_deletes`` counts every tag removed), checked before the first delete.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from janitor.backends import Backend
from janitor.backends.tag_removal import RemovedTag, TagRemoval
from janitor.records import UNTAGGED, WOULD_UNTAG, Outcome, OutcomeRow

PlannedUntags = list[tuple[str, list[TagRemoval]]]
"""(repository, the removals planned in it)."""

_RANK = {"untagged": 0, "would_untag": 0, "skipped": 1, "error": 2, "unconfirmed": 2}


def removal_of(digest: str, tags: Sequence[str], current: Sequence[str]) -> TagRemoval:
    """The removal a plan asks for: ``last_allowed`` when it removes every current tag (only an
    ``allow_last_tag: true`` entry plans that)."""
    return TagRemoval(digest, tuple(tags), last_allowed=set(tags) >= set(current))


def run_untags(
    backend: Backend,
    namespace: str,
    planned: PlannedUntags,
    *,
    dry_run: bool,
    sink: Callable[[Sequence[OutcomeRow]], None],
    stop: threading.Event,
) -> str | None:
    """Remove the planned tags repository by repository; the failure that stopped it, if any."""
    for index, (repository, wanted) in enumerate(planned):
        if stop.is_set():
            skip_untags(planned[index:], "janitor was asked to stop first", sink)
            return None
        done, failure = backend.remove_tags(namespace, repository, wanted, dry_run=dry_run)
        sink(_rows(repository, done))
        if failure is not None:
            reached = {r.digest for r in done}
            rest = [w for w in wanted if w.digest not in reached]
            skip_untags([(repository, rest), *planned[index + 1 :]], f"{failure}", sink)
            return f"tag removal in {repository} failed: {failure}"
    return None


def skip_untags(
    planned: PlannedUntags, reason: str, sink: Callable[[Sequence[OutcomeRow]], None]
) -> None:
    """Record that the planned removals were not attempted (the images stay as they are)."""
    rows: list[OutcomeRow] = [
        (repository, w.digest, "kept", f"tags not removed ({', '.join(w.tags)}): {reason}", None)
        for repository, wanted in planned
        for w in wanted
    ]
    if rows:
        sink(rows)


def _rows(repository: str, done: Sequence[RemovedTag]) -> list[OutcomeRow]:
    """One row per image: its worst outcome, every tag's detail."""
    by_image: dict[str, list[RemovedTag]] = {}
    for removed in done:
        by_image.setdefault(removed.digest, []).append(removed)
    rows: list[OutcomeRow] = []
    for digest, removals in by_image.items():
        worst = max(removals, key=lambda r: _RANK[r.outcome]).outcome
        outcome: Outcome
        code: str | None
        if worst in ("untagged", "would_untag"):
            outcome, code = "kept", UNTAGGED if worst == "untagged" else WOULD_UNTAG
        elif worst == "skipped":
            outcome, code = "skipped_warning", "untag_skipped"
        else:
            outcome, code = "error", None
        rows.append((repository, digest, outcome, "; ".join(r.detail for r in removals), code))
    return rows
