"""Turn a repository's planned deletions into ``delete-images`` calls, safely.

For each batch (one repository per call, as Hub requires; grouped by the ``active_from`` cutoff of
the select entry that chose the images):

1. A dry run (``dry_run: true``). Hub's errors (``not_found``, ``child_manifest``, ...) mark the
   image as an error; its warnings are decided per image from the policy: a ``current_tag``
   warning is accepted only where the selecting entry says ``current_tag: delete``; an
   ``is_active`` warning is never accepted (the image became active after the plan).
2. Unless this is a dry run, the real call (``dry_run: false``) for the images left, with
   ``ignore_warnings`` holding exactly the warnings accepted in step 1 for those images. A dry run
   stops after step 1: one call a batch.
3. If the answer to step 2 is a new validation refusal (something changed since the dry run: a tag
   was added, an image was deleted by someone else), the images it names are skipped with that
   reason, never forced, and the call is repeated for the rest (nothing was deleted by a refusal).

A real delete that fails in a way that may have been applied (a 5xx, a dropped connection after
sending) is never repeated: a dry run of the same images tells which are gone, and the run stops.
An image the re-check still finds is recorded ``error`` (not deleted) only when Hub did answer the
call (its work on it was over); when no answer came (a timeout, a dropped connection, a gateway's
502/504) Hub may still apply the delete after the re-check, so the image stays ``unconfirmed``
and a later run settles it from its own listing. The same re-check follows a real delete that Hub
accepted with metrics that disagree with what was sent (``manifest_errors``, fewer manifest
deletes than images, more deletes than the images hold): janitor never claims a delete it has no
evidence of, and never stores metrics larger than what was sent.
Each real call is logged (INFO, one line with every digest) before it is sent, after its images
were recorded as ``sending``.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from janitor.follow import after_subjects
from janitor.hub.errors import HubError, HubTransportError
from janitor.hub.models import DeleteMetrics, DeleteResult, DeleteWarning, ManifestRef
from janitor.plan import Decision
from janitor.policy.protect import ProtectList
from janitor.records import HubMetrics, Outcome

log = logging.getLogger("janitor.execute")

MAX_ROUNDS = 3


class DeleteBackend(Protocol):
    """What the executor needs from a deletion backend: ``delete-images`` semantics."""

    name: str

    def delete_images(
        self,
        namespace: str,
        manifests: Sequence[ManifestRef],
        *,
        dry_run: bool,
        active_from: datetime | None = None,
        ignore_warnings: Sequence[DeleteWarning] = (),
    ) -> DeleteResult: ...


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    repository: str
    digest: str
    outcome: Outcome
    detail: str | None = None
    hub_code: str | None = None
    """The name of Hub's warning or error behind the outcome (current_tag, not_found, ...)."""


Decided = tuple[Decision, Outcome, str | None, str | None]
"""An image's outcome: (decision, outcome, detail for people, Hub's warning or error code)."""


@dataclass
class ExecutionTotals:
    hub_metrics: HubMetrics = field(default_factory=HubMetrics)
    deleted: int = 0
    would_delete: int = 0
    skipped_by_warning: int = 0
    errors: int = 0
    not_attempted: int = 0
    unconfirmed: int = 0
    bytes_reclaimed: int | None = None
    bytes_planned: int | None = None
    interrupted: bool = False
    failure: str | None = None

    def count(self, outcome: ItemOutcome, size: int | None) -> None:
        match outcome.outcome:
            case "deleted":
                self.deleted += 1
                self.bytes_reclaimed = _add(self.bytes_reclaimed, size)
            case "would_delete":
                self.would_delete += 1
                self.bytes_planned = _add(self.bytes_planned, size)
            case "skipped_warning":
                self.skipped_by_warning += 1
            case "error":
                self.errors += 1
            case "not_attempted":
                self.not_attempted += 1
            case "unconfirmed":
                self.unconfirmed += 1
                self.errors += 1

    def add_hub_metrics(self, result: DeleteResult) -> None:
        if result.metrics is None:
            return
        self.hub_metrics += result.metrics


