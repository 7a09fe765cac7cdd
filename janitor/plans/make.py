"""Plan one policy against Hub through the deletion backend that would apply it, so that a saved
plan names the backend its listing came from."""

from __future__ import annotations

from datetime import datetime

from janitor.backends.select import namespace_backend
from janitor.config import Settings
from janitor.hub.client import HubClient
from janitor.plan import Plan
from janitor.policy import Policy, evaluate


def plan_from_hub(
    client: HubClient, policy: Policy, settings: Settings, now: datetime
) -> tuple[Plan, str]:
    """The plan of ``policy`` at ``now`` from a fresh listing, and the backend's name."""
    with namespace_backend(client, policy.namespace, settings=settings) as backend:
        inventories = backend.inventory(
            policy.namespace, repositories=policy.covers, concurrency=settings.concurrency
        )
        return evaluate(inventories, policy, now), backend.name
