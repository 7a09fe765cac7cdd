"""The second backend: Hub's tags API plus the registry API, where ``delete-images`` is gone.

**Inventory.** Hub lists a repository's *tags* (``GET .../repositories/{repo}/tags``), not its
images, so an image here is a digest that at least one current tag points at: its tags are those
tags, its ``last_pushed``/``last_pulled`` the latest any of its tags (or their platform images)
reports, its ``status`` active when any of them is (``tag_status``), its size from the tags, and
for an index its children are the tag's platform images (``images[]``). A tag listed in the
spec's shape (no top-level ``digest``) is resolved with a registry ``HEAD`` by tag. Nothing is
ever read with a registry ``GET`` to build the inventory: on Docker Hub a manifest GET is a pull
(it counts against the pull limit and refreshes ``last_pulled``, so an image janitor only looked
at would look used at the next run).

**Untagged manifests.** The tags listing shows no manifest that no tag points at, so this
inventory holds tagged images only. Deleting an image removes its tags through the Hub API and
then its manifest (and, for an index, the platform manifests no other index lists) through the
registry, so a delete leaves nothing untagged behind.

**Deletion** gives ``delete-images`` semantics, so the executor, policies and reports work
unchanged. Every call, dry or real, first checks each manifest against the repository as it is
now (its tags listing, read whole and checked against its ``count``; its immutable-tag rules; a
registry ``HEAD`` for digests no tag names): ``not_found``, ``child_manifest`` (a platform
manifest of a listed index) and ``immutable_tag`` (a current tag matches an immutable rule) are
errors; ``current_tag`` (with the tags) and ``is_active`` (pushed or pulled since
``active_from``, from its tags' times; an untagged manifest has none to tell) are warnings,
ignored only as Hub ignores them (a ``current_tag`` warning only when its tags cover every tag
current now). Any error or unignored warning: the answer is Hub's "Deletion not possible" and
nothing is deleted. A registry token without ``delete`` is an error of the whole call, raised
before anything is sent.

A real call then deletes, in this order: every tag of the batch (each just confirmed by the
check's fresh listing; ``janitor.hub.tags.delete_tag`` finds the tag DELETE Hub serves); a
fresh read of the tags listing; then, for each image no current tag points at now, its manifest
(an index is deleted before its children; its children are those the tags listing's ``images[]``
shows, and only an index whose children it does not show is read, by ``GET``, when it is about to
go; a child another index still lists is kept). A manifest a tag points at now (one janitor never
saw, or one pushed since the check) is never deleted: the registry would take that tag with it
(the distribution registry deletes a manifest's tags; Hub's docs say 403): it is kept and
counted in ``manifest_errors``, which makes the executor re-check and record it as not deleted.
The metrics count what was really deleted. A failure after anything was deleted raises with
``maybe_applied=True``, so the executor re-checks with a dry run (where a manifest that is gone
answers ``not_found``) instead of repeating; a manifest DELETE answered 5xx is first looked up
once (``HEAD``), since the registry finishes such deletions in the background.

What this order cannot see: a push that moves a tag janitor is about to delete onto another
image in the moment between the check's listing and that tag's DELETE. Hub's tag DELETE takes
no condition; a registry HEAD per tag would narrow that window at one call per tag.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dateutil.relativedelta import relativedelta

from janitor.backends.tag_removal import RemovedTag, TagRemoval, remove_tags
from janitor.backends.untagged import disagreement, join, manifests_served
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError, IncompleteListing, UnknownShape
from janitor.hub.inventory import fetch_in_order, tag_size
from janitor.hub.models import (
    CallStats,
    DeleteError,
    DeleteMetrics,
    DeleteResult,
    DeleteWarning,
    Image,
    ManifestRef,
    ManifestRow,
    Repository,
    RepositoryInventory,
    Tag,
    TagRef,
)
from janitor.hub.registry import INDEX_MEDIA_TYPES, DeleteAnswer, RegistryClient, repository_name
from janitor.hub.tags import ImmutableTags, delete_tag, immutable_tags

__all__ = ["RegistryBackend", "RepositoryTags", "read_repository_tags"]

log = logging.getLogger("janitor.backends")

UNREAD_INDEX = "index_unread"
"""janitor's own refusal, in Hub's error shape: an untagged manifest is not deleted while an
untagged index stays in its repository, because that index's children cannot be read without
a GET (a pull, which would make it look used) and the manifest may be one of them."""

NOT_POSSIBLE = "Deletion not possible"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _latest(values: Iterable[datetime | None]) -> datetime | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


@dataclass
class RepositoryTags:
    """A repository as its current tags show it: which digest each tag points at, and the
    platform manifests of each index."""

    tags_of: dict[str, list[Tag]] = field(default_factory=dict)
    children_of: dict[str, tuple[str, ...]] = field(default_factory=dict)
    indexes: set[str] = field(default_factory=set)  # digests known to be indexes

    def current_tags(self, digest: str) -> tuple[str, ...]:
        return tuple(sorted({t.name for t in self.tags_of.get(digest, ())}))

    @property
    def parents_of(self) -> dict[str, set[str]]:
        parents: dict[str, set[str]] = {}
        for parent, kids in self.children_of.items():
            for kid in kids:
                parents.setdefault(kid, set()).add(parent)
        return parents

    def image(self, namespace: str, repository: str, digest: str) -> Image:
        tags = sorted(self.tags_of[digest], key=lambda t: t.name)
        platforms = [p for t in tags for p in t.images]
        statuses = {t.status for t in tags} | {p.status for p in platforms}
        status = "active" if "active" in statuses else ("inactive" if statuses - {None} else None)
        sizes = [s for s in (tag_size(t) for t in tags) if s is not None]
        return Image(
            namespace=namespace,
            repository=repository,
            digest=digest,
            tags=tuple(TagRef(name, True) for name in dict.fromkeys(t.name for t in tags)),
            last_pushed=_latest(
                [*(t.last_pushed for t in tags), *(p.last_pushed for p in platforms)]
            ),
            last_pulled=_latest(
                [*(t.last_pulled for t in tags), *(p.last_pulled for p in platforms)]
            ),
            status=status,
            size=sizes[0] if sizes else None,
            children=self.children_of.get(digest, ()),
        )


def read_repository_tags(
    hub: HubClient,
    registry: RegistryClient,
    namespace: str,
    repository: str,
    *,
    stop: threading.Event | None = None,
) -> RepositoryTags:
    """The tags listing of a repository, each tag resolved to its digest and children."""
    name = repository_name(namespace, repository)
    view = RepositoryTags()
    for tag in hub.list_tags(namespace, repository):
        if stop is not None and stop.is_set():
            raise _Stopped
        digest = tag.digest
        kids = tuple(dict.fromkeys(p.digest for p in tag.images if p.digest and p.digest != digest))
        if digest is None:
            # The spec's shape: no top-level digest, one platform object. The registry knows,
            # by HEAD (a GET is a pull on Hub): an index's children stay unknown until janitor
            # is about to delete it, when it reads the index itself.
            info = registry.head_manifest(name, tag.name)
            if info is None:
                log.info("tag %s:%s vanished while being listed", name, tag.name)
                continue
            digest = info.digest
            if info.is_index:  # the spec's one platform object is one of the index's children
                view.indexes.add(digest)
            else:
                kids = ()
        if kids:
            view.indexes.add(digest)
        view.tags_of.setdefault(digest, []).append(tag)
        if kids:
            view.children_of[digest] = tuple(
                dict.fromkeys((*view.children_of.get(digest, ()), *kids))
            )
    return view


class _Stopped(Exception):
    """The inventory's consumer went away."""


