"""Hypothesis strategies for Hub values and policies, reusable by every test package.

- :func:`moments` - timezone-aware UTC datetimes around :data:`NOW`, with a bias for the
  edges policies care about (exactly 30 days ago, one second either side, the future).
- :func:`tag_names`, :func:`tag_refs`, :func:`digests`
- :func:`images` - one :class:`~janitor.hub.models.Image` (tags current and historical,
  unknown push times, never-pulled, sizes)
- :func:`inventories` - a :class:`~janitor.hub.models.RepositoryInventory` with unique
  digests, shared push times (ties) and, optionally, multi-arch indexes whose platform
  manifests are also listed
- :func:`policy_data` / :func:`policies` - valid policy documents (as dicts) and
  :class:`~janitor.policy.Policy` objects built from them

Usage::

    from tests.policy.strategies import inventories, policies   # or a relative import
    @given(inv=inventories(), policy=policies())
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from hypothesis import strategies as st

from janitor.hub.models import Image, Repository, RepositoryInventory, TagRef
from janitor.policy import Policy, policy_from_data

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NAMESPACE = "acme"
REPOSITORIES = ("web", "api", "worker", "base-images", "docs", "legacy-tool")

TAG_POOL = (
    "latest",
    "stable",
    "main",
    "dev",
    "nightly",
    "v1.2.3",
    "1.0.0",
    "v2.10.0",
    "pr-1",
    "pr-123",
    "pr-9999",
    "release-1",
    "release-2",
    "release-10",
    "sha-0a1b2c",
)
COMPANION_SUFFIXES = (".sig", ".att", ".sbom", "")
TAG_ALPHABET = string.ascii_letters + string.digits + "_.-"

# Durations with clear gaps: every one is longer than the previous one on every date,
# so any (older_than, newer_than) pair taken in this order is a valid, non-empty window.
DURATIONS = ("1h", "12h", "2d", "7d", "14d", "45d", "3m", "6m", "1y", "2y")
TAG_PATTERNS = (
    "latest",
    "stable",
    "main",
    "pr-*",
    "release-*",
    "v*",
    "*",
    "release-?",
    "[0-9]*",
    "re:^v?[0-9]+\\.[0-9]+\\.[0-9]+$",
    "re:^pr-",
    "re:(a+)+$",
)

_UNITS = {"h": "hours", "d": "days", "m": "months", "y": "years"}


def _delta(text: str) -> relativedelta:
    return relativedelta(**{_UNITS[text[-1]]: int(text[:-1])})


def edges(now: datetime = NOW) -> tuple[datetime, ...]:
    """Moments exactly at every cutoff of :data:`DURATIONS` before ``now``, one second
    either side, ``now`` itself and an hour in the future."""
    found = [now, now + timedelta(hours=1)]
    for text in DURATIONS:
        cut = now - _delta(text)
        found.extend((cut - timedelta(seconds=1), cut, cut + timedelta(seconds=1)))
    return tuple(found)


def moments(now: datetime = NOW, *, days: int = 3 * 365) -> st.SearchStrategy[datetime]:
    """Aware UTC datetimes up to ``days`` before ``now`` (and a little after it), often
    exactly at a cutoff a generated policy uses."""
    offsets = st.integers(min_value=-2 * 86400, max_value=days * 86400)
    return st.one_of(
        st.sampled_from(edges(now)),
        offsets.map(lambda s: now - timedelta(seconds=s)),
    )


def tag_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(TAG_POOL),
        st.text(alphabet=TAG_ALPHABET, min_size=1, max_size=12),
    )


def tag_refs() -> st.SearchStrategy[TagRef]:
    return st.builds(TagRef, tag=tag_names(), is_current=st.booleans())


def digests() -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map(
        lambda h: f"sha256:{h}"
    )


def images(
    namespace: str = NAMESPACE, repository: str = "web", now: datetime = NOW
) -> st.SearchStrategy[Image]:
    return st.builds(
        Image,
        namespace=st.just(namespace),
        repository=st.just(repository),
        digest=digests(),
        tags=st.lists(tag_refs(), max_size=3).map(tuple),
        last_pushed=st.one_of(st.none(), moments(now)),
        last_pulled=st.one_of(st.none(), moments(now)),
        status=st.sampled_from([None, "active", "inactive"]),
        size=st.one_of(st.none(), st.integers(min_value=0, max_value=10**10)),
    )


@st.composite
def inventories(
    draw: st.DrawFn,
    namespace: str = NAMESPACE,
    repository: str | None = None,
    now: datetime = NOW,
    max_images: int = 20,
    multiarch: bool = True,
    companions: bool = False,
) -> RepositoryInventory:
    """A repository with unique digests; some images share a push time (ties), with
    ``multiarch`` some are indexes whose platform manifests are listed beside them, and with
    ``companions`` some are cosign-style companions (``sha256-<hex>.sig`` ...) of another image
    of the repository or of one that is gone."""
    name = repository or draw(st.sampled_from(REPOSITORIES))
    items = draw(
        st.lists(images(namespace, name, now), max_size=max_images, unique_by=lambda i: i.digest)
    )
    if len(items) >= 2 and draw(st.booleans()):
        shared = items[0].last_pushed
        ties = draw(st.sets(st.integers(0, len(items) - 1), max_size=len(items)))
        items = [
            _replace(im, last_pushed=shared) if k in ties else im for k, im in enumerate(items)
        ]
    if multiarch and len(items) >= 3 and draw(st.booleans()):
        parent = draw(st.integers(0, len(items) - 1))
        kids = draw(st.sets(st.integers(0, len(items) - 1), min_size=1, max_size=3))
        kids.discard(parent)
        children = tuple(items[k].digest for k in sorted(kids))
        items[parent] = _replace(items[parent], children=children)
    if companions and len(items) >= 2 and draw(st.booleans()):
        for k in sorted(draw(st.sets(st.integers(0, len(items) - 1), min_size=1, max_size=3))):
            if draw(st.integers(0, 3)) == 0:
                subject = draw(digests())  # gone: an orphan
            else:
                subject = items[draw(st.integers(0, len(items) - 1))].digest
            suffix = draw(st.sampled_from(COMPANION_SUFFIXES))
            tag = "sha256-" + subject.removeprefix("sha256:") + suffix
            items[k] = _replace(items[k], tags=(TagRef(tag, True),), children=())
    return RepositoryInventory(Repository(namespace=namespace, name=name), tuple(items))


def _replace(image: Image, **changes: Any) -> Image:
    fields = {
        "namespace": image.namespace,
        "repository": image.repository,
        "digest": image.digest,
        "tags": image.tags,
        "last_pushed": image.last_pushed,
        "last_pulled": image.last_pulled,
        "status": image.status,
        "size": image.size,
        "children": image.children,
    }
    fields.update(changes)
    return Image(**fields)


# --------------------------------------------------------------------------- policies


@st.composite
def _window(draw: st.DrawFn, *, newer: bool) -> dict[str, str]:
    """An age window: older_than and/or newer_than, older always the shorter."""
    i = draw(st.integers(0, len(DURATIONS) - 1))
    window: dict[str, str] = {"older_than": DURATIONS[i]}
    if newer and i + 1 < len(DURATIONS) and draw(st.booleans()):
        window["newer_than"] = DURATIONS[draw(st.integers(i + 1, len(DURATIONS) - 1))]
        if draw(st.booleans()) and "newer_than" in window:
            del window["older_than"]
    return window


@st.composite
def select_entries(draw: st.DrawFn, *, newer: bool = True) -> dict[str, Any]:
    """One valid select entry (without a name). ``newer=False`` leaves out every
    ``newer_than``, so the entry selects by age alone and monotonically in time."""
    entry: dict[str, Any] = {}
    while not entry:
        if draw(st.booleans()):
            entry["currently_tagged"] = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            entry["tags"] = draw(st.lists(st.sampled_from(TAG_PATTERNS), min_size=1, max_size=3))
            if "currently_tagged" in entry:  # tags needs current tags: false would be refused
                entry["currently_tagged"] = True
        if draw(st.booleans()):
            entry["last_pushed"] = draw(_window(newer=newer))
        if draw(st.booleans()):
            if draw(st.integers(0, 4)) == 0:
                entry["last_pulled"] = {"never": "match"}
            else:
                pulled: dict[str, Any] = draw(_window(newer=newer))
                if "older_than" in pulled or draw(st.booleans()):
                    pulled["never"] = draw(st.sampled_from(["match", "skip"]))
                entry["last_pulled"] = pulled
    if draw(st.booleans()):
        entry["current_tag"] = draw(st.sampled_from(["skip", "delete"]))
    return entry


@st.composite
def keep_rules(draw: st.DrawFn) -> dict[str, Any]:
    shape = draw(
        st.sampled_from(
            ["most_recent", "tags", "tags+most_recent", "pulled_within", "pushed_within"]
        )
    )
    tags = draw(st.lists(st.sampled_from(TAG_PATTERNS), min_size=1, max_size=3))
    n = draw(st.integers(1, 6))
    duration = draw(st.sampled_from(DURATIONS))
    return {
        "most_recent": {"most_recent": n},
        "tags": {"tags": tags},
        "tags+most_recent": {"tags": tags, "most_recent": n},
        "pulled_within": {"pulled_within": duration},
        "pushed_within": {"pushed_within": duration},
    }[shape]


@st.composite
def policy_data(
    draw: st.DrawFn,
    *,
    newer: bool = True,
    max_entries: int = 3,
    max_keep: int = 3,
    orphans: bool = False,
) -> dict[str, Any]:
    """A valid policy document for namespace ``acme`` covering every repository; with
    ``orphans`` sometimes an ``orphaned_companions: true`` entry."""
    entries = draw(st.lists(select_entries(newer=newer), min_size=1, max_size=max_entries))
    if orphans and draw(st.integers(0, 2)) == 0:
        orphan: dict[str, Any] = {"orphaned_companions": True}
        if draw(st.booleans()):
            orphan["last_pushed"] = draw(_window(newer=newer))
        entries.insert(draw(st.integers(0, len(entries))), orphan)
    for i, entry in enumerate(entries):
        if draw(st.booleans()):
            entry["name"] = f"entry-{i}"
    return {
        "name": "generated",
        "namespace": NAMESPACE,
        "select": entries,
        "keep": draw(st.lists(keep_rules(), max_size=max_keep)),
    }


def policies(*, newer: bool = True) -> st.SearchStrategy[Policy]:
    return policy_data(newer=newer).map(lambda data: policy_from_data(data, "generated.yaml"))


def durations_of(data: dict[str, Any]) -> set[str]:
    """Every duration a policy document uses."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("older_than", "newer_than", "pulled_within", "pushed_within"):
                    found.add(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return found


NOWS = st.one_of(
    st.just(NOW),
    st.integers(min_value=-400 * 86400, max_value=400 * 86400).map(
        lambda s: NOW + timedelta(seconds=s)
    ),
)


@st.composite
def scenarios(
    draw: st.DrawFn, *, newer: bool = True, repositories: int = 1
) -> tuple[dict[str, Any], list[RepositoryInventory], datetime]:
    """(policy document, inventories, now), with many push and pull times sitting exactly
    on the policy's own cutoffs (and one second either side), where off-by-one bugs live."""
    data = draw(policy_data(newer=newer, orphans=True))
    now = draw(NOWS)
    cuts = []
    for text in sorted(durations_of(data)):
        cut = now - _delta(text)
        cuts.extend((cut - timedelta(seconds=1), cut, cut + timedelta(seconds=1)))
    invs = draw(
        st.lists(
            inventories(now=now, companions=True),
            min_size=1,
            max_size=repositories,
            unique_by=lambda i: i.repository.name,
        )
    )
    if cuts:
        aligned = []
        for inv in invs:
            images = []
            for image in inv.images:
                if draw(st.booleans()):
                    image = _replace(image, last_pushed=draw(st.sampled_from(cuts)))
                if draw(st.booleans()):
                    image = _replace(image, last_pulled=draw(st.sampled_from(cuts)))
                images.append(image)
            aligned.append(RepositoryInventory(inv.repository, tuple(images)))
        invs = aligned
    return data, invs, now
