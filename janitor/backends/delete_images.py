"""The primary backend: Hub's image-management API, exactly as designed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from janitor.backends.tag_removal import RemovedTag, TagRemoval, remove_tags
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError
from janitor.hub.inventory import iter_inventory
from janitor.hub.models import (
    CallStats,
    DeleteResult,
    DeleteWarning,
    ManifestRef,
    RepositoryInventory,
)


class DeleteImagesBackend:
    name = "delete-images"

    def __init__(self, client: HubClient) -> None:
        self.client = client

    def own_calls(self) -> CallStats:
        return CallStats()  # every call goes through the Hub client

    def close(self) -> None:
        """Nothing of its own to close."""

    def prepare(self, namespace: str, repositories: Sequence[str]) -> None:
        """Nothing to prepare: delete-images uses the Hub client's own token."""

    def inventory(
        self, namespace: str, *, repositories: Callable[[str], bool], concurrency: int
    ) -> Iterator[RepositoryInventory]:
        return iter_inventory(
            self.client, namespace, repositories=repositories, concurrency=concurrency
        )

    def delete_images(
        self,
        namespace: str,
        manifests: Sequence[ManifestRef],
        *,
        dry_run: bool,
        active_from: datetime | None = None,
        ignore_warnings: Sequence[DeleteWarning] = (),
    ) -> DeleteResult:
        return self.client.delete_images(
            namespace,
            manifests,
            dry_run=dry_run,
            active_from=active_from,
            ignore_warnings=ignore_warnings,
        )

    def remove_tags(
        self,
        namespace: str,
        repository: str,
        wanted: Sequence[TagRemoval],
        *,
        dry_run: bool,
    ) -> tuple[list[RemovedTag], HubError | None]:
        """Hub's tag DELETE, as on the registry backend (``delete-images`` removes images)."""
        return remove_tags(self.client, namespace, repository, wanted, dry_run=dry_run)