def _add(total: int | None, size: int | None) -> int | None:
    if size is None:
        return total
    return (total or 0) + size


OutcomeSink = Callable[[Sequence[ItemOutcome]], None]


@dataclass
class Executor:
    """Executes the planned deletions of one run, batch by batch, reporting each batch's outcomes
    to ``sink`` (the store) as soon as they are known."""

    backend: DeleteBackend
    namespace: str
    dry_run: bool
    batch_size: int
    sink: OutcomeSink
    stop: threading.Event = field(default_factory=threading.Event)
    totals: ExecutionTotals = field(default_factory=ExecutionTotals)
    protect: ProtectList | None = None
    """The protect list, checked once more right before each batch is sent."""
    claim_gone: Callable[[str, str], str | None] | None = None
    """For a ``not_found``: whether an earlier run's delete of that image took effect (settling
    it, and giving what to record instead of an error); None: no earlier run sent one."""
    _sizes: dict[tuple[str, str], int | None] = field(default_factory=dict)
    _outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)

    def run(self, planned: Iterable[tuple[str, Sequence[Decision]]]) -> ExecutionTotals:
        """``planned``: (repository, decisions with verdict delete) in the order to work on.
        A repository's companions go after their subjects, and only those whose subject went
        (:func:`janitor.follow.after_subjects`)."""
        for repository, decisions in planned:
            for wave in after_subjects(repository, decisions, self._outcomes, self._emit):
                self._run_decisions(repository, wave)
        return self.totals

    def _run_decisions(self, repository: str, decisions: Sequence[Decision]) -> None:
        batches = list(self._batches(decisions))
        for index, (active_from, batch) in enumerate(batches):
            if self.totals.failure is not None or self.stop.is_set():
                rest = [d for _, b in batches[index:] for d in b]
                self._emit(
                    repository,
                    [(d, "not_attempted", self._stop_reason(), None) for d in rest],
                )
                if self.stop.is_set():
                    self.totals.interrupted = True
                break
            self._run_batch(repository, batch, active_from)

    def skip_all(self, planned: Iterable[tuple[str, Sequence[Decision]]], reason: str) -> None:
        for repository, decisions in planned:
            self._emit(repository, [(d, "not_attempted", reason, None) for d in decisions])

    def _stop_reason(self) -> str:
        if self.totals.failure is not None:
            return (
                f"not attempted: the run stopped after an earlier failure ({self.totals.failure})"
            )
        return "not attempted: janitor was asked to stop before this batch"

    def _batches(
        self, decisions: Sequence[Decision]
    ) -> Iterable[tuple[datetime | None, list[Decision]]]:
        groups: dict[datetime | None, list[Decision]] = defaultdict(list)
        for decision in decisions:
            groups[decision.active_from].append(decision)
        for active_from in sorted(groups, key=lambda t: (t is None, t or datetime.min)):
            group = sorted(groups[active_from], key=lambda d: d.image.digest)
            for start in range(0, len(group), self.batch_size):
                yield active_from, group[start : start + self.batch_size]

    # -- one batch ---------------------------------------------------------------------------

    def _run_batch(
        self, repository: str, batch: list[Decision], active_from: datetime | None
    ) -> None:
        batch = self._unprotected(repository, batch)
        by_digest = {d.image.digest: d for d in batch}
        for d in batch:
            self._sizes[(repository, d.image.digest)] = d.image.size
        remaining = dict(by_digest)
        decided: list[Decided] = []
        if not remaining:
            return

        try:
            first = self._call(repository, list(remaining), active_from, dry_run=True)
        except HubError as exc:
            self._fail(repository, batch, exc, stage="dry run")
            return

        accepted: dict[str, DeleteWarning] = {}
        # Hub's own count of what deleting the whole batch removes (its platform manifests too,
        # which the listing may not show): the most a real delete of the batch may report.
        most = first.metrics if first.accepted else None
        if first.accepted:
            if self.dry_run:
                self.totals.add_hub_metrics(first)
                self._emit(
                    repository,
                    [(d, "would_delete", "Hub's dry run accepts the delete", None) for d in batch],
                )
                return
        else:
            accepted = self._sort_validation(first, remaining, decided, stage="dry run")
            if not (first.errors or first.warnings):
                message = first.message or "Hub refused the dry run without naming an image"
                decided.extend((d, "error", message, None) for d in remaining.values())
                remaining.clear()
            if self.dry_run:
                # Hub's one dry run has said all there is: what is left would go, with the
                # warnings the policy accepts. (No second call: a dry run is one call a batch.)
                for digest, d in remaining.items():
                    warning = accepted.get(digest)
                    detail = "Hub's dry run accepts the delete"
                    if warning is not None:
                        detail = (
                            "Hub's dry run accepts the delete with its current_tag warning "
                            f"(policy: current_tag: delete); current tags "
                            f"{', '.join(warning.tags)} would go with it"
                        )
                    decided.append(
                        (d, "would_delete", detail, warning.warning if warning else None)
                    )
                self._emit(repository, decided)
                return

        for round_number in range(MAX_ROUNDS):
            if not remaining:
                break
            ignore = [accepted[digest] for digest in remaining if digest in accepted]
            if not self.dry_run:
                self._mark_sending(repository, list(remaining.values()))
                log.info(
                    "deleting %d image(s) from %s/%s: %s",
                    len(remaining),
                    self.namespace,
                    repository,
                    ", ".join(
                        f"{digest} ({', '.join(d.image.current_tags) or 'untagged'})"
                        for digest, d in remaining.items()
                    ),
                )
            try:
                result = self._call(
                    repository, list(remaining), active_from, dry_run=self.dry_run, ignore=ignore
                )
            except HubError as exc:
                if not self.dry_run and getattr(exc, "maybe_applied", False):
                    decided.extend(
                        self._recheck(
                            repository,
                            remaining,
                            active_from,
                            f"Hub failed during the delete ({exc})",
                            answered=_answered(exc),
                        )
                    )
                    self._emit(repository, decided)
                    self.totals.failure = f"delete call failed in {repository}: {exc}"
                    return
                self._emit(repository, decided)
                self._fail(repository, list(remaining.values()), exc, stage="delete")
                return
            if result.accepted:
                if most is not None and len(remaining) != len(batch):
                    most = None  # Hub's count was for the whole batch
                disagreement = None if self.dry_run else _disagreement(result, remaining, most)
                if disagreement is not None:
                    # Hub took the call, but its metrics do not match what was sent (manifest
                    # errors, fewer deletes than images, more than the images hold): ask which
                    # images are gone rather than claim them all.
                    checked = self._recheck(
                        repository, remaining, active_from, disagreement, answered=True
                    )
                    decided.extend(checked)
                    gone = [d for d, outcome, *_ in checked if outcome == "deleted"]
                    all_gone = most if most is not None and len(gone) == len(batch) else None
                    self.totals.add_hub_metrics(
                        _bounded(result, gone, list(remaining.values()), all_gone)
                    )
                    remaining.clear()
                    break
                self.totals.add_hub_metrics(result)
                for digest, d in remaining.items():
                    warning = accepted.get(digest)
                    kept_detail: str | None = (
                        f"current tags {', '.join(warning.tags)} removed with it "
                        "(policy: current_tag: delete)"
                        if warning is not None
                        else None
                    )
                    decided.append(
                        (d, "deleted", kept_detail, warning.warning if warning else None)
                    )
                remaining.clear()
                break
            stage = f"changed since the dry run (round {round_number + 1})"
            before = len(remaining)
            self._sort_validation(result, remaining, decided, stage=stage, accept=False)
            if len(remaining) == before:
                message = result.message or "Hub refused the delete without naming an image"
                decided.extend((d, "error", message, None) for d in remaining.values())
                remaining.clear()
        else:
            decided.extend(
                (d, "error", f"Hub kept refusing the batch after {MAX_ROUNDS} rounds", None)
                for d in remaining.values()
            )
        self._emit(repository, decided)

    def _unprotected(self, repository: str, batch: list[Decision]) -> list[Decision]:
        """The batch without the images the protect list covers; those are skipped and recorded
        (never sent), whatever the plan said."""
        if self.protect is None:
            return batch
        kept: list[Decision] = []
        skipped: list[Decided] = []
        for d in batch:
            image = d.image
            why = self.protect.why(
                self.namespace, repository, image.digest, image.current_tags, image.children
            )
            if why is None:
                kept.append(d)
            else:
                skipped.append((d, "skipped_warning", f"skipped before the delete: {why}", None))
        self._emit(repository, skipped)
        return kept

    def _call(
        self,
        repository: str,
        digests: list[str],
        active_from: datetime | None,
        *,
        dry_run: bool,
        ignore: Sequence[DeleteWarning] = (),
    ) -> DeleteResult:
        return self.backend.delete_images(
            self.namespace,
            [ManifestRef(repository=repository, digest=digest) for digest in digests],
            dry_run=dry_run,
            active_from=active_from,
            ignore_warnings=ignore,
        )

    def _sort_validation(
        self,
        result: DeleteResult,
        remaining: dict[str, Decision],
        decided: list[Decided],
        *,
        stage: str,
        accept: bool = True,
    ) -> dict[str, DeleteWarning]:
        """Take the images Hub named out of ``remaining``; return the warnings accepted."""
        for error in result.errors:
            decision = remaining.pop(error.digest, None)
            if decision is None:
                continue
            gone = (
                self.claim_gone(decision.image.repository, error.digest)
                if error.error == "not_found" and self.claim_gone is not None
                else None
            )
            if gone is not None:
                decided.append((decision, "not_attempted", gone, error.error))
            else:
                decided.append((decision, "error", f"Hub: {error.error} ({stage})", error.error))
        accepted: dict[str, DeleteWarning] = {}
        refused: set[str] = set()
        for warning in result.warnings:
            decision = remaining.get(warning.digest)
            if decision is None:
                continue
            if warning.warning == "current_tag" and accept and decision.current_tag == "delete":
                accepted[warning.digest] = warning
                continue
            refused.add(warning.digest)
            remaining.pop(warning.digest)
            decided.append(
                (
                    decision,
                    "skipped_warning",
                    _warning_reason(warning, decision, stage),
                    warning.warning,
                )
            )
        for digest in refused:
            accepted.pop(digest, None)
        return accepted

    def _recheck(
        self,
        repository: str,
        remaining: dict[str, Decision],
        active_from: datetime | None,
        why: str,
        *,
        answered: bool,
    ) -> list[Decided]:
        """After a real delete that may have been applied in part or in whole, ask Hub (dry run)
        which images are gone. Never repeats the delete. ``answered``: Hub answered the call, so
        an image still present was not deleted; without an answer Hub may still be at work, and
        an image still present is ``unconfirmed``."""
        try:
            check = self._call(repository, list(remaining), active_from, dry_run=True)
        except HubError as again:
            return [
                (
                    d,
                    "unconfirmed",
                    f"{why} and the re-check failed too ({again}); a later run sees whether it "
                    "is gone",
                    None,
                )
                for d in remaining.values()
            ]
        gone = {e.digest for e in check.errors if e.error == "not_found"}
        out: list[Decided] = []
        for digest, d in remaining.items():
            if digest in gone:
                out.append((d, "deleted", f"confirmed gone by a re-check: {why}", None))
            elif answered:
                out.append(
                    (d, "error", f"not deleted: {why}; a re-check found it still present", None)
                )
            else:
                out.append(
                    (
                        d,
                        "unconfirmed",
                        f"{why}; a re-check right after still found it, but Hub may yet apply "
                        "the delete: a later run sees whether it is gone",
                        None,
                    )
                )
        return out

    def _fail(self, repository: str, batch: list[Decision], exc: HubError, *, stage: str) -> None:
        self._emit(repository, [(d, "error", f"{stage} failed: {exc}", None) for d in batch])
        self.totals.failure = f"{stage} call for {repository} failed: {exc}"

    def _mark_sending(self, repository: str, batch: list[Decision]) -> None:
        self.sink(
            [
                ItemOutcome(repository, d.image.digest, "sending", "delete sent; answer not read")
                for d in batch
            ]
        )

    def _emit(self, repository: str, decided: Sequence[Decided]) -> None:
        if not decided:
            return
        outcomes = [
            ItemOutcome(repository, d.image.digest, o, detail, code)
            for d, o, detail, code in decided
        ]
        for item, (d, *_) in zip(outcomes, decided, strict=True):
            self.totals.count(item, d.image.size)
            self._outcomes[(repository, item.digest)] = item.outcome
        self.sink(outcomes)


