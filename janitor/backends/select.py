"""Backend choice per namespace: set in config, or ``auto``."""

from __future__ import annotations

import logging

from janitor.backends import Backend
from janitor.backends.delete_images import DeleteImagesBackend
from janitor.config import Settings
from janitor.hub.client import HubClient

log = logging.getLogger("janitor.backends")


def select_backend(client: HubClient, namespace: str, *, settings: Settings) -> Backend:
    """``delete-images`` where Hub offers it. (``auto`` and ``registry``: see issue 9.)"""
    return DeleteImagesBackend(client)
