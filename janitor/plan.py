"""The plan: a verdict and its reasons for every image. Produced by ``janitor.policy.evaluate``
(a pure function), consumed by the executor, the store and the reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from janitor.hub.models import Image

Verdict = Literal["keep", "delete"]
CurrentTagAction = Literal["skip", "delete"]


@dataclass(frozen=True, slots=True)
class Decision:
    image: Image
    verdict: Verdict
    reasons: tuple[str, ...]
    """Readable explanations, e.g. ``select 'untagged-and-cold': currently_tagged=false holds;
    last_pushed 2026-01-02 is older than 30d`` or ``kept by keep[0] most_recent: 5 (rank 2)``."""
    candidate: bool = False
    """True when a select entry matched (whether or not a keep rule then saved it)."""
    selected_by: str | None = None
    """Name of the first select entry that matched."""
    kept_by: tuple[str, ...] = ()
    """Labels of the keep rules that saved the image."""
    current_tag: CurrentTagAction = "skip"
    """What the matching select entry says to do with a ``current_tag`` warning."""
    active_from: datetime | None = None
    """The cutoff the matching entry used, sent as ``active_from`` with ``delete-images``."""
    subject: str | None = None
    """For a companion (a signature, attestation, SBOM or referrer tagged ``sha256-<hex>...``):
    the digest of the image it follows; it is deleted only with that image."""
    untag: tuple[str, ...] = ()
    """Current tags an ``action: untag`` entry removes from this image, which stays."""


@dataclass(frozen=True, slots=True)
class RepositoryPlan:
    namespace: str
    repository: str
    decisions: tuple[Decision, ...]

    @property
    def to_delete(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.verdict == "delete")

    @property
    def kept(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.verdict == "keep")


@dataclass(frozen=True, slots=True)
class LimitViolation:
    limit: str  # "max_deletes" | "max_fraction_per_repository"
    allowed: float
    actual: float
    repository: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Plan:
    policy: str
    namespace: str
    now: datetime
    repositories: tuple[RepositoryPlan, ...]
    violations: tuple[LimitViolation, ...] = ()

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(d for r in self.repositories for d in r.decisions)

    @property
    def to_delete(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.verdict == "delete")

    @property
    def refused(self) -> bool:
        return bool(self.violations)
