"""The seed format: what an emulator starts from, and what ``janitor snapshot`` writes.

YAML or JSON, one document::

    users:
      - username: alice
        password: "correct-horse"      # for /v2/users/login and /v2/auth/token
        tokens: ["dckr_pat_..."]       # personal access tokens, also accepted as the secret
        namespaces: [acme]             # namespaces alice may read and delete in (her own implied)
        otp: "123456"                  # optional: 2FA is on; the code /v2/users/2fa-login accepts
    namespaces:
      acme:
        image_management: true         # false: the image endpoints answer 403 (plan lacks the
                                       # feature); "gone": they answer 404 (the retired API)
        repositories:
          web:
            is_private: false
            description: ""            # optional
            star_count: 0              # optional
            pull_count: 0              # optional
            immutable_tags: ["v.*"]    # optional: tags matching one of these regular
                                       # expressions (whole tag) cannot be deleted
            images:
              - digest: "sha256:<64 hex>"
                media_type: application/vnd.oci.image.index.v1+json  # default: index when it
                                                                     # has platforms, else manifest
                last_pushed: "2026-01-02T03:04:05Z"  # or relative: "40d" = 40 days before now;
                                                     # null (unknown) loads as the zero time
                last_pulled: null                    # null = never; "0001-01-01T00:00:00Z" too
                size: 12345678                       # bytes; an index: sum of platforms if omitted
                os: linux                            # a single manifest's platform (default
                architecture: amd64                  # linux/amd64, variant none)
                platforms:                           # children of an index
                  - {digest: "sha256:...", os: linux, architecture: amd64, size: 6000000}
                tags:
                  - {tag: latest, is_current: true}
                  - {tag: old, is_current: false}    # historical: now points elsewhere
                  - stable                           # a plain string is a current tag

Relative times (``s``, ``m``, ``h``, ``d``, ``w``) are resolved against ``now`` when the seed is
loaded, so a demo seed stays meaningful as time passes. ``library`` always exists, and every
user's own namespace too. A tag is current on at most one image of a repository.

``dump_seed`` writes the same format with absolute times and every field spelled out, so
``load_seed(dump_seed(s))`` gives back an equal state. Dumping one namespace leaves the users out
(their secrets belong to the seed's author, not to a snapshot).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

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
    check_immutable_rules,
)
from janitor.emulator.timefmt import ZERO_TIME, format_time, parse_seed_time, parse_time
from janitor.fileio import INVENTORY_LIMIT, FileInputError, read_text_capped

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


class SeedError(ValueError):
    """A seed that cannot be loaded; the message names the place (``namespaces.acme...``)."""


def load_seed(source: str | Path | Mapping[str, Any], *, now: datetime | None = None) -> HubState:
    """Build a ``HubState`` from a seed file (YAML or JSON) or an already parsed mapping."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if isinstance(source, Mapping):
        data: object = source
    else:
        path = Path(source)
        try:
            text = read_text_capped(path, limit=INVENTORY_LIMIT)
        except FileInputError as exc:
            raise SeedError(f"cannot read seed {exc}") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except RecursionError:
            raise SeedError(f"{path}: nested too deeply") from None
        except (ValueError, yaml.YAMLError) as exc:
            kind = "JSON" if path.suffix == ".json" else "YAML"
            raise SeedError(f"{path}: not valid {kind}: {exc}") from None
    return _Loader(now).state(data)


