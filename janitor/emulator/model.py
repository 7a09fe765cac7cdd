"""The emulator's in-memory Hub: users, namespaces, repositories, images, tags.

Everything here is guarded by ``HubState.lock`` (an ``RLock``): the HTTP handlers and a test's
own thread may read and change the same state at once.

A repository's images are either *stored* (from a seed: plain objects, freely changed) or
*generated* (from ``generate_state``: produced on demand from ``(seed, namespace, index)``, with
only the deleted digests kept as an overlay, so a million images cost almost no memory). A
generated repository that is changed in any other way than by a delete is first *pinned*: its
images become stored ones.
"""

from __future__ import annotations

import hmac
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import re2

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
INDEX_MEDIA_TYPES = frozenset(
    {INDEX_MEDIA_TYPE, "application/vnd.docker.distribution.manifest.list.v2+json"}
)

ImageManagement = bool | Literal["gone"]

LIBRARY = "library"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_VIEW_CACHE_SIZE = 32
_QUERY_CACHE_SIZE = 8


ManifestDeletion = Literal["deleted", "unknown", "tagged", "child"]


def check_immutable_rules(rules: Iterable[str]) -> tuple[str, ...]:
    """Immutable-tag rules as given, after checking each is a regular expression (RE2 syntax)."""
    checked = tuple(rules)
    for rule in checked:
        if not isinstance(rule, str) or not rule:
            raise ValueError(f"an immutable-tag rule must be a non-empty string, not {rule!r}")
        try:
            re2.compile(rule)
        except re2.error as exc:
            raise ValueError(
                f"immutable-tag rule {rule!r} is not a regular expression: {exc}"
            ) from None
    return checked


@dataclass(slots=True)
class Platform:
    """A child manifest of an index: one platform's image."""

    digest: str
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None
    size: int = 0


@dataclass(slots=True)
class TagEntry:
    tag: str
    is_current: bool


@dataclass(slots=True)
class StoredImage:
    """A top-level image: a single-platform manifest, or an index with ``platforms`` children."""

    digest: str
    media_type: str
    last_pushed: datetime
    last_pulled: datetime | None
    size: int
    platforms: tuple[Platform, ...] = ()
    tags: list[TagEntry] = field(default_factory=list)
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    @property
    def is_index(self) -> bool:
        return bool(self.platforms) or self.media_type in INDEX_MEDIA_TYPES

    @property
    def current_tags(self) -> list[str]:
        return sorted(t.tag for t in self.tags if t.is_current)

    @property
    def currently_tagged(self) -> bool:
        return any(t.is_current for t in self.tags)

    @property
    def last_activity(self) -> datetime:
        pulled = self.last_pulled
        return pulled if pulled is not None and pulled > self.last_pushed else self.last_pushed

    def is_active(self, active_from: datetime) -> bool:
        """Pushed or pulled at or after ``active_from`` (the images endpoint's ``status``)."""
        pulled = self.last_pulled
        return self.last_pushed >= active_from or (pulled is not None and pulled >= active_from)

    @property
    def manifest_count(self) -> int:
        """Manifests a delete removes: the image and, for an index, its children."""
        return 1 + len(self.platforms)


@dataclass(slots=True)
class User:
    username: str
    password: str | None = field(default=None, repr=False)
    tokens: tuple[str, ...] = field(default=(), repr=False)
    namespaces: tuple[str, ...] = ()
    otp: str | None = field(default=None, repr=False)

    @property
    def two_factor(self) -> bool:
        return self.otp is not None

    def can_access(self, namespace: str) -> bool:
        """May read and delete in ``namespace`` (``library`` deletes are refused elsewhere)."""
        return namespace == self.username or namespace in self.namespaces

    def check_secret(self, secret: str) -> Literal["password", "pat"] | None:
        """Which kind of secret ``secret`` is for this user, or None when it is neither."""
        if self.password is not None and hmac.compare_digest(
            self.password.encode(), secret.encode()
        ):
            return "password"
        if any(hmac.compare_digest(t.encode(), secret.encode()) for t in self.tokens):
            return "pat"
        return None


@dataclass(frozen=True, slots=True)
class RepoSummary:
    last_updated: datetime | None
    date_registered: datetime
    storage_size: int
    media_types: tuple[str, ...]


