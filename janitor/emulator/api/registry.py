"""The registry API (``registry-openapi.yaml``), served under ``/registry`` on the same server.

``GET /registry/v2/``: 401 with the Bearer challenge without a valid token, 200 ``{}`` with one.
``GET /registry/token``: the token service the challenge's realm names (see ``registry_auth``).
``HEAD``/``GET /registry/v2/{name}/manifests/{reference}`` (a tag or a digest, ``pull`` access):
the manifest's ``Docker-Content-Digest``, ``Content-Type`` and (GET) a body built from the
stored image: an OCI index listing the platform manifests, or an image manifest. A manifest whose
media type the ``Accept`` header does not name answers 404 (clients must list every type).
``DELETE /registry/v2/{name}/manifests/{digest}`` (``delete`` access): 202 for a manifest no
current tag and no index references; 403 ``DENIED`` while a tag or an index still references it;
404 ``MANIFEST_UNKNOWN``; 405 ``UNSUPPORTED`` for a tag (only digests can be deleted). With
``registry_tagged_delete: untag`` a manifest a tag points at is deleted with its tags instead
(the distribution registry's way). With ``manifest_get_is_pull`` a GET (not a HEAD) is a pull:
it refreshes ``last_pulled`` of the image (an index's, for one of its platform manifests), and
with ``registry_pull_limit`` it counts against the caller's pulls per 6 hours, told in
``ratelimit-limit`` / ``ratelimit-remaining`` (``N;w=21600``) and refused with 429 past it. A
``status`` fault with ``after_apply`` on the DELETE applies the deletion and then answers the
fault's status: the registry's "500, the deletion is retried in the background".

Errors have the registry's shape, ``{"errors": [{"code", "message", "detail"}]}``. A missing or
expired token gets 401 with a challenge naming the scope needed; a valid token without the action
gets 401 with ``error="insufficient_scope"`` in the challenge (the registry's behaviour).
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.api.common import EmulatorContext, bearer_token, ctx_of, status_phrase
from janitor.emulator.model import (
    INDEX_MEDIA_TYPE,
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPE,
    Platform,
    StoredImage,
)
from janitor.emulator.registry_auth import (
    TOKEN_PATH,
    RegistryGrant,
    RegistryTokens,
    basic_credentials,
    challenge,
    grant,
    parse_scope,
    split_name,
)

API_VERSION = ("Docker-Distribution-Api-Version", "registry/2.0")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
# Media types a client may ask for and get a manifest of the stored type in return.
_COMPATIBLE = {
    INDEX_MEDIA_TYPE: {INDEX_MEDIA_TYPE},
    "application/vnd.docker.distribution.manifest.list.v2+json": {
        "application/vnd.docker.distribution.manifest.list.v2+json"
    },
    MANIFEST_MEDIA_TYPE: {MANIFEST_MEDIA_TYPE},
    DOCKER_MANIFEST: {DOCKER_MANIFEST},
}


PULL_WINDOW = 21600  # seconds: Docker Hub counts pulls per 6 hours


class PullCounter:
    """Manifest GETs (pulls) per subject in the current 6-hour window."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str | None, tuple[datetime, int]] = {}

    def peek(self, subject: str | None, now: datetime) -> int:
        with self._lock:
            start, used = self._windows.get(subject, (now, 0))
            return 0 if now - start >= timedelta(seconds=PULL_WINDOW) else used

    def count(self, subject: str | None, now: datetime) -> int:
        """Count one pull; the pulls used in the window, this one included."""
        with self._lock:
            start, used = self._windows.get(subject, (now, 0))
            if now - start >= timedelta(seconds=PULL_WINDOW):
                start, used = now, 0
            self._windows[subject] = (start, used + 1)
            return used + 1


def tokens_of(request: Request) -> RegistryTokens:
    tokens: RegistryTokens = request.app.state.registry_tokens
    return tokens


def realm(request: Request) -> str:
    ctx = ctx_of(request)
    base = ctx.config.public_base_url or f"{request.url.scheme}://{request.url.netloc}"
    return base + TOKEN_PATH


def registry_error(
    status: int,
    code: str,
    message: str,
    *,
    detail: object = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers={API_VERSION[0]: API_VERSION[1], **(headers or {})},
    )


def _unauthorized(
    request: Request, name: str | None, actions: str, *, insufficient: bool = False
) -> Response:
    ctx = ctx_of(request)
    scope = f"repository:{name}:{actions}" if name else None
    detail = (
        [{"Type": "repository", "Name": name, "Action": a} for a in actions.split(",")]
        if name
        else None
    )
    return registry_error(
        401,
        "UNAUTHORIZED",
        "authentication required" if not insufficient else "insufficient scope",
        detail=detail,
        headers={
            "WWW-Authenticate": challenge(
                realm(request),
                ctx.config.registry_service,
                scope,
                error="insufficient_scope" if insufficient else None,
            )
        },
    )