def _most(decisions: Iterable[Decision]) -> DeleteMetrics:
    """The most a delete of these images can remove as janitor knows them: each image's manifest
    and its listed platform manifests, and its current tags. (An index whose platform manifests
    the listing did not show counts as one: where Hub's dry run counted the batch, its count
    is used instead.)"""
    images = [d.image for d in decisions]
    manifests = sum(1 + len(i.children) for i in images)
    tags = sum(len(i.current_tags) for i in images)
    return DeleteMetrics(manifests, manifests, tags, tags)


def _disagreement(
    result: DeleteResult, sent: dict[str, Decision], dry_count: DeleteMetrics | None
) -> str | None:
    """Why Hub's metrics for a real delete it accepted do not match what was sent (None: they
    do). Every image sent is at least one manifest deleted; together they hold no more than Hub's
    dry run counted for them (``dry_count``), or else than ``_most``."""
    m, most = result.metrics, dry_count or _most(sent.values())
    if m is None:
        return "Hub accepted the delete without its metrics"
    if m.manifest_errors:
        return f"Hub accepted the delete but reported {m.manifest_errors} manifest error(s)"
    if m.manifest_deletes < len(sent):
        return (
            f"Hub accepted the delete but reported {m.manifest_deletes} manifest delete(s) for "
            f"{len(sent)} image(s) sent"
        )
    if m.manifest_deletes > most.manifest_deletes or m.tag_deletes > most.tag_deletes:
        return (
            f"Hub accepted the delete but reported {m.manifest_deletes} manifest and "
            f"{m.tag_deletes} tag delete(s), more than the {len(sent)} image(s) sent hold "
            f"(at most {most.manifest_deletes} and {most.tag_deletes})"
        )
    return None


