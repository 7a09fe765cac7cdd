"""An in-memory deletion backend for the executor's unit tests: it implements the ``Backend``
protocol with ``delete-images`` semantics as Hub documents them (a 400 with errors and warnings
deletes nothing; ``ignore_warnings`` must name every warning; a 200 deletes every image sent),
and records every call. Tests change its state between calls through ``before_call``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from janitor.hub.errors import HubError
from janitor.hub.models import (
    DeleteError,
    DeleteMetrics,
    DeleteResult,
    DeleteWarning,
    Image,
    ManifestRef,
    Repository,
    RepositoryInventory,
    TagRef,
)
from janitor.plan import CurrentTagAction, Decision
from tests.runs.conftest import digest

NAMESPACE, REPOSITORY = "acme", "web"


@dataclass(frozen=True)
class Call:
    digests: tuple[str, ...]
    dry_run: bool
    active_from: datetime | None
    ignore: tuple[DeleteWarning, ...]


@dataclass
class FakeHub:
    """Images of one repository: digest -> current tags; ``active``: digests Hub calls active."""

    images: dict[str, tuple[str, ...]]
    active: set[str] = field(default_factory=set)
    name: str = "fake"
    calls: list[Call] = field(default_factory=list)
    before_call: Callable[[FakeHub, Call], None] | None = None
    fail: Callable[[FakeHub, Call], HubError | None] | None = None
    """Called after a real delete was applied (or not): an error to raise instead of answering."""
    metrics: Callable[[Call, int, int], DeleteMetrics] | None = None
    """The metrics a 200 answers (call, manifests deleted, tags deleted); None: the true ones."""
    apply: bool = True
    """False: a 200 that deletes nothing (a Hub that claims more than it did)."""

    def inventory(
        self, namespace: str, *, repositories: Callable[[str], bool], concurrency: int
    ) -> Iterator[RepositoryInventory]:
        images = tuple(
            Image(namespace, REPOSITORY, d, tags=tuple(TagRef(t, True) for t in tags))
            for d, tags in sorted(self.images.items())
        )
        yield RepositoryInventory(Repository(namespace, REPOSITORY), images)

    def delete_images(
        self,
        namespace: str,
        manifests: Sequence[ManifestRef],
        *,
        dry_run: bool,
        active_from: datetime | None = None,
        ignore_warnings: Sequence[DeleteWarning] = (),
    ) -> DeleteResult:
        call = Call(
            tuple(m.digest for m in manifests), dry_run, active_from, tuple(ignore_warnings)
        )
        self.calls.append(call)
        if self.before_call is not None:
            self.before_call(self, call)
        errors = tuple(
            DeleteError(REPOSITORY, d, "not_found") for d in call.digests if d not in self.images
        )
        ignored = {(w.digest, w.warning, w.tags) for w in ignore_warnings}
        warnings: list[DeleteWarning] = []
        for d in call.digests:
            if d in self.active:
                warnings.append(DeleteWarning(REPOSITORY, d, "is_active"))
            tags = self.images.get(d, ())
            if tags:
                warnings.append(DeleteWarning(REPOSITORY, d, "current_tag", tags))
        pending = tuple(w for w in warnings if (w.digest, w.warning, w.tags) not in ignored)
        if errors or pending:
            return DeleteResult(
                dry_run, False, errors=errors, warnings=pending, message="Deletion not possible"
            )
        tags_gone = sum(len(self.images[d]) for d in call.digests)
        if not dry_run and self.apply:
            for d in call.digests:
                del self.images[d]
        if not dry_run and self.fail is not None and (error := self.fail(self, call)):
            raise error
        if self.metrics is not None:
            answer = self.metrics(call, len(call.digests), tags_gone)
        else:
            answer = DeleteMetrics(manifest_deletes=len(call.digests), tag_deletes=tags_gone)
        return DeleteResult(dry_run, True, metrics=answer)

    def real_calls(self) -> list[Call]:
        return [c for c in self.calls if not c.dry_run]


def decision(
    n: int,
    *,
    tags: Sequence[str] = (),
    current_tag: CurrentTagAction = "skip",
    active_from: datetime | None = datetime(2026, 1, 1, tzinfo=UTC),
    size: int | None = 100,
) -> Decision:
    image = Image(
        NAMESPACE, REPOSITORY, digest(n), tags=tuple(TagRef(t, True) for t in tags), size=size
    )
    return Decision(
        image=image,
        verdict="delete",
        reasons=("test",),
        candidate=True,
        selected_by="entry",
        current_tag=current_tag,
        active_from=active_from,
    )
