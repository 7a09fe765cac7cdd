"""``GET /v2/namespaces/{namespace}/repositories/{repository}/manifests``: every manifest of a
repository, tagged or not, as Hub's web UI and public cleanup scripts read it. Not in the
published spec; the shape follows what Docker staff describe (docker/roadmap#795):
``{"manifests": [{"manifest_digest", "tags", "last_pushed", "last_pulled", "media_type"}],
"last_evaluated_key"}``; the next page is asked for with ``?last_evaluated_key=<key>``, and the
last page has none.

The emulator lists rows by digest, ``manifests_page_size`` a page; with ``manifests_platform_rows``
an index's platform manifests are rows of their own (untagged, pushed with their index, never
pulled on their own). Switched off (``manifests_listing: false``, the default), it answers 404
as a Hub without it does. Access as for the tags listing (401 anonymous on a private repository,
403 without access).
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.api.common import HubError, JSONAnswer, authenticate, ctx_of
from janitor.emulator.api.repositories import _readable_repository
from janitor.emulator.model import MANIFEST_MEDIA_TYPE, StoredImage

OPERATION = "ListRepositoryManifests"


def _key(digest: str) -> str:
    return base64.urlsafe_b64encode(digest.encode()).decode().rstrip("=")


def _after(key: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None


async def list_manifests(request: Request) -> Response:
    ctx = ctx_of(request)
    if not ctx.config.manifests_listing:
        raise HubError(404, "Not Found", operation=OPERATION)
    namespace = request.path_params["namespace"]
    name = request.path_params["repository"]
    principal = authenticate(request, operation=OPERATION, required=False)
    key = request.query_params.get("last_evaluated_key")
    after = None
    if key is not None:
        after = _after(key)
        if after is None:
            raise HubError(400, "invalid last_evaluated_key", operation=OPERATION)
    with ctx.state.lock:
        _readable_repository(request, principal, namespace, name, operation=OPERATION)
        view = ctx.state.view(namespace, name)
        rows = sorted(_rows(ctx, view.images), key=lambda row: row["manifest_digest"])
    if after is not None:
        rows = [row for row in rows if row["manifest_digest"] > after]
    size = ctx.config.manifests_page_size
    page = rows[:size]
    body: dict[str, Any] = {"manifests": page}
    if len(rows) > size:
        body["last_evaluated_key"] = _key(page[-1]["manifest_digest"])
    return JSONAnswer(body)


def _rows(ctx: Any, images: list[StoredImage]) -> list[dict[str, Any]]:
    rows = []
    seen: set[str] = set()
    for image in images:
        rows.append(
            {
                "manifest_digest": image.digest,
                "media_type": image.media_type,
                "tags": (
                    ",".join(image.current_tags)
                    if ctx.config.manifests_tags_as_text
                    else image.current_tags
                ),
                "last_pushed": ctx.time(image.last_pushed),
                "last_pulled": ctx.time(image.last_pulled),
            }
        )
        seen.add(image.digest)
    if ctx.config.manifests_platform_rows:
        for image in images:
            for platform in image.platforms:
                if platform.digest in seen:
                    continue
                seen.add(platform.digest)
                rows.append(
                    {
                        "manifest_digest": platform.digest,
                        "media_type": MANIFEST_MEDIA_TYPE,
                        "tags": [],
                        "last_pushed": ctx.time(image.last_pushed),
                        "last_pulled": ctx.time(None),
                    }
                )
    return rows