def _bounded(
    result: DeleteResult,
    gone: Sequence[Decision],
    sent: Sequence[Decision],
    dry_count: DeleteMetrics | None,
) -> DeleteResult:
    """Hub's metrics of a call whose answer disagreed with what was sent, never larger than what
    a re-check confirmed (deletes: what the images found gone hold, as Hub's dry run counted them
    when all of them are gone; errors: what was sent)."""
    m = result.metrics or DeleteMetrics()
    most_gone, most_sent = dry_count or _most(gone), _most(sent)
    return replace(
        result,
        metrics=DeleteMetrics(
            manifest_deletes=min(m.manifest_deletes, most_gone.manifest_deletes),
            manifest_errors=min(m.manifest_errors, most_sent.manifest_errors),
            tag_deletes=min(m.tag_deletes, most_gone.tag_deletes),
            tag_errors=min(m.tag_errors, most_sent.tag_errors),
        ),
    )


GATEWAY_STATUSES = frozenset({502, 504})
"""A proxy in front of Hub gave up waiting: Hub itself may still be working on the call."""


def _answered(exc: HubError) -> bool:
    """Whether Hub itself answered the failed call (so its work on it is over)."""
    return not isinstance(exc, HubTransportError) and exc.status not in GATEWAY_STATUSES


def _warning_reason(warning: DeleteWarning, decision: Decision, stage: str) -> str:
    if warning.warning == "is_active":
        return (
            f"skipped: Hub says the image is active (pushed or pulled since "
            f"{_fmt(decision.active_from)}), so it became active after the plan ({stage})"
        )
    tags = ", ".join(warning.tags) or "?"
    if stage == "dry run":
        return f"skipped: currently tagged {tags}; policy says current_tag: skip"
    return f"skipped: currently tagged {tags}, a tag Hub reported only after the dry run ({stage})"


def _fmt(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "the plan's time"