@dataclass(frozen=True, slots=True)
class _Target:
    """One image the checks let through: what deleting it removes."""

    digest: str
    tags: tuple[str, ...]
    children: tuple[str, ...]
    shared: frozenset[str]  # children another index also lists: never deleted here
    is_index: bool = False


@dataclass
class _Applied:
    tags: int = 0
    tag_errors: int = 0
    manifests: int = 0
    manifest_errors: int = 0
    gone: set[str] = field(default_factory=set)  # digests deleted by this call

    @property
    def anything(self) -> bool:
        return bool(self.tags or self.manifests)

    def metrics(self) -> DeleteMetrics:
        return DeleteMetrics(
            manifest_deletes=self.manifests,
            manifest_errors=self.manifest_errors,
            tag_deletes=self.tags,
            tag_errors=self.tag_errors,
        )


def _ignored(ignore: Sequence[DeleteWarning], warning: DeleteWarning) -> bool:
    """Hub's rule: the same repository, digest and warning; for ``current_tag``, tags that cover
    every tag current now."""
    for item in ignore:
        if (item.repository, item.digest, item.warning) != (
            warning.repository,
            warning.digest,
            warning.warning,
        ):
            continue
        if warning.warning != "current_tag" or set(warning.tags) <= set(item.tags):
            return True
    return False