def _grant(request: Request) -> RegistryGrant | None:
    ctx = ctx_of(request)
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        return None
    return tokens_of(request).lookup(token, ctx.now())


# -- ping and token service ---------------------------------------------------------------------


async def ping(request: Request) -> Response:
    """``GET /v2/``: the version check every client starts with, and where it learns the realm."""
    if _grant(request) is None:
        return _unauthorized(request, None, "")
    return Response("{}", media_type="application/json", headers=dict([API_VERSION]))


async def token(request: Request) -> Response:
    """``GET /token?service=...&scope=repository:NAME:ACTIONS`` (scope may repeat)."""
    ctx = ctx_of(request)
    params = parse_qsl(request.url.query, keep_blank_values=True)
    service = next((v for k, v in params if k == "service"), None)
    if service != ctx.config.registry_service:
        return _token_error(400, f"unknown service {service!r}")
    scopes: list[tuple[str, frozenset[str]]] = []
    for key, value in params:
        if key != "scope":
            continue
        for item in value.split(" "):
            if not item:
                continue
            parsed = parse_scope(item)
            if parsed is None:
                return _token_error(400, f"invalid scope {item!r}")
            scopes.append(parsed)
    try:
        credentials = basic_credentials(request.headers.get("authorization"))
    except ValueError:
        return _token_error(401, "incorrect username or password")
    user = None
    if credentials is not None:
        found = ctx.state.check_credentials(*credentials)
        if found is None or (found[1] == "password" and found[0].two_factor):
            return _token_error(401, "incorrect username or password")
        user = found[0]
    access = grant(ctx.state, user, scopes)
    now = ctx.now()
    ttl = ctx.config.registry_token_ttl
    issued = tokens_of(request).issue(
        user.username if user else None, access, now=now, ttl=ttl, audience=service
    )
    return Response(
        json.dumps(
            {
                "token": issued,
                "access_token": issued,
                "expires_in": int(ttl),
                "issued_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        ),
        media_type="application/json",
    )


def _token_error(status: int, details: str) -> Response:
    return Response(
        json.dumps({"details": details}), status_code=status, media_type="application/json"
    )


# -- manifests ---------------------------------------------------------------------------------


def _platform_manifest(digest: str, media_type: str, size: int) -> dict[str, Any]:
    config_digest = "sha256:" + digest.partition(":")[2][::-1].rjust(64, "0")[-64:]
    return {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "size": 1024,
            "digest": config_digest,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "size": size,
                "digest": "sha256:" + digest.partition(":")[2],
            }
        ],
    }


def _index_manifest(image: StoredImage) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": image.media_type,
        "manifests": [
            {
                "mediaType": MANIFEST_MEDIA_TYPE,
                "digest": p.digest,
                "size": 1024,
                "platform": {
                    "architecture": p.architecture,
                    "os": p.os,
                    **({"variant": p.variant} if p.variant else {}),
                },
            }
            for p in image.platforms
        ],
    }


def _resolve(
    ctx: EmulatorContext, namespace: str, repository: str, reference: str
) -> tuple[str, str, dict[str, Any]] | None:
    """(digest, media type, manifest body) of a tag or digest; None when unknown."""
    view = ctx.state.view(namespace, repository)
    image: StoredImage | None
    if DIGEST_RE.match(reference):
        image = view.by_digest.get(reference)
        if image is None:
            parent_digest = view.parent_of.get(reference)
            if parent_digest is None:
                return None
            parent = view.by_digest[parent_digest]
            child: Platform = next(p for p in parent.platforms if p.digest == reference)
            return (
                reference,
                MANIFEST_MEDIA_TYPE,
                _platform_manifest(reference, MANIFEST_MEDIA_TYPE, child.size),
            )
    else:
        image = view.tag_owner.get(reference)
        if image is None:
            return None
    if image.is_index:
        media_type = image.media_type if image.media_type in INDEX_MEDIA_TYPES else INDEX_MEDIA_TYPE
        return image.digest, media_type, _index_manifest(image)
    return (
        image.digest,
        image.media_type,
        _platform_manifest(image.digest, image.media_type, image.size),
    )


def _accepts(request: Request, media_type: str) -> bool:
    header = request.headers.get("accept")
    if not header:
        return True
    offered = {part.split(";")[0].strip() for part in header.split(",")}
    if "*/*" in offered:
        return True
    return bool(offered & _COMPATIBLE.get(media_type, {media_type}))


