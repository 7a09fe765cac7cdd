"""What a run needs from the outside world, injected so tests use real things on loopback."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from janitor.backends import Backend
from janitor.config import Settings
from janitor.engine.owners import owner_id
from janitor.hub.client import HubClient
from janitor.store import Store

Clock = Callable[[], datetime]
Progress = Callable[[str], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunContext:
    """The store, the Hub, the clock and the process a run belongs to."""

    settings: Settings
    store: Store
    hub_factory: Callable[[], HubClient]
    backend_factory: Callable[[HubClient, str], Backend] | None = None
    """Chooses the backend for a namespace; default: ``select_backend`` (config + probe)."""
    clock: Clock = utcnow
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Progress | None = None
    owner: str = field(default_factory=owner_id)
    lease_ttl: timedelta | None = None
    """The running lease's TTL; None: a little longer than ``settings.stale_after_seconds``."""
