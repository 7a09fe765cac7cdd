"""The retention read endpoints of the legacy spec: ``images``, ``images/{digest}/tags``,
``images-summary``.

Where the docs are silent: without ``ordering`` images come most recently pushed first; a digest
that is not a top-level image of the repository (unknown, or a child of an index) answers 404 on
``images/{digest}/tags``; ``page_size`` over 100 answers 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.api.common import (
    EmulatorContext,
    HubError,
    JSONAnswer,
    choice_param,
    ctx_of,
    image_namespace,
    paginate,
)
from janitor.emulator.model import RepoView, StoredImage
from janitor.emulator.timefmt import format_time, parse_query_time

IMAGE_ORDERINGS = ("last_activity", "-last_activity", "digest", "-digest")


def active_from_param(request: Request, ctx: EmulatorContext, *, operation: str) -> datetime:
    """``active_from`` from the query; by default one month before now."""
    raw = request.query_params.get("active_from")
    if not raw:
        return ctx.now() - relativedelta(months=1)
    try:
        return parse_query_time(raw)
    except ValueError as exc:
        raise HubError(
            400, str(exc), operation=operation, fields={"active_from": [str(exc)]}
        ) from None


def _view(request: Request, *, operation: str) -> tuple[EmulatorContext, RepoView]:
    ctx = ctx_of(request)
    namespace = request.path_params["namespace"]
    name = request.path_params["repository"]
    image_namespace(request, namespace, operation=operation)
    if ctx.state.repository(namespace, name) is None:
        raise HubError(404, f"repository {namespace}/{name} not found", operation=operation)
    return ctx, ctx.state.view(namespace, name)


def _bool_param(request: Request, name: str, *, operation: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    message = f"Invalid {name} {raw!r}: must be true or false"
    raise HubError(400, message, operation=operation, fields={name: [message]})


async def list_images(request: Request) -> Response:
    operation = "GetNamespacesRepositoriesImages"
    ctx = ctx_of(request)
    with ctx.state.lock:
        ctx, view = _view(request, operation=operation)
        status = choice_param(request, "status", ("active", "inactive"), operation=operation)
        tagged = _bool_param(request, "currently_tagged", operation=operation)
        ordering = choice_param(request, "ordering", IMAGE_ORDERINGS, operation=operation)
        active_from = active_from_param(request, ctx, operation=operation)

        def compute() -> list[Any]:
            items = view.images
            if tagged is not None:
                items = [i for i in items if i.currently_tagged == tagged]
            if status is not None:
                want = status == "active"
                items = [i for i in items if i.is_active(active_from) == want]
            if ordering is not None:
                by_activity = ordering.lstrip("-") == "last_activity"
                items = sorted(
                    items,
                    key=_activity_key if by_activity else _digest_key,
                    reverse=ordering.startswith("-"),
                )
            return list(items)

        # active_from only changes the listing when filtering by status.
        key = ("images", status, tagged, ordering, active_from if status else None)
        items = view.cached(key, compute)
        chunk, meta = paginate(request, items, operation=operation)
        namespace = request.path_params["namespace"]
        repository = request.path_params["repository"]
        results = [_image_entry(ctx, namespace, repository, i, active_from) for i in chunk]
    return JSONAnswer({**meta, "results": results})


def _activity_key(image: StoredImage) -> tuple[datetime, str]:
    return image.last_activity, image.digest


def _digest_key(image: StoredImage) -> tuple[datetime, str] | str:
    return image.digest


def _image_entry(
    ctx: EmulatorContext, namespace: str, repository: str, image: StoredImage, active_from: datetime
) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "repository": repository,
        "digest": image.digest,
        "tags": [{"tag": t.tag, "is_current": t.is_current} for t in image.tags],
        "last_pushed": ctx.time(image.last_pushed),
        "last_pulled": ctx.time(image.last_pulled),
        "status": "active" if image.is_active(active_from) else "inactive",
    }


async def image_tags(request: Request) -> Response:
    operation = "GetNamespacesRepositoriesImagesTags"
    ctx = ctx_of(request)
    with ctx.state.lock:
        ctx, view = _view(request, operation=operation)
        digest = request.path_params["digest"]
        image = view.by_digest.get(digest)
        if image is None:
            raise HubError(404, f"image {digest} not found", operation=operation)
        entries = [{"tag": t.tag, "is_current": t.is_current} for t in image.tags]
        chunk, meta = paginate(request, entries, operation=operation)
    return JSONAnswer({**meta, "results": chunk})


async def images_summary(request: Request) -> Response:
    operation = "GetNamespacesRepositoriesImagesSummary"
    ctx = ctx_of(request)
    with ctx.state.lock:
        ctx, view = _view(request, operation=operation)
        active_from = active_from_param(request, ctx, operation=operation)
        active = sum(1 for i in view.images if i.is_active(active_from))
        total = len(view.images)
    return JSONAnswer(
        {
            "active_from": format_time(active_from),
            "statistics": {"total": total, "active": active, "inactive": total - active},
        }
    )