class RegistryBackend:
    """Inventory from Hub's tags, deletion through Hub's tag DELETE and the registry."""

    name = "registry"

    def __init__(
        self,
        hub: HubClient,
        registry: RegistryClient,
        *,
        clock: Callable[[], datetime] = _utcnow,
        manifests_listing: bool | None = None,
    ) -> None:
        self.hub = hub
        self.registry = registry
        self.clock = clock
        self.manifests_listing = manifests_listing

    def own_calls(self) -> CallStats:
        return self.registry.stats

    def close(self) -> None:
        self.registry.close()

    def prepare(self, namespace: str, repositories: Sequence[str]) -> None:
        """One token request for every repository the run deletes from (25 scopes a request),
        instead of one per repository: the PAT is sent as few times as possible."""
        self.registry.authorize([repository_name(namespace, r) for r in repositories])

    # -- inventory -------------------------------------------------------------------------

    def inventory(
        self, namespace: str, *, repositories: Callable[[str], bool], concurrency: int
    ) -> Iterator[RepositoryInventory]:
        return self._inventory(namespace, repositories, concurrency)

    def repository_inventory(
        self, repository: Repository, *, stop: threading.Event | None = None
    ) -> RepositoryInventory:
        ns, repo = repository.namespace, repository.name
        view, rows, note = self._read(ns, repo, stop=stop)
        tagged = [view.image(ns, repo, digest) for digest in sorted(view.tags_of)]
        if rows is None:
            return RepositoryInventory(
                repository=repository, images=tuple(tagged), notes=(note,) if note else ()
            )
        images = join(ns, repo, tagged, view.children_of, rows)
        return RepositoryInventory(repository=repository, images=tuple(images))

    def _read(
        self, namespace: str, repository: str, *, stop: threading.Event | None = None
    ) -> tuple[RepositoryTags, list[ManifestRow] | None, str | None]:
        """The tags listing and, where Hub serves it, the manifests listing, checked against
        each other (read once more when they disagree, then refused). Rows are None, with a
        note saying so, where the manifests listing is not served or not understood."""
        view = read_repository_tags(self.hub, self.registry, namespace, repository, stop=stop)
        where = f"{namespace}/{repository}"
        if self.manifests_listing is None:  # not said: probed (once per namespace and process)
            probe, why = manifests_served(self.hub, namespace, repository)
            if probe == "not understood":
                return (
                    view,
                    None,
                    f"untagged images of {where} could not be seen: {why}; planned from the "
                    "tags listing",
                )
            if probe == "absent":
                return view, None, None
        elif not self.manifests_listing:
            return view, None, None
        problem = ""
        for attempt in (1, 2):
            try:
                rows = list(self.hub.iter_manifests(namespace, repository))
            except UnknownShape as exc:
                note = (
                    f"untagged images of {where} could not be seen: Hub's manifests listing "
                    f"answered in a shape janitor does not understand ({exc.summary}); planned "
                    "from the tags listing"
                )
                log.warning("%s", note)
                return view, None, note
            except IncompleteListing as exc:
                problem = exc.summary
            else:
                found = disagreement({d: view.current_tags(d) for d in view.tags_of}, rows)
                if found is None:
                    return view, rows, None
                problem = found
            if attempt == 1:
                log.info("the listings of %s disagree (%s); reading them again", where, problem)
                view = read_repository_tags(
                    self.hub, self.registry, namespace, repository, stop=stop
                )
        raise IncompleteListing(
            f"the tags and manifests listings of {where} did not add up twice, so janitor does "
            f"not plan from them: {problem}"
        )

    def _inventory(
        self, namespace: str, wanted: Callable[[str], bool], concurrency: int
    ) -> Generator[RepositoryInventory, None, None]:
        """Repositories in the listing's order, fetched by ``concurrency`` threads (see
        ``janitor.hub.inventory.fetch_in_order`` for refused repositories)."""
        try:
            yield from fetch_in_order(
                (r for r in self.hub.iter_repositories(namespace) if wanted(r.name)),
                lambda repository, stop: self.repository_inventory(repository, stop=stop),
                concurrency=concurrency,
                thread_name="janitor-registry",
            )
        finally:
            self.registry.close()

    # -- deletion --------------------------------------------------------------------------

    def remove_tags(
        self,
        namespace: str,
        repository: str,
        wanted: Sequence[TagRemoval],
        *,
        dry_run: bool,
    ) -> tuple[list[RemovedTag], HubError | None]:
        """Tags removed from images that stay (``action: untag``), through Hub's tag DELETE."""
        return remove_tags(self.hub, namespace, repository, wanted, dry_run=dry_run)

    def delete_images(
        self,
        namespace: str,
        manifests: Sequence[ManifestRef],
        *,
        dry_run: bool,
        active_from: datetime | None = None,
        ignore_warnings: Sequence[DeleteWarning] = (),
    ) -> DeleteResult:
        """``delete-images`` semantics for manifests of ONE repository (see the module doc)."""
        if not manifests:
            raise ValueError("delete_images needs at least one manifest")
        repositories = {m.repository for m in manifests} | {w.repository for w in ignore_warnings}
        if len(repositories) != 1:
            raise ValueError(
                "delete-images takes one repository per call; got "
                + ", ".join(sorted(repositories))
            )
        repository = manifests[0].repository
        if active_from is None:
            active_from = self.clock() - relativedelta(months=1)
        try:
            targets, errors, warnings = self._check(
                namespace, repository, [m.digest for m in manifests], active_from
            )
            unignored = tuple(w for w in warnings if not _ignored(ignore_warnings, w))
            if errors or unignored:
                return DeleteResult(
                    dry_run=dry_run,
                    accepted=False,
                    errors=tuple(errors),
                    warnings=unignored,
                    message=NOT_POSSIBLE,
                )
            if dry_run:
                return DeleteResult(
                    dry_run=True,
                    accepted=True,
                    metrics=DeleteMetrics(
                        manifest_deletes=sum(1 + len(t.children) - len(t.shared) for t in targets),
                        tag_deletes=sum(len(t.tags) for t in targets),
                    ),
                )
            return self._delete(namespace, repository, targets)
        finally:
            self.registry.close()

    def _check(
        self, namespace: str, repository: str, digests: Sequence[str], active_from: datetime
    ) -> tuple[list[_Target], list[DeleteError], list[DeleteWarning]]:
        name = repository_name(namespace, repository)
        self.registry.require_delete(name)
        view, rows, _ = self._read(namespace, repository)
        row_of = {row.digest: row for row in rows} if rows is not None else None
        rules: ImmutableTags = immutable_tags(self.hub, namespace, repository)
        parents = view.parents_of
        targets: list[_Target] = []
        errors: list[DeleteError] = []
        warnings: list[DeleteWarning] = []
        for digest in dict.fromkeys(digests):
            tags = view.tags_of.get(digest)
            if tags:
                current = tuple(sorted({t.name for t in tags}))
                if any(rules.matches(tag) for tag in current):
                    errors.append(DeleteError(repository, digest, "immutable_tag"))
                    continue
                warnings.append(DeleteWarning(repository, digest, "current_tag", current))
                image = view.image(namespace, repository, digest)
                moments = [image.last_pushed, image.last_pulled]
                if row_of is not None:  # its own row, and its children's, as the plan saw them
                    for listed in (digest, *view.children_of.get(digest, ())):
                        row = row_of.get(listed)
                        if row is not None:
                            moments += [row.last_pushed, row.last_pulled]
                if any(moment is not None and moment >= active_from for moment in moments):
                    warnings.append(DeleteWarning(repository, digest, "is_active"))
                kids = view.children_of.get(digest, ())
                targets.append(
                    _Target(
                        digest=digest,
                        tags=current,
                        children=kids,
                        shared=frozenset(c for c in kids if parents.get(c, set()) - {digest}),
                        is_index=digest in view.indexes,
                    )
                )
                continue
            if digest in parents:
                errors.append(DeleteError(repository, digest, "child_manifest"))
                continue
            if row_of is not None:
                row = row_of.get(digest)
                if row is None:
                    errors.append(DeleteError(repository, digest, "not_found"))
                    continue
                if any(
                    moment is not None and moment >= active_from
                    for moment in (row.last_pushed, row.last_pulled)
                ):
                    warnings.append(DeleteWarning(repository, digest, "is_active"))
                if row.media_type is not None:
                    targets.append(
                        _Target(
                            digest=digest,
                            tags=(),
                            children=(),
                            shared=frozenset(),
                            is_index=row.media_type in INDEX_MEDIA_TYPES,
                        )
                    )
                    continue
            info = self.registry.head_manifest(name, digest)  # HEAD: never a pull
            if info is None:
                errors.append(DeleteError(repository, digest, "not_found"))
                continue
            targets.append(
                _Target(
                    digest=digest, tags=(), children=(), shared=frozenset(), is_index=info.is_index
                )
            )
        plain = [t for t in targets if not t.tags and not t.is_index]
        if plain and rows is not None and self._untagged_index_stays(name, view, rows, digests):
            # Its children are unknown (reading it is a pull), so any untagged manifest may be
            # one of them: deleting it could break an image that stays.
            errors += [DeleteError(repository, t.digest, UNREAD_INDEX) for t in plain]
            targets = [t for t in targets if t not in plain]
        return targets, errors, warnings

    def _untagged_index_stays(
        self, name: str, view: RepositoryTags, rows: Sequence[ManifestRow], leaving: Sequence[str]
    ) -> bool:
        """Whether an untagged index that this call does not delete is in the repository: the
        manifests listing's media type says so, or (where the row has none) a HEAD, never a
        GET."""
        gone = set(leaving)
        for row in rows:
            if row.digest in gone or view.tags_of.get(row.digest) or row.digest in view.parents_of:
                continue  # deleted here, tagged (children known), or a known index's child
            if row.media_type is not None:
                if row.media_type in INDEX_MEDIA_TYPES:
                    return True
                continue
            info = self.registry.head_manifest(name, row.digest)  # HEAD: never a pull
            if info is not None and info.is_index:
                return True
        return False

    def _delete(self, namespace: str, repository: str, targets: list[_Target]) -> DeleteResult:
        """The tags of every target (each confirmed by the check's fresh listing), then a fresh
        read of the tags listing, then the manifests no current tag points at (see
        ``_delete_manifests``); a manifest a tag points at now is kept and counted as an error."""
        name = repository_name(namespace, repository)
        applied = _Applied()
        kept: list[str] = []
        try:
            for target in targets:
                for tag in target.tags:
                    if delete_tag(self.hub, namespace, repository, tag, confirmed=True):
                        applied.tags += 1
                    else:
                        applied.tag_errors += 1  # gone since the check: nothing left to delete
            fresh = read_repository_tags(self.hub, self.registry, namespace, repository)
            parents = fresh.parents_of
            for target in sorted(targets, key=lambda t: not t.is_index):  # indexes first
                if target.digest in applied.gone:
                    continue  # went with an index of this batch, as its exclusive child
                tagged = fresh.current_tags(target.digest)
                if tagged:
                    # A tag janitor never saw, or one pushed since the check: a manifest DELETE
                    # would take it (the distribution registry deletes a manifest's tags with it).
                    applied.manifest_errors += 1
                    kept.append(f"{target.digest[:19]} (now tagged {', '.join(tagged)})")
                    log.warning(
                        "kept %s@%s: tag(s) %s point at it now, so its manifest is not deleted",
                        name,
                        target.digest[:19],
                        ", ".join(tagged),
                    )
                    continue
                if target.digest in parents:
                    applied.manifest_errors += 1
                    kept.append(f"{target.digest[:19]} (now listed by an index)")
                    continue
                if not self._delete_manifests(name, target, parents, applied):
                    kept.append(
                        f"{target.digest[:19]} (the registry says a tag or an index lists it)"
                    )
        except HubError as exc:
            if applied.anything:
                exc.maybe_applied = True
                exc.summary = (
                    f"{exc.summary} (after deleting {applied.tags} tag(s) and "
                    f"{applied.manifests} manifest(s) of this batch)"
                )
            raise
        log.info(
            "deleted from %s: %d tag(s), %d manifest(s)", name, applied.tags, applied.manifests
        )
        message = None
        if kept:
            message = "manifests kept because a tag or an index references them now: " + "; ".join(
                kept
            )
        return DeleteResult(
            dry_run=False, accepted=True, metrics=applied.metrics(), message=message
        )

    def _delete_manifests(
        self, name: str, target: _Target, parents: dict[str, set[str]], applied: _Applied
    ) -> bool:
        """An index first, then its children no remaining index lists; a plain manifest alone.
        An index's children come from the tags listing's ``images[]``; only an index whose
        children it does not show (an untagged one, or one listed in the spec's shape) is read,
        by GET, and only now, when it is about to go: on Hub a GET is a pull, and pulls are
        limited (200 per 6 hours for a personal account), so one GET per deleted index would
        stop a large cleanup half-way."""
        children = target.children
        if target.is_index and not children:
            manifest = self.registry.get_manifest(name, target.digest)
            if manifest is not None:
                children = manifest.children
        answer = self._delete_manifest(name, target.digest)
        if answer == "referenced":
            # 403: a tag or an index references it (a platform manifest of an untagged index
            # that stays): kept, and counted so the executor records it as not deleted
            log.info(
                "kept %s@%s: the registry says it is still referenced", name, target.digest[:19]
            )
            applied.manifest_errors += 1
            return False
        if answer == "deleted":
            applied.manifests += 1
            applied.gone.add(target.digest)
        else:
            applied.manifest_errors += 1
        for child in children:
            if child in target.shared or parents.get(child, set()) - {target.digest}:
                continue  # another index still lists it
            answer = self._delete_manifest(name, child)
            if answer == "deleted":
                applied.manifests += 1
                applied.gone.add(child)
            elif answer == "referenced":
                log.info("kept %s@%s: another index still lists it", name, child[:19])
        return True

    def _delete_manifest(self, name: str, digest: str) -> DeleteAnswer:
        """DELETE once; after a failure that may have been applied, one HEAD tells whether the
        registry finished it (it completes a 500's deletion in the background)."""
        try:
            return self.registry.delete_manifest(name, digest)
        except HubError as exc:
            if not exc.maybe_applied:
                raise
            if self.registry.head_manifest(name, digest) is None:
                log.info(
                    "the registry failed DELETE %s@%s (%s) but the manifest is gone",
                    name,
                    digest[:19],
                    exc,
                )
                return "deleted"
            raise
