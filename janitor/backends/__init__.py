"""Deletion backends: where the inventory comes from and how images are deleted.

Every backend gives the executor ``delete-images`` semantics (a dry run that answers errors and
warnings, ``ignore_warnings``, Hub-shaped metrics), so policies, the executor and the reports
work the same whichever backend runs.

- ``delete-images``: Hub's image-management API (``images`` + ``POST .../delete-images``).
- ``registry``: Hub's tags (or manifests) listing, Hub's tag DELETE and the registry's manifest
  DELETE, where the image-management API is gone.

Every command that reads a namespace (``plan``, ``snapshot``, ``run``, ``serve``) takes its
inventory and its deletes from the backend ``select_backend`` chose, through this protocol only:
nothing outside ``janitor.backends`` knows which backend runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from janitor.backends.tag_removal import RemovedTag, TagRemoval
from janitor.errors import RunFailed
from janitor.hub.errors import HubError
from janitor.hub.models import (
    CallStats,
    DeleteResult,
    DeleteWarning,
    ManifestRef,
    RepositoryInventory,
)


class Backend(Protocol):
    name: str

    def inventory(
        self,
        namespace: str,
        *,
        repositories: Callable[[str], bool],
        concurrency: int,
    ) -> Iterator[RepositoryInventory]: ...

    def delete_images(
        self,
        namespace: str,
        manifests: Sequence[ManifestRef],
        *,
        dry_run: bool,
        active_from: datetime | None = None,
        ignore_warnings: Sequence[DeleteWarning] = (),
    ) -> DeleteResult: ...

    def remove_tags(
        self,
        namespace: str,
        repository: str,
        wanted: Sequence[TagRemoval],
        *,
        dry_run: bool,
    ) -> tuple[list[RemovedTag], HubError | None]:
        """Remove tags from images that stay (``action: untag``), after a fresh check that each
        still points at its image (:mod:`janitor.backends.tag_removal`)."""
        ...

    def own_calls(self) -> CallStats:
        """Calls made by clients of the backend's own (the registry's), beyond the Hub client
        it was given; empty when it has none."""
        ...

    def close(self) -> None:
        """Close the backend's own clients (never the Hub client it was given)."""
        ...

    def prepare(self, namespace: str, repositories: Sequence[str]) -> None:
        """Called once before the run's first dry run or delete, with every repository it will
        delete from (the registry backend asks for all their tokens in one request)."""
        ...


def collect_notes(
    inventories: Iterable[RepositoryInventory], notes: list[str], *, refuse: bool = False
) -> Iterator[RepositoryInventory]:
    """The inventories; what each says janitor could not see goes to ``notes``, and so does a
    repository the backend refused to plan (its listing did not add up). With ``refuse`` such a
    repository stops the iteration instead (``RunFailed``): a snapshot must not show it empty."""
    for inventory in inventories:
        notes.extend(inventory.notes)
        if inventory.refused is not None:
            where = f"{inventory.repository.namespace}/{inventory.repository.name}"
            if refuse:
                raise RunFailed(f"{where} could not be read completely: {inventory.refused}")
            notes.append(f"{where} was not planned: {inventory.refused}")
            continue
        yield inventory
