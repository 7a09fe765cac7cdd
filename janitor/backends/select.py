"""Backend choice per namespace: set in config (``JANITOR_DELETE_BACKEND``), or ``auto``.

``auto`` probes once per namespace and process: it lists the namespace's first repository and
asks Hub for its ``images-summary`` (one cheap call of the image-management API). A 200 means
``delete-images`` works there; 404, 405 or 410 (the API is retired, docker/hub-feedback#2362)
and 403 (the plan lacks the feature) mean the ``registry`` backend. Other failures (401, 5xx,
the network) are raised, not cached: the run fails and says why, and the next run probes again.
A namespace without repositories has nothing to delete: ``delete-images`` serves it and nothing
is cached. The answer is cached per Hub URL and namespace for the life of the process
(``forget_probes()`` clears it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from janitor.backends import Backend
from janitor.backends.delete_images import DeleteImagesBackend
from janitor.backends.registry import RegistryBackend
from janitor.backends.untagged import forget_manifests_probes
from janitor.config import DEFAULT_REGISTRY_URL, Settings
from janitor.errors import ConfigError
from janitor.hub.auth import Credentials
from janitor.hub.client import HubClient
from janitor.hub.errors import HubError, HubForbidden, HubNotFound
from janitor.hub.registry import RegistryClient

__all__ = [
    "forget_probes",
    "namespace_backend",
    "probe_backend",
    "registry_client",
    "select_backend",
]

log = logging.getLogger("janitor.backends")

BackendName = Literal["delete-images", "registry"]
GONE_STATUSES = frozenset({404, 405, 410})

_lock = threading.Lock()
_probed: dict[tuple[str, str], BackendName] = {}


def forget_probes() -> None:
    """Forget every cached probe (tests; a long-running service never needs it)."""
    with _lock:
        _probed.clear()
    forget_manifests_probes()


def probe_backend(client: HubClient, namespace: str) -> BackendName:
    """Which backend works for ``namespace`` (cached per Hub URL and namespace)."""
    key = (client.base_url, namespace)
    with _lock:
        cached = _probed.get(key)
    if cached is not None:
        return cached
    first = next(iter(client.iter_repositories(namespace)), None)
    if first is None:
        log.info("namespace %s has no repositories: nothing to probe", namespace)
        return "delete-images"
    try:
        client.images_summary(namespace, first.name)
        choice: BackendName = "delete-images"
        why = "Hub answers its image-management API"
    except (HubNotFound, HubForbidden) as exc:
        choice = "registry"
        why = f"Hub answers {exc.status} to images-summary"
    except HubError as exc:
        if exc.status not in GONE_STATUSES:
            raise
        choice = "registry"
        why = f"Hub answers {exc.status} to images-summary"
    log.info("namespace %s: using the %s backend (%s)", namespace, choice, why)
    with _lock:
        _probed[key] = choice
    return choice


def registry_client(settings: Settings) -> RegistryClient:
    """The registry client the settings describe: ``JANITOR_REGISTRY_URL`` with the Hub
    username and personal access token (Basic auth at the token service)."""
    if not settings.hub_username or settings.hub_token is None:
        raise ConfigError(
            "the registry backend needs JANITOR_HUB_USERNAME and JANITOR_HUB_TOKEN (a personal "
            "access token with the 'Read, Write, Delete' scope) for the registry's token service"
        )
    insecure = settings.hub_insecure and settings.registry_url != DEFAULT_REGISTRY_URL
    return RegistryClient(
        settings.registry_url,
        Credentials(settings.hub_username, settings.hub_token.reveal()),
        timeout=settings.timeout,
        verify=not insecure,
        max_wait=settings.max_wait_seconds,
        auth_hosts=settings.registry_auth_hosts,
    )


def select_backend(client: HubClient, namespace: str, *, settings: Settings) -> Backend:
    """The backend for ``namespace``: the configured one, or for ``auto`` the probe's answer."""
    choice = settings.delete_backend
    if choice == "auto":
        choice = probe_backend(client, namespace)
    if choice == "delete-images":
        return DeleteImagesBackend(client)
    return RegistryBackend(client, registry_client(settings))


@contextmanager
def namespace_backend(
    client: HubClient, namespace: str, *, settings: Settings
) -> Iterator[Backend]:
    """``select_backend`` for a command that reads a namespace; its own clients closed after."""
    backend = select_backend(client, namespace, settings=settings)
    try:
        yield backend
    finally:
        backend.close()