def _target(request: Request) -> tuple[str, str, str, str] | Response:
    """(name, namespace, repository, reference) of the path, or the error answer."""
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    parts = split_name(name)
    if parts is None or ctx_of(request).state.repository(*parts) is None:
        return registry_error(
            404,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            detail={"name": name},
        )
    return name, parts[0], parts[1], reference


def _authorize(request: Request, name: str, action: str) -> Response | None:
    grant_ = _grant(request)
    if grant_ is None:
        return _unauthorized(request, name, action)
    if not grant_.allows(name, action):
        return _unauthorized(request, name, action, insufficient=True)
    return None


async def manifest(request: Request) -> Response:
    """``GET`` and ``HEAD /v2/{name}/manifests/{reference}``."""
    name = request.path_params["name"]
    refused = _authorize(request, name, "pull")
    if refused is not None:
        return refused
    target = _target(request)
    if isinstance(target, Response):
        return target
    _, namespace, repository, reference = target
    ctx = ctx_of(request)
    with ctx.state.lock:
        found = _resolve(ctx, namespace, repository, reference)
    if found is None:
        return registry_error(
            404, "MANIFEST_UNKNOWN", "manifest unknown", detail={"Tag": reference}
        )
    digest, media_type, body = found
    if not _accepts(request, media_type):
        return registry_error(
            404,
            "MANIFEST_UNKNOWN",
            f"manifest unknown: it is a {media_type}, which the Accept header does not name",
            detail={"Tag": reference},
        )
    content = json.dumps(body, indent=3).encode()
    headers = {
        API_VERSION[0]: API_VERSION[1],
        "Docker-Content-Digest": digest,
        "Content-Type": media_type,
        "Content-Length": str(len(content)),
        "Etag": f'"{digest}"',
    }
    limit = ctx.config.registry_pull_limit
    grant_ = _grant(request)
    subject = grant_.subject if grant_ is not None else None
    pulls: PullCounter = request.app.state.registry_pulls
    now = ctx.now()
    if request.method == "HEAD":
        if limit is not None:
            headers.update(_pull_headers(limit, pulls.peek(subject, now)))
        return Response(b"", headers=headers)
    if limit is not None:
        used = pulls.count(subject, now)
        if used > limit:
            return registry_error(
                429,
                "TOOMANYREQUESTS",
                "You have reached your pull rate limit.",
                headers=_pull_headers(limit, used),
            )
        headers.update(_pull_headers(limit, used))
    if ctx.config.manifest_get_is_pull:
        with ctx.state.lock:
            view = ctx.state.view(namespace, repository)
            pulled = digest if digest in view.by_digest else view.parent_of.get(digest)
            if pulled is not None:
                ctx.state.record_pull(namespace, repository, pulled, now)
    return Response(content, headers=headers)


def _pull_headers(limit: int, used: int) -> dict[str, str]:
    return {
        "ratelimit-limit": f"{limit};w={PULL_WINDOW}",
        "ratelimit-remaining": f"{max(0, limit - used)};w={PULL_WINDOW}",
    }


async def delete_manifest(request: Request) -> Response:
    """``DELETE /v2/{name}/manifests/{digest}``."""
    name = request.path_params["name"]
    refused = _authorize(request, name, "delete")
    if refused is not None:
        return refused
    target = _target(request)
    if isinstance(target, Response):
        return target
    _, namespace, repository, reference = target
    if not DIGEST_RE.match(reference):
        return registry_error(
            405,
            "UNSUPPORTED",
            "The operation is unsupported: only a digest can be deleted, not a tag",
        )
    ctx = ctx_of(request)
    outcome = ctx.state.delete_manifest(
        namespace,
        repository,
        reference,
        with_tags=ctx.config.registry_tagged_delete == "untag",
    )
    if outcome == "unknown":
        return registry_error(
            404, "MANIFEST_UNKNOWN", "manifest unknown", detail={"Digest": reference}
        )
    if outcome == "tagged":
        return registry_error(
            403,
            "DENIED",
            "manifest is still referenced by a tag; delete its tags first",
            detail={"Digest": reference},
        )
    if outcome == "child":
        return registry_error(
            403,
            "DENIED",
            "manifest is still referenced by an image index",
            detail={"Digest": reference},
        )
    fault = ctx.faults.take(request.method, request.url.path, ("status",), after_apply=True)
    if fault is not None:
        return registry_error(
            fault.status,
            "UNKNOWN",
            f"{status_phrase(fault.status)}: the deletion will be retried in the background",
        )
    return Response(status_code=202, headers=dict([API_VERSION]))
