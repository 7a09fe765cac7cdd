"""Deterministic synthetic namespaces, large enough for benchmarks, cheap enough to hold.

``generate_state(repos=1000, images=1000)`` describes a million images but builds nothing but
1000 repository stubs: a repository's images are produced from ``(seed, namespace, index)`` when
it is first read, and dropped again when it falls out of ``HubState``'s small view cache. Only
deletions are remembered (see ``model.StoredRepository``).

The mix, per repository (newest push first): the newest image carries ``latest`` and a release
tag; about ``tagged_fraction`` of the others carry one current tag (``vX.Y.Z`` releases,
``pr-N`` builds, ``sha-…`` and ``main-N`` builds, one ``stable``); many untagged ones keep
historical tags (``latest``, ``pr-N``, ``main``) that moved on; about ``multiarch_fraction`` are
indexes of 2-4 platforms; about a quarter were never pulled, some were pulled in the last week,
the rest some time after their push; sizes are log-normal around 40 MB.

Default credentials (when ``users`` is not given): user ``bench``, password ``bench``, personal
access token ``dckr_pat_bench``, with access to the generated namespace.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from janitor.emulator.model import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    HubState,
    Platform,
    RepoSummary,
    StoredImage,
    StoredNamespace,
    StoredRepository,
    TagEntry,
    User,
)

BENCH_USERNAME = "bench"
BENCH_PASSWORD = "bench"
BENCH_TOKEN = "dckr_pat_bench"

_WORDS = (
    "api", "web", "worker", "base", "docs", "tools", "auth", "billing",
    "search", "gateway", "ingest", "reports", "cron", "proxy", "cache", "ml",
)  # fmt: skip
_PLATFORMS = (
    ("linux", "amd64", None),
    ("linux", "arm64", "v8"),
    ("linux", "arm", "v7"),
    ("linux", "ppc64le", None),
)
_DAY = 86400.0


def repository_name(index: int) -> str:
    return f"{_WORDS[index % len(_WORDS)]}-{index:04d}"


def generate_state(
    *,
    namespace: str = "bench",
    repos: int,
    images: int,
    seed: int = 0,
    now: datetime | None = None,
    tagged_fraction: float = 0.3,
    multiarch_fraction: float = 0.1,
    users: Sequence[User] | None = None,
    signed_fraction: float = 0.0,
) -> HubState:
    """A state with one generated namespace of ``repos`` repositories of ``images`` images each.

    Same arguments (``now`` included) give the same data. ``now`` defaults to the current time.
    ``signed_fraction`` of the tagged images get a cosign signature (and half of those an
    attestation) as images of their own, on top of ``images``.
    """
    if repos < 0 or images < 0:
        raise ValueError("repos and images cannot be negative")
    if not all(0 <= f <= 1 for f in (tagged_fraction, multiarch_fraction, signed_fraction)):
        raise ValueError("fractions are between 0 and 1")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if users is None:
        users = [
            User(
                BENCH_USERNAME,
                password=BENCH_PASSWORD,
                tokens=(BENCH_TOKEN,),
                namespaces=(namespace,),
            )
        ]
    ns = StoredNamespace(namespace, True)
    for index in range(repos):
        ns.repositories[repository_name(index)] = _repository(
            namespace,
            index,
            images,
            seed,
            now,
            tagged_fraction,
            multiarch_fraction,
            signed_fraction,
        )
    return HubState(users, [ns])


def _repository(
    namespace: str,
    index: int,
    count: int,
    seed: int,
    now: datetime,
    tagged_fraction: float,
    multiarch_fraction: float,
    signed_fraction: float = 0.0,
) -> StoredRepository:
    meta = random.Random(f"janitor-emulator/{seed}/{namespace}/{index}/meta")
    # Most repositories are busy; some went quiet long ago.
    newest_age = meta.uniform(0, 14) if meta.random() < 0.8 else meta.uniform(30, 400)
    newest = now - timedelta(days=newest_age)
    spacing_hours = meta.uniform(2, 72)
    registered = newest - timedelta(hours=spacing_hours * max(count, 1) * 1.1 + 24)
    summary = RepoSummary(
        last_updated=newest if count else None,
        date_registered=registered,
        storage_size=int(count * meta.lognormvariate(17.5, 0.6)),
        media_types=(INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE) if count else (),
    )
    generator = functools.partial(
        generate_images,
        f"janitor-emulator/{seed}/{namespace}/{index}",
        count,
        now,
        newest,
        spacing_hours,
        tagged_fraction,
        multiarch_fraction,
        signed_fraction,
    )
    return StoredRepository(
        namespace,
        repository_name(index),
        is_private=meta.random() < 0.2,
        description=f"generated repository {index}",
        star_count=meta.randrange(0, 50),
        pull_count=meta.randrange(0, 100_000),
        generator=generator,
        summary=summary,
    )


def generate_images(
    rng_seed: str,
    count: int,
    now: datetime,
    newest: datetime,
    spacing_hours: float,
    tagged_fraction: float,
    multiarch_fraction: float,
    signed_fraction: float = 0.0,
) -> list[StoredImage]:
    """A repository's images, newest push first. Pure: same arguments, same images."""
    rng = random.Random(rng_seed)
    rand = rng.random
    bits = rng.getrandbits
    lognorm = rng.lognormvariate
    expo = rng.expovariate
    now_ts = now.timestamp()
    pushed_ts = newest.timestamp()
    mean_gap = spacing_hours * 3600.0
    # tagged_fraction counts the newest image, which is always tagged.
    other_tagged = max(0.0, (tagged_fraction * count - 1) / (count - 1)) if count > 1 else 0.0
    release = [1, 9, 9]  # counts down as we walk back in time
    stable_given = False
    from_ts = datetime.fromtimestamp
    out: list[StoredImage] = []
    append = out.append
    for j in range(count):
        if j:
            pushed_ts -= expo(1.0 / mean_gap) + 1.0
        pushed = from_ts(pushed_ts, UTC)
        digest = f"sha256:{bits(256):064x}"
        if rand() < multiarch_fraction:
            n = 2 + int(rand() * 3)
            platforms = tuple(
                Platform(f"sha256:{bits(256):064x}", os, arch, variant, int(lognorm(17.0, 0.7)))
                for os, arch, variant in _PLATFORMS[:n]
            )
            size = sum(p.size for p in platforms)
            media_type = INDEX_MEDIA_TYPE
        else:
            platforms = ()
            size = int(lognorm(17.5, 1.0))
            media_type = MANIFEST_MEDIA_TYPE
        tags: list[TagEntry] = []
        if j == 0:
            tags.append(TagEntry("latest", True))
            tags.append(TagEntry(_version(release), True))
        elif rand() < other_tagged:
            kind = rand()
            if kind < 0.45:
                tags.append(TagEntry(_version(release), True))
                if not stable_given:
                    tags.append(TagEntry("stable", True))
                    stable_given = True
                tags.append(TagEntry("latest", False))
            elif kind < 0.75:
                tags.append(TagEntry(f"pr-{count - j + 100}", True))
            elif kind < 0.9:
                tags.append(TagEntry(f"sha-{bits(28):07x}", True))
            else:
                tags.append(TagEntry(f"main-{count - j}", True))
        else:
            history = rand()
            if history < 0.15:
                tags.append(TagEntry("latest", False))
            elif history < 0.35:
                tags.append(TagEntry(f"pr-{count - j + 100}", False))
            elif history < 0.45:
                tags.append(TagEntry("main", False))
        p = rand()
        if p < 0.25:
            pulled = None
        elif p < 0.4:
            pulled_ts = now_ts - rand() * 7 * _DAY
            pulled = from_ts(max(pulled_ts, pushed_ts), UTC)
        else:
            pulled = from_ts(pushed_ts + (now_ts - pushed_ts) * rand() ** 2, UTC)
        append(StoredImage(digest, media_type, pushed, pulled, size, platforms, tags))
    return with_signatures(out, rng_seed, signed_fraction) if signed_fraction else out


