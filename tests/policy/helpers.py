"""Small builders for table tests: policies from dicts or YAML, images by age in days."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from janitor.hub.models import Image, Repository, RepositoryInventory, TagRef
from janitor.plan import Decision, RepositoryPlan
from janitor.policy import Policy, evaluate_repository, policy_from_data

from .strategies import NOW


def make_policy(select: list[dict[str, Any]] | None = None, **fields: Any) -> Policy:
    """A policy for namespace acme; ``select`` defaults to one permissive-looking entry."""
    data: dict[str, Any] = {"name": "t", "namespace": "acme"}
    data["select"] = select if select is not None else [{"last_pushed": {"older_than": "1d"}}]
    data.update(fields)
    return policy_from_data(data, Path("t.yaml"))


def ago(days: float | None, now: datetime = NOW) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def image(
    digest: str,
    *,
    tags: Iterable[str] = (),
    old_tags: Iterable[str] = (),
    pushed: float | None = 100,
    pulled: float | None = None,
    repository: str = "web",
    size: int | None = None,
    children: tuple[str, ...] = (),
) -> Image:
    """An image pushed ``pushed`` days and pulled ``pulled`` days before NOW (None: unknown
    push / never pulled). Short digests are padded into sha256 form."""
    refs = tuple(TagRef(t, True) for t in tags) + tuple(TagRef(t, False) for t in old_tags)
    return Image(
        namespace="acme",
        repository=repository,
        digest=digest if digest.startswith("sha256:") else f"sha256:{digest:0>64}",
        tags=refs,
        last_pushed=ago(pushed),
        last_pulled=ago(pulled),
        size=size,
        children=children,
    )


def inventory(
    *images: Image, repository: str = "web", namespace: str = "acme"
) -> RepositoryInventory:
    return RepositoryInventory(Repository(namespace=namespace, name=repository), tuple(images))


def judge(policy: Policy, *images: Image, now: datetime = NOW) -> RepositoryPlan:
    return evaluate_repository(inventory(*images), policy, now)


def one(policy: Policy, img: Image, now: datetime = NOW) -> Decision:
    """The decision for a single image judged alone in its repository."""
    (decision,) = judge(policy, img, now=now).decisions
    return decision
