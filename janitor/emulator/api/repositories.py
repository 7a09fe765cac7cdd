"""``GET /v2/namespaces/{ns}/repositories`` and the tags lists (newest spec, and the older path).

Where the docs are silent: repositories are listed by name unless ``ordering`` says otherwise;
anonymous callers and callers without access see only public repositories; a private
repository's tags need a token (401) with access to the namespace (403). Tags are listed most
recently pushed first; ``ordering`` (``name``, ``last_updated``, with ``-``) and ``name`` (a
substring) are accepted as the live Hub accepts them.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.api.common import (
    EmulatorContext,
    HubError,
    JSONAnswer,
    Principal,
    authenticate,
    can_access,
    choice_param,
    ctx_of,
    paginate,
)
from janitor.emulator.model import StoredImage, StoredRepository

REPO_ORDERINGS = ("name", "-name", "last_updated", "-last_updated", "pull_count", "-pull_count")
TAG_ORDERINGS = ("last_updated", "-last_updated", "name", "-name")
PAT_REFUSED = "token issued from personal access token is not allowed"


def stable_id(*parts: str) -> int:
    """A small positive integer id derived from names (Hub's ids are integers)."""
    return zlib.crc32("/".join(parts).encode()) & 0x7FFFFFFF


async def list_repositories(request: Request) -> Response:
    operation = "listNamespaceRepositories"
    ctx = ctx_of(request)
    namespace = request.path_params["namespace"]
    principal = authenticate(request, operation=operation, required=False)
    ordering = choice_param(request, "ordering", REPO_ORDERINGS, operation=operation) or "name"
    name_filter = (request.query_params.get("name") or "").lower()
    state = ctx.state
    with state.lock:
        ns = state.namespace(namespace)
        if ns is None:
            raise HubError(404, f"namespace {namespace!r} not found", operation=operation)
        full = can_access(request, principal, namespace)
        repos = [
            r
            for r in ns.repositories.values()
            if (full or not r.is_private) and name_filter in r.name.lower()
        ]
        key = ordering.lstrip("-")
        if key == "name":
            repos.sort(key=lambda r: r.name)
        elif key == "pull_count":
            repos.sort(key=lambda r: (r.pull_count, r.name))
        else:
            repos.sort(key=lambda r: (_last_updated_key(ctx, r), r.name))
        if ordering.startswith("-"):
            repos.reverse()
        chunk, meta = paginate(request, repos, operation=operation)
        results = [_repository_entry(ctx, r) for r in chunk]
    return JSONAnswer({**meta, "results": results})


def _last_updated_key(ctx: EmulatorContext, repo: StoredRepository) -> float:
    updated = ctx.state.summary(repo).last_updated
    return updated.timestamp() if updated else 0.0


def _repository_entry(ctx: EmulatorContext, repo: StoredRepository) -> dict[str, Any]:
    summary = ctx.state.summary(repo)
    updated = ctx.time(summary.last_updated) if summary.last_updated else None
    return {
        "name": repo.name,
        "namespace": repo.namespace,
        "repository_type": "image",
        "status": 1,
        "status_description": "active",
        "description": repo.description,
        "is_private": repo.is_private,
        "star_count": repo.star_count,
        "pull_count": repo.pull_count,
        "last_updated": updated,
        "last_modified": updated,
        "date_registered": ctx.time(summary.date_registered),
        "affiliation": "",
        "media_types": list(summary.media_types),
        "content_types": ["image"] if summary.media_types else [],
        "categories": [],
        "storage_size": summary.storage_size,
    }


async def list_tags(request: Request) -> Response:
    """``GET /v2/namespaces/{namespace}/repositories/{repository}/tags``."""
    return _tags(request, legacy=False)


async def list_tags_legacy(request: Request) -> Response:
    """``GET /v2/repositories/{namespace}/{repository}/tags``: same data, refuses PAT tokens."""
    return _tags(request, legacy=True)


def _tags(request: Request, *, legacy: bool) -> Response:
    operation = "ListRepositoryTagsLegacy" if legacy else "ListRepositoryTags"
    ctx = ctx_of(request)
    namespace = request.path_params["namespace"]
    name = request.path_params["repository"]
    principal = authenticate(request, operation=operation, required=False)
    if legacy and principal is not None and principal.from_pat:
        raise HubError(403, PAT_REFUSED, operation=operation)
    ordering = choice_param(request, "ordering", TAG_ORDERINGS, operation=operation)
    ordering = ordering or "-last_updated"
    name_filter = request.query_params.get("name") or ""
    state = ctx.state
    with state.lock:
        repo = _readable_repository(request, principal, namespace, name, operation=operation)
        view = state.view(namespace, name)

        def compute() -> list[Any]:
            pairs = [(t, i) for t, i in view.tag_owner.items() if name_filter in t]
            if ordering.lstrip("-") == "name":
                pairs.sort(key=lambda p: p[0])
            else:
                pairs.sort(key=lambda p: (p[1].last_pushed, p[0]))
            if ordering.startswith("-"):
                pairs.reverse()
            return pairs

        pairs = view.cached(("tags", ordering, name_filter), compute)
        chunk, meta = paginate(request, pairs, operation=operation)
        month_ago = ctx.now() - relativedelta(months=1)
        results = [_tag_entry(ctx, repo, tag, image, month_ago) for tag, image in chunk]
    return JSONAnswer({**meta, "results": results})


def _readable_repository(
    request: Request, principal: Principal | None, namespace: str, name: str, *, operation: str
) -> StoredRepository:
    repo = ctx_of(request).state.repository(namespace, name)
    if repo is None:
        raise HubError(404, f"repository {namespace}/{name} not found", operation=operation)
    if repo.is_private and not can_access(request, principal, namespace):
        if principal is None:
            raise HubError(
                401, "Authentication credentials were not provided.", operation=operation
            )
        raise HubError(403, "You do not have access to this repository", operation=operation)
    return repo


def _tag_entry(
    ctx: EmulatorContext, repo: StoredRepository, tag: str, image: StoredImage, month_ago: datetime
) -> dict[str, Any]:
    """A tag as Hub lists it; ``status`` says whether it was pushed or pulled in the past month."""
    status = "active" if image.is_active(month_ago) else "inactive"
    pushed = ctx.time(image.last_pushed)
    pulled = ctx.time(image.last_pulled)
    live = ctx.config.tag_shape == "live"
    if image.platforms:
        platforms = [(p.digest, p.os, p.architecture, p.variant, p.size) for p in image.platforms]
    else:
        platforms = [(image.digest, image.os, image.architecture, image.variant, image.size)]
    images = []
    for digest, os, arch, variant, size in platforms:
        entry: dict[str, Any] = {
            "architecture": arch,
            "features": "",
            "variant": variant,
            "digest": digest,
            "os": os,
            "os_features": "",
            "os_version": None,
            "size": size,
            "status": status,
            "last_pulled": pulled,
            "last_pushed": pushed,
        }
        if not live:  # the spec has these two as non-nullable strings
            if variant is None:
                del entry["variant"]
            del entry["os_version"]
        images.append(entry)
    user_id = stable_id(repo.namespace)
    body: dict[str, Any] = {
        "creator": user_id,
        "id": stable_id(repo.namespace, repo.name, tag),
        "images": images if live else images[0],
        "last_updated": pushed,
        "last_updater": user_id,
        "last_updater_username": repo.namespace,
        "name": tag,
        "repository": stable_id(repo.namespace, repo.name),
        "full_size": image.size,
        "status": status,
        "tag_last_pulled": pulled,
        "tag_last_pushed": pushed,
    }
    if live:
        body["v2"] = True
        body["tag_status"] = status
        if ctx.config.tag_status_field == "tag_status":
            del body["status"]  # the live Hub names a tag's state tag_status only
        body["media_type"] = image.media_type
        body["content_type"] = "image"
        body["digest"] = image.digest
    return body