class StoredRepository:
    """One repository. Read its images through ``HubState.view``; change it through ``HubState``."""

    __slots__ = (
        "_deleted",
        "_generator",
        "_images",
        "_summary",
        "_summary_version",
        "description",
        "immutable_tags",
        "is_private",
        "name",
        "namespace",
        "pull_count",
        "registered",
        "star_count",
        "version",
    )

    def __init__(
        self,
        namespace: str,
        name: str,
        *,
        is_private: bool = False,
        description: str = "",
        star_count: int = 0,
        pull_count: int = 0,
        images: Iterable[StoredImage] = (),
        generator: Callable[[], list[StoredImage]] | None = None,
        summary: RepoSummary | None = None,
        registered: datetime | None = None,
        immutable_tags: Iterable[str] = (),
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.is_private = is_private
        self.description = description
        self.star_count = star_count
        self.pull_count = pull_count
        self.version = 0
        self._generator = generator
        self._images: list[StoredImage] | None = None if generator else list(images)
        self._deleted: set[str] = set()
        self._summary = summary
        self._summary_version = 0 if summary else -1
        if generator is not None and summary is None:
            raise ValueError("a generated repository needs its summary")
        self.registered = registered
        self.immutable_tags: tuple[str, ...] = check_immutable_rules(immutable_tags)

    def is_immutable(self, tag: str) -> bool:
        """Whether ``tag`` matches one of the repository's immutable-tag rules (each a regular
        expression that must match the whole tag, as the newest spec's ``v.*`` examples read)."""
        return any(re2.fullmatch(rule, tag) is not None for rule in self.immutable_tags)

    @property
    def generated(self) -> bool:
        return self._generator is not None

    def _source_images(self) -> list[StoredImage]:
        if self._generator is None:
            assert self._images is not None
            return self._images
        images = self._generator()
        if self._deleted:
            images = [i for i in images if i.digest not in self._deleted]
        return images

    def _pin(self) -> None:
        """Turn generated images into stored ones, so they can change in place."""
        if self._generator is not None:
            self._images = self._source_images()
            self._generator = None
            self._deleted.clear()


class RepoView:
    """A consistent read-only picture of a repository's images at one ``version``."""

    __slots__ = ("by_digest", "images", "parent_of", "queries", "tag_owner", "version")

    def __init__(self, version: int, images: list[StoredImage]) -> None:
        self.version = version
        # Newest push first; digest breaks ties so the order never depends on input order.
        self.images = sorted(images, key=lambda i: (i.last_pushed, i.digest), reverse=True)
        self.by_digest = {i.digest: i for i in self.images}
        self.parent_of: dict[str, str] = {}
        self.tag_owner: dict[str, StoredImage] = {}
        for image in self.images:
            for child in image.platforms:
                self.parent_of.setdefault(child.digest, image.digest)
            for tag in image.tags:
                if tag.is_current:
                    self.tag_owner[tag.tag] = image
        self.queries: OrderedDict[tuple[Any, ...], list[Any]] = OrderedDict()

    def cached(self, key: tuple[Any, ...], compute: Callable[[], list[Any]]) -> list[Any]:
        """Memoise a filtered/sorted listing, so paging through it costs a slice per page."""
        hit = self.queries.get(key)
        if hit is not None:
            self.queries.move_to_end(key)
            return hit
        result = compute()
        self.queries[key] = result
        if len(self.queries) > _QUERY_CACHE_SIZE:
            self.queries.popitem(last=False)
        return result


@dataclass
class StoredNamespace:
    name: str
    image_management: ImageManagement = True
    repositories: dict[str, StoredRepository] = field(default_factory=dict)


class HubState:
    """All of the emulated Hub's data. Thread-safe: every method takes ``lock``."""

    def __init__(
        self,
        users: Iterable[User] = (),
        namespaces: Iterable[StoredNamespace] = (),
    ) -> None:
        self.lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.namespaces: dict[str, StoredNamespace] = {}
        for user in users:
            if user.username in self.users:
                raise ValueError(f"user {user.username!r} defined twice")
            self.users[user.username] = user
        for ns in namespaces:
            if ns.name in self.namespaces:
                raise ValueError(f"namespace {ns.name!r} defined twice")
            self.namespaces[ns.name] = ns
        self.namespaces.setdefault(LIBRARY, StoredNamespace(LIBRARY))
        for user in self.users.values():  # a user's own namespace always exists
            self.namespaces.setdefault(user.username, StoredNamespace(user.username))
        self._views: OrderedDict[tuple[str, str], RepoView] = OrderedDict()

    def __repr__(self) -> str:
        return f"HubState(users={len(self.users)}, namespaces={sorted(self.namespaces)})"

    # -- lookups -------------------------------------------------------------------------------

    def user(self, username: str) -> User | None:
        with self.lock:
            return self.users.get(username)

    def namespace(self, name: str) -> StoredNamespace | None:
        with self.lock:
            return self.namespaces.get(name)

    def repository(self, namespace: str, name: str) -> StoredRepository | None:
        with self.lock:
            ns = self.namespaces.get(namespace)
            return ns.repositories.get(name) if ns else None

    def _repo(self, namespace: str, name: str) -> StoredRepository:
        repo = self.repository(namespace, name)
        if repo is None:
            raise KeyError(f"no repository {namespace}/{name}")
        return repo

    def view(self, namespace: str, name: str) -> RepoView:
        """The repository's images now (KeyError when it does not exist)."""
        with self.lock:
            repo = self._repo(namespace, name)
            key = (namespace, name)
            view = self._views.get(key)
            if view is not None and view.version == repo.version:
                self._views.move_to_end(key)
                return view
            view = RepoView(repo.version, repo._source_images())
            self._views[key] = view
            if len(self._views) > _VIEW_CACHE_SIZE:
                self._views.popitem(last=False)
            return view

    def images(self, namespace: str, name: str) -> list[StoredImage]:
        """Top-level images, newest push first."""
        return list(self.view(namespace, name).images)

    def image(self, namespace: str, name: str, digest: str) -> StoredImage | None:
        return self.view(namespace, name).by_digest.get(digest)

    def summary(self, repo: StoredRepository) -> RepoSummary:
        with self.lock:
            if repo._summary is not None and (
                repo.generated or repo._summary_version == repo.version
            ):
                return repo._summary
            images = self.view(repo.namespace, repo.name).images
            pushed = [i.last_pushed for i in images]
            registered = repo.registered or (min(pushed) if pushed else _EPOCH)
            summary = RepoSummary(
                last_updated=max(pushed) if pushed else None,
                date_registered=registered,
                storage_size=sum(i.size for i in images),
                media_types=tuple(sorted({i.media_type for i in images})),
            )
            repo._summary = summary
            repo._summary_version = repo.version
            return summary

    def check_credentials(
        self, identifier: str, secret: str
    ) -> tuple[User, Literal["password", "pat"]] | None:
        with self.lock:
            user = self.users.get(identifier)
            if user is None:
                return None
            kind = user.check_secret(secret)
            return (user, kind) if kind else None

    # -- changes -------------------------------------------------------------------------------

    def _touch(self, repo: StoredRepository) -> None:
        repo.version += 1
        self._views.pop((repo.namespace, repo.name), None)

    def add_namespace(
        self, name: str, *, image_management: ImageManagement = True
    ) -> StoredNamespace:
        with self.lock:
            ns = self.namespaces.get(name)
            if ns is None:
                ns = self.namespaces[name] = StoredNamespace(name, image_management)
            else:
                ns.image_management = image_management
            return ns

    def add_repository(
        self, namespace: str, name: str, *, is_private: bool = False, description: str = ""
    ) -> StoredRepository:
        with self.lock:
            ns = self.namespaces.get(namespace) or self.add_namespace(namespace)
            if name in ns.repositories:
                raise ValueError(f"repository {namespace}/{name} exists")
            repo = StoredRepository(namespace, name, is_private=is_private, description=description)
            ns.repositories[name] = repo
            return repo

    def push_image(self, namespace: str, name: str, image: StoredImage) -> None:
        """Add an image (its current tags move to it, as a push does)."""
        with self.lock:
            repo = self._repo(namespace, name)
            repo._pin()
            assert repo._images is not None
            if any(i.digest == image.digest for i in repo._images):
                raise ValueError(f"{image.digest} is already in {namespace}/{name}")
            for tag in image.current_tags:
                self._untag_current(repo, tag)
            repo._images.append(image)
            self._touch(repo)

    def _untag_current(self, repo: StoredRepository, tag: str) -> None:
        assert repo._images is not None
        for other in repo._images:
            for entry in other.tags:
                if entry.tag == tag and entry.is_current:
                    entry.is_current = False

    def tag_image(self, namespace: str, name: str, digest: str, tag: str) -> None:
        """Point ``tag`` at ``digest``; where it pointed before becomes a historical tag."""
        with self.lock:
            repo = self._repo(namespace, name)
            repo._pin()
            assert repo._images is not None
            target = next((i for i in repo._images if i.digest == digest), None)
            if target is None:
                raise KeyError(f"no image {digest} in {namespace}/{name}")
            self._untag_current(repo, tag)
            existing = next((t for t in target.tags if t.tag == tag), None)
            if existing is None:
                target.tags.append(TagEntry(tag, True))
            else:
                existing.is_current = True
            self._touch(repo)

    def record_pull(self, namespace: str, name: str, digest: str, at: datetime) -> None:
        with self.lock:
            repo = self._repo(namespace, name)
            repo._pin()
            assert repo._images is not None
            target = next((i for i in repo._images if i.digest == digest), None)
            if target is None:
                raise KeyError(f"no image {digest} in {namespace}/{name}")
            target.last_pulled = at
            repo.pull_count += 1
            self._touch(repo)

    def delete_images(self, namespace: str, name: str, digests: Iterable[str]) -> tuple[int, int]:
        """Delete top-level images and their current tags. Returns (manifests, tags) deleted."""
        with self.lock:
            repo = self._repo(namespace, name)
            view = self.view(namespace, name)
            doomed = {d for d in digests if d in view.by_digest}
            manifests = sum(view.by_digest[d].manifest_count for d in doomed)
            tags = sum(len(view.by_digest[d].current_tags) for d in doomed)
            if not doomed:
                return 0, 0
            if repo._generator is not None:
                repo._deleted |= doomed
            else:
                assert repo._images is not None
                repo._images = [i for i in repo._images if i.digest not in doomed]
            self._touch(repo)
            return manifests, tags

    # -- the current API: Hub's tag DELETE and the registry's manifest DELETE -----------------

    def set_immutable_tags(self, namespace: str, name: str, rules: Iterable[str]) -> None:
        with self.lock:
            self._repo(namespace, name).immutable_tags = check_immutable_rules(rules)

    def delete_tag(self, namespace: str, name: str, tag: str) -> bool:
        """Remove the current ``tag`` (the image it pointed at stays, maybe untagged); False when
        no image carries it as a current tag."""
        with self.lock:
            repo = self._repo(namespace, name)
            if tag not in self.view(namespace, name).tag_owner:
                return False
            repo._pin()
            assert repo._images is not None
            for image in repo._images:
                image.tags = [t for t in image.tags if not (t.tag == tag and t.is_current)]
            self._touch(repo)
            return True

    def delete_manifest(
        self, namespace: str, name: str, digest: str, *, with_tags: bool = False
    ) -> ManifestDeletion:
        """The registry's ``DELETE /v2/{name}/manifests/{digest}``: a manifest no index
        references goes (``child`` otherwise; ``unknown``: no such manifest). A manifest a current
        tag points at is refused (``tagged``), or with ``with_tags`` deleted with every tag
        pointing at it, as the distribution registry does. Deleting an index leaves its children
        behind as untagged manifests of their own, as a registry does; they can then be deleted
        one by one."""
        with self.lock:
            repo = self._repo(namespace, name)
            view = self.view(namespace, name)
            image = view.by_digest.get(digest)
            if digest in view.parent_of:
                return "child"  # an index still lists it
            if image is None:
                return "unknown"
            if image.currently_tagged and not with_tags:
                return "tagged"
            repo._pin()
            assert repo._images is not None
            orphans = [
                StoredImage(
                    digest=p.digest,
                    media_type=MANIFEST_MEDIA_TYPE,
                    last_pushed=image.last_pushed,
                    last_pulled=image.last_pulled,
                    size=p.size,
                    os=p.os,
                    architecture=p.architecture,
                    variant=p.variant,
                )
                for p in image.platforms
            ]
            repo._images = [i for i in repo._images if i.digest != digest] + orphans
            self._touch(repo)
            return "deleted"
