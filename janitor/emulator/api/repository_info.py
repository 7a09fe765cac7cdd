"""``GET /v2/namespaces/{namespace}/repositories/{repository}``: the newest spec's
``repository_info``, with ``immutable_tags_settings`` ``{enabled, rules}`` (each rule a regular
expression a whole tag must match): where janitor reads which tags cannot be deleted. Private
repositories answer as the tags list does (401 anonymous, 403 without access).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.api.common import JSONAnswer, authenticate, can_access, ctx_of
from janitor.emulator.api.repositories import _readable_repository, _repository_entry

OPERATION = "GetRepository"


async def get_repository(request: Request) -> Response:
    ctx = ctx_of(request)
    namespace = request.path_params["namespace"]
    name = request.path_params["repository"]
    principal = authenticate(request, operation=OPERATION, required=False)
    state = ctx.state
    with state.lock:
        repo = _readable_repository(request, principal, namespace, name, operation=OPERATION)
        full = can_access(request, principal, namespace)
        body: dict[str, Any] = {
            **_repository_entry(ctx, repo),
            "user": namespace,
            "is_automated": False,
            "collaborator_count": 0,
            "hub_user": namespace,
            "has_starred": False,
            "full_description": repo.description,
            "permissions": {"read": True, "write": full, "admin": full},
            "immutable_tags_settings": {
                "enabled": bool(repo.immutable_tags),
                "rules": list(repo.immutable_tags),
            },
            "source": None,
        }
    return JSONAnswer(body)