def with_signatures(images: list[StoredImage], rng_seed: str, fraction: float) -> list[StoredImage]:
    """``images`` with a cosign signature (``sha256-<hex>.sig``) after ``fraction`` of the tagged
    ones, pushed a minute after them, and an attestation (``.att``) after half of those; from a
    random stream of their own, so the other images do not change."""
    rng = random.Random(rng_seed + "/signatures")
    out: list[StoredImage] = []
    for image in images:
        if image.current_tags and rng.random() < fraction:
            kinds = (".sig", ".att") if rng.random() < 0.5 else (".sig",)
            for kind in kinds:
                tag = "sha256-" + image.digest.removeprefix("sha256:") + kind
                out.append(
                    StoredImage(
                        f"sha256:{rng.getrandbits(256):064x}",
                        MANIFEST_MEDIA_TYPE,
                        image.last_pushed + timedelta(minutes=1),
                        image.last_pulled,
                        int(rng.uniform(400, 2000)),
                        (),
                        [TagEntry(tag, True)],
                    )
                )
        out.append(image)
    return out


def _version(release: list[int]) -> str:
    major, minor, patch = release
    text = f"v{major}.{minor}.{patch}"
    if patch:
        release[2] -= 1
    elif minor:
        release[1], release[2] = minor - 1, 9
    else:
        release[0], release[1], release[2] = max(major - 1, 0), 9, 9
        if major == 0:  # ran out of releases: keep them unique all the same
            release[:] = [0, 0, 0]
    return text
