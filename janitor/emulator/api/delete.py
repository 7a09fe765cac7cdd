"""``POST /v2/namespaces/{namespace}/delete-images``: Hub's validated, all-or-nothing delete.

Per manifest: an unknown digest (or repository) is the error ``not_found``, a child of an index
``child_manifest``, a namespace the caller may not delete in ``unauthorized``; an image with
current tags raises the warning ``current_tag`` (with those tags), one pushed or pulled since
``active_from`` (default: a month ago) ``is_active``. A warning is ignored only when
``ignore_warnings`` names the same repository, digest and warning and, for ``current_tag``, lists
every tag that is current *now*. Any error or unignored warning: 400 "Deletion not possible" and
nothing happens. Otherwise 200 with the metrics; a dry run changes nothing.

Where the docs are silent: manifests of two repositories in one call answer 400 with a message
and no ``details``; an empty ``manifests`` list answers 400; a digest listed twice counts once.
"""

from __future__ import annotations

import json
from typing import Any

from dateutil.relativedelta import relativedelta
from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.api.common import (
    HubError,
    JSONAnswer,
    authenticate,
    can_access,
    ctx_of,
    status_phrase,
)
from janitor.emulator.model import LIBRARY
from janitor.emulator.timefmt import parse_query_time

OPERATION = "PostNamespacesDeleteImages"
WARNINGS = ("is_active", "current_tag")


def _bad_request(message: str) -> HubError:
    return HubError(400, message, operation=OPERATION)


def _parse(raw: bytes) -> tuple[bool, str | None, list[tuple[str, str]], list[dict[str, Any]]]:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _bad_request("The request body must be a JSON object")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise _bad_request("dry_run must be true or false")
    active_from = body.get("active_from")
    if active_from is not None and not isinstance(active_from, str):
        raise _bad_request("active_from must be an RFC 3339 time")
    manifests = body.get("manifests")
    if not isinstance(manifests, list) or not manifests:
        raise _bad_request("manifests must be a non-empty list of {repository, digest}")
    refs: list[tuple[str, str]] = []
    for item in manifests:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("repository"), str)
            and isinstance(item.get("digest"), str)
        ):
            raise _bad_request("each manifest needs a repository and a digest")
        ref = (item["repository"], item["digest"])
        if ref not in refs:
            refs.append(ref)
    ignores = body.get("ignore_warnings") or []
    if not isinstance(ignores, list):
        raise _bad_request("ignore_warnings must be a list")
    for item in ignores:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("repository"), str)
            and isinstance(item.get("digest"), str)
            and item.get("warning") in WARNINGS
            and isinstance(item.get("tags", []), list)
        ):
            raise _bad_request(
                "each ignore_warnings entry needs repository, digest and warning "
                "(is_active or current_tag), and tags as a list"
            )
    return dry_run, active_from, refs, ignores


def _ignored(ignores: list[dict[str, Any]], warning: dict[str, Any]) -> bool:
    for item in ignores:
        if (
            item["repository"] == warning["repository"]
            and item["digest"] == warning["digest"]
            and item["warning"] == warning["warning"]
        ):
            if warning["warning"] != "current_tag":
                return True
            if set(warning["tags"]) <= {str(t) for t in item.get("tags", [])}:
                return True
    return False


async def delete_images(request: Request) -> Response:
    ctx = ctx_of(request)
    namespace = request.path_params["namespace"]
    ns = ctx.state.namespace(namespace)
    if ns is not None and ns.image_management == "gone":
        raise HubError(404, "Not Found: this API is no longer available", operation=OPERATION)
    principal = authenticate(request, operation=OPERATION, required=True)
    if namespace == LIBRARY:
        raise HubError(
            403, "Images of the library namespace cannot be deleted", operation=OPERATION
        )
    if ns is not None and ns.image_management is False:
        raise HubError(
            403, "this API is only available to users on Pro or Team plans", operation=OPERATION
        )
    # Authenticated but without rights in the namespace: each manifest gets "unauthorized".
    allowed = can_access(request, principal, namespace)
    raw = await request.body()
    dry_run, active_from_raw, refs, ignores = _parse(raw)
    repositories = sorted({r for r, _ in refs})
    if len(repositories) > 1:
        raise _bad_request(
            "delete-images deletes in one repository per call; this request names "
            f"{len(repositories)}: {', '.join(repositories)}"
        )
    if active_from_raw:
        try:
            active_from = parse_query_time(active_from_raw)
        except ValueError as exc:
            raise _bad_request(str(exc)) from None
    else:
        active_from = ctx.now() - relativedelta(months=1)
    repository = repositories[0]
    errors: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    state = ctx.state
    with state.lock:
        exists = allowed and ns is not None and state.repository(namespace, repository) is not None
        view = state.view(namespace, repository) if exists else None
        doomed: list[str] = []
        for repo_name, digest in refs:
            if not allowed:
                errors.append({"repository": repo_name, "digest": digest, "error": "unauthorized"})
                continue
            image = view.by_digest.get(digest) if view else None
            if image is None:
                kind = "child_manifest" if view and digest in view.parent_of else "not_found"
                errors.append({"repository": repo_name, "digest": digest, "error": kind})
                continue
            doomed.append(digest)
            current = image.current_tags
            if current:
                warnings.append(
                    {
                        "repository": repo_name,
                        "digest": digest,
                        "warning": "current_tag",
                        "tags": current,
                    }
                )
            if image.is_active(active_from):
                warnings.append({"repository": repo_name, "digest": digest, "warning": "is_active"})
        unignored = [w for w in warnings if not _ignored(ignores, w)]
        if errors or unignored:
            raise HubError(
                400,
                "Deletion not possible",
                operation=OPERATION,
                errinfo={
                    "type": "validation",
                    "details": {"errors": errors, "warnings": unignored},
                },
            )
        assert view is not None
        manifests = sum(view.by_digest[d].manifest_count for d in doomed)
        tags = sum(len(view.by_digest[d].current_tags) for d in doomed)
        if not dry_run:
            state.delete_images(namespace, repository, doomed)
    if not dry_run:
        fault = ctx.faults.take(request.method, request.url.path, ("status",), after_apply=True)
        if fault is not None:
            raise HubError(fault.status, status_phrase(fault.status), operation=OPERATION)
    return JSONAnswer(
        {
            "dry_run": dry_run,
            "metrics": {
                "manifest_deletes": manifests,
                "manifest_errors": 0,
                "tag_deletes": tags,
                "tag_errors": 0,
            },
        }
    )
