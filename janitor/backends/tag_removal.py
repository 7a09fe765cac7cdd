"""Removing tags from images that stay (``action: untag``), the same on both backends.

Hub's tag DELETE (:func:`janitor.hub.tags.delete_tag`, which finds the path Hub serves) removes
one tag; the image stays. Before any of a repository's tags goes, janitor reads the repository's
tags listing afresh and removes a tag only while it still points at the image the plan saw; a
tag that moved or is gone, or whose removal would now leave the image without any tag when the
plan did not allow that, is skipped with the reason. A dry run stops after that check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from janitor.hub.client import HubClient
from janitor.hub.errors import HubError
from janitor.hub.tags import delete_tag
from janitor.units import short_digest

RemovalOutcome = Literal["untagged", "would_untag", "skipped", "error", "unconfirmed"]


@dataclass(frozen=True, slots=True)
class TagRemoval:
    """What to remove from one image: ``tags`` (current at plan time); ``last_allowed``: the
    plan removes every tag the image had, as ``allow_last_tag: true`` allows."""

    digest: str
    tags: tuple[str, ...]
    last_allowed: bool = False


@dataclass(frozen=True, slots=True)
class RemovedTag:
    digest: str
    tag: str
    outcome: RemovalOutcome
    detail: str


def remove_tags(
    client: HubClient,
    namespace: str,
    repository: str,
    wanted: Sequence[TagRemoval],
    *,
    dry_run: bool,
) -> tuple[list[RemovedTag], HubError | None]:
    """Remove the tags of ``wanted`` from ``namespace/repository``, after a fresh check of each:
    what happened to each tag, and the failure that stopped it (the rest is not attempted)."""
    points: dict[str, str | None] = {}
    tags_of: dict[str | None, set[str]] = {}
    for listed in client.list_tags(namespace, repository):
        points[listed.name] = listed.digest
        tags_of.setdefault(listed.digest, set()).add(listed.name)
    out: list[RemovedTag] = []
    for item in wanted:
        still = [t for t in item.tags if points.get(t) == item.digest]
        for tag in item.tags:
            if tag not in still:
                now = points.get(tag)
                where = (
                    "is gone" if tag not in points else f"now points at {short_digest(now or '?')}"
                )
                out.append(RemovedTag(item.digest, tag, "skipped", f"skipped: tag '{tag}' {where}"))
        if still and not item.last_allowed and set(still) >= tags_of.get(item.digest, set()):
            out.extend(
                RemovedTag(
                    item.digest,
                    tag,
                    "skipped",
                    f"skipped: removing '{tag}' now would leave the image without a tag "
                    "(allow_last_tag: true allows it)",
                )
                for tag in still
            )
            continue
        for tag in still:
            if dry_run:
                out.append(RemovedTag(item.digest, tag, "would_untag", f"would remove tag '{tag}'"))
                continue
            try:
                removed = delete_tag(client, namespace, repository, tag, confirmed=True)
            except HubError as exc:
                outcome: RemovalOutcome = "unconfirmed" if exc.maybe_applied else "error"
                out.append(
                    RemovedTag(item.digest, tag, outcome, f"removing tag '{tag}' failed: {exc}")
                )
                return out, exc
            if removed:
                out.append(RemovedTag(item.digest, tag, "untagged", f"removed tag '{tag}'"))
            else:
                out.append(RemovedTag(item.digest, tag, "skipped", f"skipped: tag '{tag}' is gone"))
    return out, None
