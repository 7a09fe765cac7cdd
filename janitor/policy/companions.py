"""Companion images: signatures, attestations, SBOMs and referrers stored as tagged images.

cosign stores what it attaches to an image as an image of its own in the same repository,
tagged after the digest of its subject: ``sha256-<hex>.sig`` (signature), ``.att``
(attestation), ``.sbom`` (SBOM). Registries without the OCI referrers API get the referrers
fallback tag ``sha256-<hex>`` (OCI distribution spec, "Referrers Tag Schema"). Such an image is
not judged on its own: it follows its subject (kept while the subject stays, deleted with it),
never counts toward ``most_recent`` and never matches a ``tags:`` pattern. One whose subject is
gone is an orphan, kept unless a select entry says ``orphaned_companions: true``.

An image is a companion when it has current tags and every one of them has that shape; an image
with any other current tag is an ordinary image.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from janitor.units import short_digest

_TAG = re.compile(r"sha256-([0-9a-f]{64})(?:\.(sig|att|sbom))?")
_KINDS = {"sig": "signature", "att": "attestation", "sbom": "SBOM", None: "referrer"}


@dataclass(frozen=True, slots=True)
class Link:
    """One companion tag: what it is and the digest of the image it belongs to."""

    tag: str
    kind: str  # signature | attestation | SBOM | referrer
    subject: str  # sha256:<hex>


def link_of(tag: str) -> Link | None:
    """The link a tag names, or None for an ordinary tag."""
    found = _TAG.fullmatch(tag)
    if found is None:
        return None
    return Link(tag=tag, kind=_KINDS[found.group(2)], subject="sha256:" + found.group(1))


def is_companion_tag(tag: str) -> bool:
    return _TAG.fullmatch(tag) is not None


def links(current_tags: Sequence[str]) -> tuple[Link, ...]:
    """The links of an image whose current tags all have a companion's shape; ``()`` for an
    ordinary image (untagged, or with any other current tag)."""
    if not current_tags:
        return ()
    found = []
    for tag in current_tags:
        link = link_of(tag)
        if link is None:
            return ()
        found.append(link)
    return tuple(found)


def describe(image_links: Sequence[Link]) -> str:
    """``signature of sha256:0123456789ab`` (every distinct kind and subject, in tag order)."""
    parts: list[str] = []
    for link in image_links:
        text = f"{link.kind} of {short_digest(link.subject)}"
        if text not in parts:
            parts.append(text)
    return ", ".join(parts)
