"""Plan one policy against Hub through the deletion backend that would apply it, so that a saved
plan names the backend its listing came from."""

from __future__ import annotations

from datetime import datetime

from janitor.backends import collect_notes
from janitor.backends.select import namespace_backend
from janitor.config import Settings
from janitor.hub.client import HubClient
from janitor.plan import Plan
from janitor.policy import Policy, evaluate


def plan_from_hub(
    client: HubClient,
    policy: Policy,
    settings: Settings,
    now: datetime,
    notes: list[str] | None = None,
) -> tuple[Plan, str]:
    """The plan of ``policy`` at ``now`` from a fresh listing, and the backend's name; what the
    backend could not see (untagged images, where Hub hides them) is added to ``notes``."""
    with namespace_backend(client, policy.namespace, settings=settings) as backend:
        inventories = backend.inventory(
            policy.namespace, repositories=policy.covers, concurrency=settings.concurrency
        )
        seen = collect_notes(inventories, notes if notes is not None else [])
        return evaluate(seen, policy, now), backend.name