class _Loader:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def state(self, data: object) -> HubState:
        if data is None:
            data = {}
        root = _mapping(data, "seed", {"users", "namespaces"})
        users = [
            self.user(u, f"users[{i}]") for i, u in enumerate(_list(root.get("users"), "users"))
        ]
        namespaces = [
            self.namespace(str(name), body, f"namespaces.{name}")
            for name, body in _mapping(root.get("namespaces") or {}, "namespaces", None).items()
        ]
        try:
            return HubState(users, namespaces)
        except ValueError as exc:
            raise SeedError(f"cannot read seed {exc}") from None

    def user(self, data: object, where: str) -> User:
        body = _mapping(data, where, {"username", "password", "tokens", "namespaces", "otp"})
        username = _str(body.get("username"), f"{where}.username")
        password = body.get("password")
        tokens = _list(body.get("tokens"), f"{where}.tokens")
        if password is None and not tokens:
            raise SeedError(f"{where}: a user needs a password or a token")
        otp = body.get("otp")
        return User(
            username=username,
            password=None if password is None else _str(password, f"{where}.password"),
            tokens=tuple(_str(t, f"{where}.tokens[{i}]") for i, t in enumerate(tokens)),
            namespaces=tuple(
                _str(n, f"{where}.namespaces[{i}]")
                for i, n in enumerate(_list(body.get("namespaces"), f"{where}.namespaces"))
            ),
            otp=None if otp is None else str(otp),
        )

    def namespace(self, name: str, data: object, where: str) -> StoredNamespace:
        body = _mapping(data or {}, where, {"image_management", "repositories"})
        management = body.get("image_management", True)
        if management not in (True, False, "gone"):
            raise SeedError(f"{where}.image_management: true, false or 'gone', not {management!r}")
        ns = StoredNamespace(name, management)
        repos = _mapping(body.get("repositories") or {}, f"{where}.repositories", None)
        for repo_name, repo_body in repos.items():
            repo_name = str(repo_name)
            if not NAME_RE.match(repo_name):
                raise SeedError(f"{where}.repositories: {repo_name!r} is not a repository name")
            ns.repositories[repo_name] = self.repository(
                name, repo_name, repo_body, f"{where}.repositories.{repo_name}"
            )
        return ns

    def repository(self, namespace: str, name: str, data: object, where: str) -> StoredRepository:
        body = _mapping(
            data or {},
            where,
            {"is_private", "description", "star_count", "pull_count", "images", "immutable_tags"},
        )
        images = [
            self.image(i, f"{where}.images[{n}]")
            for n, i in enumerate(_list(body.get("images"), f"{where}.images"))
        ]
        seen: dict[str, str] = {}
        current: dict[str, str] = {}
        for n, image in enumerate(images):
            for digest in [image.digest, *(p.digest for p in image.platforms)]:
                if digest in seen:
                    raise SeedError(f"{where}.images[{n}]: digest {digest} appears twice")
                seen[digest] = image.digest
            for tag in image.tags:
                if tag.is_current:
                    if tag.tag in current:
                        raise SeedError(
                            f"{where}.images[{n}]: tag {tag.tag!r} is current on two images"
                        )
                    current[tag.tag] = image.digest
        rules = [
            _str(r, f"{where}.immutable_tags[{i}]")
            for i, r in enumerate(_list(body.get("immutable_tags"), f"{where}.immutable_tags"))
        ]
        try:
            immutable_tags = check_immutable_rules(rules)
        except ValueError as exc:
            raise SeedError(f"{where}.immutable_tags: {exc}") from None
        return StoredRepository(
            namespace,
            name,
            is_private=_bool(body.get("is_private", False), f"{where}.is_private"),
            description=str(body.get("description") or ""),
            star_count=_int(body.get("star_count", 0), f"{where}.star_count"),
            pull_count=_int(body.get("pull_count", 0), f"{where}.pull_count"),
            images=images,
            immutable_tags=immutable_tags,
        )

    def image(self, data: object, where: str) -> StoredImage:
        keys = {"digest", "media_type", "last_pushed", "last_pulled", "size", "platforms", "tags"}
        body = _mapping(data, where, keys | {"os", "architecture", "variant"})
        digest = _digest(body.get("digest"), f"{where}.digest")
        platforms = tuple(
            self.platform(p, f"{where}.platforms[{i}]")
            for i, p in enumerate(_list(body.get("platforms"), f"{where}.platforms"))
        )
        media_type = body.get("media_type") or (
            INDEX_MEDIA_TYPE if platforms else MANIFEST_MEDIA_TYPE
        )
        if "last_pushed" not in body:
            raise SeedError(f"{where}: last_pushed is required")
        # A snapshot of an image Hub gave no push time for says null: keep it as the zero time.
        pushed = body["last_pushed"]
        last_pushed = ZERO_TIME if pushed is None else self.time(pushed, f"{where}.last_pushed")
        size = body.get("size")
        if size is None:
            size = sum(p.size for p in platforms)
        return StoredImage(
            digest=digest,
            media_type=_str(media_type, f"{where}.media_type"),
            last_pushed=last_pushed,
            last_pulled=self.pulled(body.get("last_pulled"), f"{where}.last_pulled"),
            size=_int(size, f"{where}.size"),
            platforms=platforms,
            tags=[
                self.tag(t, f"{where}.tags[{i}]")
                for i, t in enumerate(_list(body.get("tags"), f"{where}.tags"))
            ],
            os=str(body.get("os") or "linux"),
            architecture=str(body.get("architecture") or "amd64"),
            variant=None if body.get("variant") is None else str(body["variant"]),
        )

    def platform(self, data: object, where: str) -> Platform:
        body = _mapping(data, where, {"digest", "os", "architecture", "variant", "size"})
        return Platform(
            digest=_digest(body.get("digest"), f"{where}.digest"),
            os=str(body.get("os") or "linux"),
            architecture=str(body.get("architecture") or "amd64"),
            variant=None if body.get("variant") is None else str(body["variant"]),
            size=_int(body.get("size", 0), f"{where}.size"),
        )

    def tag(self, data: object, where: str) -> TagEntry:
        if isinstance(data, str):
            return TagEntry(data, True)
        body = _mapping(data, where, {"tag", "is_current"})
        return TagEntry(
            _str(body.get("tag"), f"{where}.tag"),
            _bool(body.get("is_current", True), f"{where}.is_current"),
        )

    def time(self, value: object, where: str) -> datetime:
        try:
            return parse_time(value, self.now)
        except ValueError as exc:
            raise SeedError(f"{where}: {exc}") from None

    def pulled(self, value: object, where: str) -> datetime | None:
        try:
            return parse_seed_time(value, now=self.now)
        except ValueError as exc:
            raise SeedError(f"{where}: {exc}") from None


