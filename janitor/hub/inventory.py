"""A namespace's inventory, repository by repository, with bounded concurrency and memory.

For each selected repository: its images (legacy images endpoint) and, with ``with_tags``, its
current tags (tags endpoint), which give sizes and the platform children of multi-arch indexes.
A digest seen only as a child of an index is never an image of its own: it is folded into its
parent (the parent's ``children``; its tags and most recent push/pull count for the parent, the
safe direction for retention). Repositories are fetched by a pool of ``concurrency`` threads but
yielded in the listing's order (by name), with at most ``2 * concurrency`` of them in memory.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from janitor.hub.client import HubClient
from janitor.hub.errors import IncompleteListing
from janitor.hub.models import Image, Repository, RepositoryInventory, Tag, TagRef

__all__ = [
    "build_repository_inventory",
    "fetch_in_order",
    "fold_children",
    "iter_inventory",
    "tag_size",
    "tag_target",
]

T = TypeVar("T")
log = logging.getLogger("janitor.hub")


class _Stopped(Exception):
    """The consumer went away; abandon the fetch at the next page."""


def _until(stop: threading.Event | None, items: Iterable[T]) -> Iterator[T]:
    for item in items:
        if stop is not None and stop.is_set():
            raise _Stopped
        yield item


def _latest(*values: datetime | None) -> datetime | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _merge_tags(*groups: Iterable[TagRef]) -> tuple[TagRef, ...]:
    return tuple(dict.fromkeys(t for group in groups for t in group))


def tag_size(tag: Tag) -> int | None:
    """Bytes of the image a tag points at: the sum of its platform images where Hub gives
    their sizes (an index costs all of them), else ``full_size``."""
    sizes = [p.size for p in tag.images if p.size is not None]
    if sizes and (len(tag.images) > 1 or tag.full_size is None):
        return sum(sizes)
    return tag.full_size if tag.full_size is not None else (sizes[0] if sizes else None)


def tag_target(tag: Tag, owner: Mapping[str, str]) -> str | None:
    """The digest a tag points at: Hub's top-level ``digest`` (live shape); else the image the
    images endpoint lists with this tag as current (the spec's shape has no digest of its own);
    else the tag's only platform image."""
    if tag.digest is not None:
        return tag.digest
    if tag.name in owner:
        return owner[tag.name]
    return tag.images[0].digest if len(tag.images) == 1 else None


def _merge(parent: Image, child: Image) -> Image:
    return replace(
        parent,
        tags=_merge_tags(parent.tags, child.tags),
        last_pushed=_latest(parent.last_pushed, child.last_pushed),
        last_pulled=_latest(parent.last_pulled, child.last_pulled),
        status="active" if "active" in (parent.status, child.status) else parent.status,
    )


def fold_children(
    namespace: str, repository: str, images: Iterable[Image], tags: Iterable[Tag]
) -> list[Image]:
    """Images of one repository, with sizes and children from its tags, children folded in."""
    by_digest: dict[str, Image] = {}
    for image in images:
        seen = by_digest.get(image.digest)
        by_digest[image.digest] = image if seen is None else _merge(seen, image)

    owner = {t.tag: i.digest for i in by_digest.values() for t in i.tags if t.is_current}
    children: dict[str, dict[str, None]] = {}  # parent -> ordered set of children
    sizes: dict[str, int] = {}
    parent_tags: dict[str, list[Tag]] = {}
    for tag in tags:
        parent = tag_target(tag, owner)
        if parent is None:
            continue
        kids = [p.digest for p in tag.images if p.digest and p.digest != parent]
        if kids:
            children.setdefault(parent, {}).update(dict.fromkeys(kids))
        size = tag_size(tag)
        if size is not None:
            sizes.setdefault(parent, size)
        parent_tags.setdefault(parent, []).append(tag)

    child_of = {kid: parent for parent, kids in children.items() for kid in kids}
    for parent, kid_set in children.items():
        if parent in child_of:
            continue  # an index listed inside another index: Hub does not nest them
        listed = [by_digest.pop(kid) for kid in kid_set if kid in by_digest]
        found = by_digest.get(parent)
        if found is not None:
            image = found
        else:
            if not listed:
                continue  # neither the index nor its children were listed: nothing to judge
            tags_of = parent_tags.get(parent, [])
            image = Image(
                namespace=namespace,
                repository=repository,
                digest=parent,
                tags=tuple(TagRef(t.name, True) for t in tags_of),
                last_pushed=_latest(*(t.last_pushed for t in tags_of)),
                last_pulled=_latest(*(t.last_pulled for t in tags_of)),
            )
        for kid in listed:
            image = _merge(image, kid)
        by_digest[parent] = replace(image, children=tuple(kid_set))

    return [
        replace(image, size=sizes[digest]) if image.size is None and digest in sizes else image
        for digest, image in by_digest.items()
    ]


def build_repository_inventory(
    client: HubClient,
    repository: Repository,
    *,
    with_tags: bool = True,
    stop: threading.Event | None = None,
) -> RepositoryInventory:
    """Everything janitor needs to judge one repository."""
    ns, name = repository.namespace, repository.name
    images = client.complete(
        lambda: _until(stop, client.iter_images(ns, name, ordering="digest")),
        f"the images listing of {ns}/{name}",
    )
    tags = (
        client.complete(
            lambda: _until(stop, client.iter_tags(ns, name)), f"the tags listing of {ns}/{name}"
        )
        if with_tags
        else []
    )
    folded = fold_children(ns, name, images, tags)
    return RepositoryInventory(repository=repository, images=tuple(folded))


def fetch_in_order(
    repositories: Iterable[Repository],
    fetch: Callable[[Repository, threading.Event], RepositoryInventory],
    *,
    concurrency: int,
    thread_name: str,
) -> Generator[RepositoryInventory, None, None]:
    """``fetch`` each repository, ``concurrency`` at once, yielding them in the listing's order
    with at most ``2 * concurrency`` in memory; a name the paging repeats is fetched once.

    A repository whose listing does not add up even when read again (``IncompleteListing``)
    comes back *refused*, without images: janitor never plans or deletes from it, and the rest
    of the namespace goes on. Any other error of a repository's fetch is raised when its turn
    comes; closing the iterator early stops the workers at their next page."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    stop = threading.Event()
    pending: deque[Future[RepositoryInventory]] = deque()
    names: set[str] = set()

    def fetch_or_refuse(repository: Repository) -> RepositoryInventory:
        try:
            return fetch(repository, stop)
        except IncompleteListing as exc:
            log.warning(
                "%s/%s is not planned: %s", repository.namespace, repository.name, exc.summary
            )
            return RepositoryInventory(repository=repository, images=(), refused=exc.summary)

    with ThreadPoolExecutor(concurrency, thread_name_prefix=thread_name) as pool:
        try:
            for repository in repositories:
                if repository.name in names:
                    continue  # a repository repeated by paging under concurrent changes
                names.add(repository.name)
                pending.append(pool.submit(fetch_or_refuse, repository))
                while len(pending) >= 2 * concurrency:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            stop.set()
            for future in pending:
                future.cancel()


def iter_inventory(
    client: HubClient,
    namespace: str,
    *,
    repositories: Callable[[str], bool] = lambda name: True,
    concurrency: int = 4,
    with_tags: bool = True,
) -> Generator[RepositoryInventory, None, None]:
    """The inventory of ``namespace``, one repository at a time, in the listing's order (see
    :func:`fetch_in_order` for refused repositories and errors)."""
    return fetch_in_order(
        (r for r in client.iter_repositories(namespace) if repositories(r.name)),
        lambda repository, stop: build_repository_inventory(
            client, repository, with_tags=with_tags, stop=stop
        ),
        concurrency=concurrency,
        thread_name="janitor-inventory",
    )
