"""Deletion backends: where the inventory comes from and how images are deleted.

Every backend gives the executor ``delete-images`` semantics (a dry run that answers errors and
warnings, ``ignore_warnings``, Hub-shaped metrics), so policies, the executor and the reports
work the same whichever backend runs.

- ``delete-images``: Hub's image-management API (``images`` + ``POST .../delete-images``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Protocol

from janitor.hub.models import DeleteResult, DeleteWarning, ManifestRef, RepositoryInventory


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
