"""The emulator's data, and the three ways to get some: a seed, a generator, a dump.

``HubState`` lives in ``model``, the seed format (documented there) in ``seed``, synthetic data in
``generate``; this module is where callers import them from.
"""

from __future__ import annotations

from janitor.emulator.generate import (
    BENCH_PASSWORD,
    BENCH_TOKEN,
    BENCH_USERNAME,
    generate_state,
)
from janitor.emulator.model import (
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    HubState,
    Platform,
    StoredImage,
    StoredNamespace,
    StoredRepository,
    TagEntry,
    User,
)
from janitor.emulator.seed import SeedError, dump_seed, load_seed

__all__ = [
    "BENCH_PASSWORD",
    "BENCH_TOKEN",
    "BENCH_USERNAME",
    "INDEX_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "HubState",
    "Platform",
    "SeedError",
    "StoredImage",
    "StoredNamespace",
    "StoredRepository",
    "TagEntry",
    "User",
    "dump_seed",
    "generate_state",
    "load_seed",
]
