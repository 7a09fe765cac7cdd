"""Untagged images on today's Hub: a repository's tags listing joined with Hub's manifests
listing (``GET .../repositories/{repo}/manifests``), where Hub serves it.

The join follows the delete-images backend's semantics: an image is a top-level manifest with
its current tags, ``last_pushed`` and ``last_pulled`` (``None``: never pulled); a platform
manifest an index lists is never an image of its own: it is judged with its index, its times
counting for the index (the safe direction for retention). An index's children are those the
tags listing's ``images[]`` shows for its tags; an untagged index's children are read only when
it is about to be deleted (a GET is a pull on Hub), so a platform manifest of an untagged index
that stays may be listed as an untagged image. janitor does not count on the registry refusing
to delete it: while an untagged index stays in a repository, no untagged manifest of that
repository is deleted (``RegistryBackend``'s check, error ``index_unread``).

The two listings are read one after the other, so they are checked against each other before
anything is planned from them: every current tag must sit on the row of the digest it points at,
and no row may carry a tag the tags listing lacks (``disagreement``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Literal

from janitor.hub.client import HubClient
from janitor.hub.errors import HubError, HubForbidden, HubNotFound, UnknownShape
from janitor.hub.models import Image, ManifestRow

__all__ = ["disagreement", "forget_manifests_probes", "join", "manifests_served"]

log = logging.getLogger("janitor.backends")

_NOT_SERVED = frozenset({403, 404, 405, 410})
_lock = threading.Lock()
Probe = Literal["served", "absent", "not understood"]
_probed: dict[tuple[str, str], tuple[Probe, str]] = {}
_probing: dict[tuple[str, str], threading.Lock] = {}


def forget_manifests_probes() -> None:
    with _lock:
        _probed.clear()
        _probing.clear()


def manifests_served(client: HubClient, namespace: str, repository: str) -> tuple[Probe, str]:
    """Whether Hub serves the manifests listing in ``namespace``, and why janitor thinks so:
    probed once per Hub URL and namespace and process (as the image-management API is), on the
    first repository janitor reads. 403, 404, 405 and 410 mean ``absent``; an answer in a shape
    janitor does not understand means ``not understood``; other failures are raised and not
    cached."""
    key = (client.base_url, namespace)
    with _lock:
        probing = _probing.setdefault(key, threading.Lock())
    with probing:  # one probe per namespace, also when repositories are read in parallel
        with _lock:
            cached = _probed.get(key)
        if cached is not None:
            return cached
        try:
            client.first_manifests_page(namespace, repository)
            probe: tuple[Probe, str] = ("served", "Hub serves it")
        except UnknownShape as exc:
            probe = (
                "not understood",
                f"its answer has a shape janitor does not understand ({exc.summary})",
            )
        except (HubNotFound, HubForbidden) as exc:
            probe = ("absent", f"Hub answers {exc.status}")
        except HubError as exc:
            if exc.status not in _NOT_SERVED:
                raise
            probe = ("absent", f"Hub answers {exc.status}")
        log.log(
            logging.INFO if probe[0] == "served" else logging.WARNING,
            "namespace %s: Hub's manifests listing (untagged images) %s: %s",
            namespace,
            "is used"
            if probe[0] == "served"
            else "cannot be used, so untagged images cannot be seen",
            probe[1],
        )
        with _lock:
            _probed[key] = probe
        return probe


def _latest(*values: datetime | None) -> datetime | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def disagreement(tags_of: dict[str, tuple[str, ...]], rows: Sequence[ManifestRow]) -> str | None:
    """Why the tags listing (digest -> its current tags) and the manifests listing disagree;
    None when they agree."""
    by_digest = {row.digest: row for row in rows}
    points_at = {tag: digest for digest, tags in tags_of.items() for tag in tags}
    for tag, digest in sorted(points_at.items()):
        row = by_digest.get(digest)
        if row is None:
            return f"tag {tag} points at {digest[:19]}, which the manifests listing lacks"
        if tag not in row.tags:
            return f"the manifests listing does not show tag {tag} on {digest[:19]}"
    for row in rows:
        for tag in row.tags:
            if points_at.get(tag) != row.digest:
                return (
                    f"the manifests listing shows tag {tag} on {row.digest[:19]}, "
                    "the tags listing does not"
                )
    return None


def join(
    namespace: str,
    repository: str,
    tagged: Sequence[Image],
    children_of: dict[str, tuple[str, ...]],
    rows: Sequence[ManifestRow],
) -> list[Image]:
    """The images of one repository: ``tagged`` (from the tags listing) with the times of their
    rows and of their children's rows, and one image per untagged row no known index lists."""
    images = {image.digest: image for image in tagged}
    parent_of = {kid: parent for parent, kids in children_of.items() for kid in kids}
    untagged: list[Image] = []
    for row in rows:
        owner = row.digest if row.digest in images else parent_of.get(row.digest)
        if owner is not None and owner in images:
            image = images[owner]
            images[owner] = replace(
                image,
                last_pushed=_latest(image.last_pushed, row.last_pushed),
                last_pulled=_latest(image.last_pulled, row.last_pulled),
            )
            continue
        if row.digest in parent_of:
            continue  # a child of an index that is not an image here: judged with it
        untagged.append(
            Image(
                namespace=namespace,
                repository=repository,
                digest=row.digest,
                last_pushed=row.last_pushed,
                last_pulled=row.last_pulled,
            )
        )
    return sorted([*images.values(), *untagged], key=lambda image: image.digest)
