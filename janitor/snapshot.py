"""Snapshots: a namespace's inventory saved in the emulator's seed format.

``janitor snapshot NS -o FILE`` writes one; ``janitor plan --snapshot FILE`` plans against it
offline; ``janitor emulator serve --seed FILE`` serves it. Users are not part of a snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from janitor.errors import UsageError
from janitor.fileio import INVENTORY_LIMIT, FileInputError, OutputTarget, read_text_capped
from janitor.hub.models import Image, Repository, RepositoryInventory, TagRef
from janitor.units import iso

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def image_to_seed(image: Image) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "digest": image.digest,
        "media_type": INDEX if image.children else MANIFEST,
        "last_pushed": iso(image.last_pushed),
        "last_pulled": iso(image.last_pulled),
        "tags": [{"tag": t.tag, "is_current": t.is_current} for t in image.tags],
    }
    if image.size is not None:
        entry["size"] = image.size
    if image.children:
        entry["platforms"] = [{"digest": child} for child in image.children]
    return entry


def write_snapshot(
    inventories: Iterable[RepositoryInventory], namespace: str, target: OutputTarget
) -> int:
    """Write the inventories as a seed file (JSON when the name given ends in ``.json``, YAML
    otherwise); returns the number of images written."""
    repositories: dict[str, Any] = {}
    count = 0
    for inventory in inventories:
        repositories[inventory.repository.name] = {
            "is_private": inventory.repository.is_private,
            "images": [image_to_seed(image) for image in inventory.images],
        }
        count += len(inventory.images)
    seed = {"namespaces": {namespace: {"repositories": repositories}}}
    with target.open() as fh:
        if target.given.endswith(".json"):
            json.dump(seed, fh, indent=1)
        else:
            yaml.safe_dump(seed, fh, sort_keys=False)
    return count


def _time(value: Any, *, now: datetime, where: str) -> datetime | None:
    from janitor.emulator.timefmt import parse_seed_time

    try:
        return parse_seed_time(value, now=now)
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None


MAX_SIZE = 2**63 - 1


def _size(value: Any, *, where: str) -> int | None:
    """An image's size in bytes, as Hub gives it: a whole number, or nothing."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SIZE:
        raise UsageError(f"{where}: size: expected a whole number of bytes (0 to 2**63-1)")
    return value


def load_snapshot(path: Path, *, now: datetime | None = None) -> list[RepositoryInventory]:
    """Read a snapshot (or any seed file) into inventories, without a Hub or an emulator."""
    now = now or datetime.now(UTC)
    try:
        text = read_text_capped(path, limit=INVENTORY_LIMIT)
    except FileInputError as exc:
        raise UsageError(f"--snapshot {exc}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except RecursionError:
        raise UsageError(f"{path}: cannot read the snapshot: it is nested too deeply") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read the snapshot: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("namespaces"), dict):
        raise UsageError(f"{path}: not a snapshot (expected a `namespaces:` mapping)")
    out: list[RepositoryInventory] = []
    for namespace, ns in data["namespaces"].items():
        for repo_name, repo in ((ns or {}).get("repositories") or {}).items():
            images = []
            for i, raw in enumerate((repo or {}).get("images") or []):
                where = f"{path}: namespaces.{namespace}.repositories.{repo_name}.images[{i}]"
                if not isinstance(raw, dict) or "digest" not in raw:
                    raise UsageError(f"{where}: an image needs a digest")
                images.append(
                    Image(
                        namespace=str(namespace),
                        repository=str(repo_name),
                        digest=str(raw["digest"]),
                        tags=tuple(
                            TagRef(str(t["tag"]), bool(t.get("is_current", True)))
                            for t in raw.get("tags") or []
                        ),
                        last_pushed=_time(raw.get("last_pushed"), now=now, where=where),
                        last_pulled=_time(raw.get("last_pulled"), now=now, where=where),
                        size=_size(raw.get("size"), where=where),
                        children=tuple(
                            str(p["digest"]) for p in raw.get("platforms") or [] if p.get("digest")
                        ),
                    )
                )
            out.append(
                RepositoryInventory(
                    Repository(
                        namespace=str(namespace),
                        name=str(repo_name),
                        is_private=bool((repo or {}).get("is_private", False)),
                    ),
                    tuple(images),
                )
            )
    return out
