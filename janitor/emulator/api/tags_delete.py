"""Hub's tag DELETE: half of deleting an image where ``delete-images`` is gone.

``DELETE /v2/namespaces/{namespace}/repositories/{repository}/tags/{tag}`` removes one current
tag; the image it pointed at stays (untagged, if that was its last tag) until its manifest is
deleted through the registry. The newest spec lists this path (GET/HEAD) with 403 and 404
answers and no DELETE; where it is silent the emulator answers: 204 deleted, 401 without a valid
token, 403 for a caller without rights in the namespace, for ``library`` and for a tag that
matches one of the repository's immutable-tag rules, 404 for an unknown repository or tag. A
``status`` fault with ``after_apply`` applies the deletion, then answers the fault's status.

hub-tool's ``DELETE /v2/repositories/{namespace}/{repository}/tags/{tag}/`` does the same; it
refuses a token made from a personal access token (403) when ``legacy_refuses_pat`` is set. The
config's ``tag_delete_paths`` says which of the two Hub answers; the other answers 405.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.api.common import (
    HubError,
    Principal,
    authenticate,
    can_access,
    ctx_of,
    status_phrase,
)
from janitor.emulator.api.repositories import PAT_REFUSED
from janitor.emulator.model import LIBRARY

DELETE_OPERATION = "DeleteRepositoryTag"


async def delete_tag(request: Request) -> Response:
    """``DELETE /v2/namespaces/{namespace}/repositories/{repository}/tags/{tag}``."""
    return _delete_tag(request, legacy=False)


async def delete_tag_legacy(request: Request) -> Response:
    """``DELETE /v2/repositories/{namespace}/{repository}/tags/{tag}/`` (hub-tool's path)."""
    return _delete_tag(request, legacy=True)


def _delete_tag(request: Request, *, legacy: bool) -> Response:
    ctx = ctx_of(request)
    served = ctx.config.tag_delete_paths
    if served != "both" and served != ("repositories" if legacy else "namespaces"):
        status = ctx.config.unserved_tag_delete_status
        raise HubError(status, status_phrase(status), operation=DELETE_OPERATION)
    namespace = request.path_params["namespace"]
    name = request.path_params["repository"]
    tag = request.path_params["tag"]
    principal: Principal | None = authenticate(request, operation=DELETE_OPERATION, required=True)
    assert principal is not None
    if legacy and principal.from_pat and ctx.config.legacy_refuses_pat:
        raise HubError(403, PAT_REFUSED, operation=DELETE_OPERATION)
    state = ctx.state
    with state.lock:
        repo = state.repository(namespace, name)
        if repo is None:
            raise HubError(
                404, f"repository {namespace}/{name} not found", operation=DELETE_OPERATION
            )
        if namespace == LIBRARY or not can_access(request, principal, namespace):
            raise HubError(
                403,
                "You do not have permission to delete tags in this repository",
                operation=DELETE_OPERATION,
            )
        if tag not in state.view(namespace, name).tag_owner:
            raise HubError(404, f"tag {tag!r} not found", operation=DELETE_OPERATION)
        if repo.is_immutable(tag):
            raise HubError(
                403,
                f"tag {tag!r} is immutable and cannot be deleted",
                operation=DELETE_OPERATION,
                errinfo={"type": "immutable_tag"},
            )
        state.delete_tag(namespace, name, tag)
    fault = ctx.faults.take(request.method, request.url.path, ("status",), after_apply=True)
    if fault is not None:
        raise HubError(fault.status, status_phrase(fault.status), operation=DELETE_OPERATION)
    return Response(status_code=204)