def _mapping(data: object, where: str, allowed: set[str] | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SeedError(f"{where}: expected a mapping, got {type(data).__name__}")
    if allowed is not None:
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise SeedError(f"{where}: unknown key(s) {', '.join(unknown)}")
    return data


def _list(data: object, where: str) -> list[Any]:
    if data is None:
        return []
    if not isinstance(data, list):
        raise SeedError(f"{where}: expected a list, got {type(data).__name__}")
    return data


def _str(value: object, where: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise SeedError(f"{where}: expected a non-empty string")
    return str(value)


def _int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 2**63 - 1:
        raise SeedError(f"{where}: expected a non-negative integer (at most 2**63-1)")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise SeedError(f"{where}: expected true or false")
    return value


def _digest(value: object, where: str) -> str:
    if not isinstance(value, str) or not DIGEST_RE.match(value):
        raise SeedError(f"{where}: expected 'sha256:' and 64 lowercase hex digits")
    return value


# -- dumping ---------------------------------------------------------------------------------------


def dump_seed(state: HubState, namespace: str | None = None) -> dict[str, Any]:
    """The seed of the whole state, or of one namespace (then without users)."""
    with state.lock:
        if namespace is not None:
            ns = state.namespace(namespace)
            if ns is None:
                raise KeyError(f"no namespace {namespace!r}")
            return {"namespaces": {namespace: _dump_namespace(state, ns)}}
        return {
            "users": [_dump_user(u) for u in state.users.values()],
            "namespaces": {
                name: _dump_namespace(state, ns) for name, ns in sorted(state.namespaces.items())
            },
        }


def _dump_user(user: User) -> dict[str, Any]:
    body: dict[str, Any] = {"username": user.username}
    if user.password is not None:
        body["password"] = user.password
    body["tokens"] = list(user.tokens)
    body["namespaces"] = list(user.namespaces)
    if user.otp is not None:
        body["otp"] = user.otp
    return body


def _dump_namespace(state: HubState, ns: StoredNamespace) -> dict[str, Any]:
    return {
        "image_management": ns.image_management,
        "repositories": {
            name: _dump_repository(state, repo) for name, repo in sorted(ns.repositories.items())
        },
    }


def _dump_repository(state: HubState, repo: StoredRepository) -> dict[str, Any]:
    body: dict[str, Any] = {"is_private": repo.is_private}
    if repo.description:
        body["description"] = repo.description
    if repo.star_count:
        body["star_count"] = repo.star_count
    if repo.pull_count:
        body["pull_count"] = repo.pull_count
    if repo.immutable_tags:
        body["immutable_tags"] = list(repo.immutable_tags)
    body["images"] = [_dump_image(i) for i in state.view(repo.namespace, repo.name).images]
    return body


def _dump_image(image: StoredImage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "digest": image.digest,
        "media_type": image.media_type,
        "last_pushed": format_time(image.last_pushed),
        "last_pulled": None if image.last_pulled is None else format_time(image.last_pulled),
        "size": image.size,
    }
    if image.platforms:
        body["platforms"] = [
            {
                "digest": p.digest,
                "os": p.os,
                "architecture": p.architecture,
                **({"variant": p.variant} if p.variant else {}),
                "size": p.size,
            }
            for p in image.platforms
        ]
    else:
        body["os"] = image.os
        body["architecture"] = image.architecture
        if image.variant:
            body["variant"] = image.variant
    body["tags"] = [{"tag": t.tag, "is_current": t.is_current} for t in image.tags]
    return body
