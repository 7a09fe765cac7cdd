"""The primary backend: Hub's image-management API, exactly as designed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from janitor.hub.client import HubClient
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
