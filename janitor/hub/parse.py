"""Hub's JSON answers into the values of ``janitor.hub.models``, strictly.

Every field is checked for presence and type as it is read; anything wrong becomes a
``HubProtocolError`` naming the object and the field, never a KeyError or TypeError. Times become
timezone-aware UTC; ``null``, a missing time and ``0001-01-01T00:00:00Z`` (Hub's "never") become
None. Tags are read in both shapes: ``images`` as a list of platform images with a top-level
``digest`` (the live Hub), and ``images`` as one object without top-level ``digest`` (the spec).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from dateutil import parser as dateparser

from janitor.hub.errors import HubProtocolError, UnknownShape
from janitor.hub.models import (
    DeleteError,
    DeleteMetrics,
    DeleteResult,
    DeleteWarning,
    Image,
    ImagesSummary,
    ManifestRow,
    PlatformImage,
    Repository,
    Tag,
    TagRef,
)

__all__ = [
    "Fields",
    "format_time",
    "parse_delete_success",
    "parse_delete_validation",
    "parse_image",
    "parse_images_summary",
    "parse_manifests_page",
    "parse_page",
    "parse_platform",
    "parse_repository",
    "parse_tag",
    "parse_tag_ref",
    "parse_time",
]

_MISSING = object()

# The shapes Hub writes every time in (``2021-02-24T22:05:27.526308Z``, and with nanoseconds
# ``2026-08-19T17:09:02.431065465Z`` on the live Hub): ``datetime.fromisoformat`` reads them
# exactly as ``isoparse`` does (both keep the first six digits of the fraction), some fifty times
# faster, and a listing of a million images holds several million of them. Anything else goes
# through dateutil's ``isoparse``.
_HUB_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)
_fromisoformat = datetime.fromisoformat
_INT_MIN, _INT_END = -(2**63), 2**63


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a list" if isinstance(value, list) else "an object"
    )


def parse_time(value: object, what: str = "a time") -> datetime | None:
    """ISO 8601 to aware UTC; None for null, empty and Hub's zero time (year 1)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HubProtocolError(f"Docker Hub sent {what} as {_kind(value)}, not a time")
    try:
        parsed = (_fromisoformat if _HUB_TIME.fullmatch(value) else dateparser.isoparse)(value)
    except (ValueError, OverflowError):
        raise HubProtocolError(f"Docker Hub sent {what} that is not an ISO 8601 time") from None
    if parsed.year == 1:
        return None  # 0001-01-01T00:00:00Z: never
    tz = parsed.tzinfo
    if tz is UTC:
        return parsed
    if tz is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise HubProtocolError(f"Docker Hub sent {what} out of range") from None


def format_time(value: datetime) -> str:
    """Aware datetime to ISO 8601 UTC with ``Z``, as Hub's examples write it."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("active_from must be timezone-aware (UTC)")
    value = value.astimezone(UTC)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


class Fields:
    """Typed access to one JSON object of an answer; errors name ``what`` and the field."""

    def __init__(self, obj: object, what: str) -> None:
        if not isinstance(obj, dict):
            raise HubProtocolError(f"Docker Hub sent {what} as {_kind(obj)}, not an object")
        self.obj: dict[str, Any] = obj
        self.what = what

    def _bad(self, key: str, expected: str, value: object) -> HubProtocolError:
        return HubProtocolError(
            f"Docker Hub sent {self.what} whose {key!r} is {_kind(value)}, not {expected}"
        )

    def _get(self, key: str, required: bool) -> object:
        value = self.obj.get(key, _MISSING)
        if value is _MISSING or (value is None and required):
            if required:
                raise HubProtocolError(f"Docker Hub sent {self.what} without {key!r}")
            return None
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, str) or (required and not value):
            raise self._bad(key, "a non-empty string" if required else "a string", value)
        return value

    def req_text(self, key: str) -> str:
        return cast(str, self.text(key, required=True))

    def integer(self, key: str, *, required: bool = False) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "an integer", value)
        if not _INT_MIN <= value < _INT_END:  # what a database (and any sane count) can hold
            raise HubProtocolError(
                f"Docker Hub sent {self.what} whose {key!r} is out of range ({value})"
            )
        return value

    def flag(self, key: str, *, required: bool = False) -> bool | None:
        value = self._get(key, required)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._bad(key, "a boolean", value)
        return value

    def time(self, key: str) -> datetime | None:
        return parse_time(self.obj.get(key), f"{self.what} with {key!r}")

    def array(self, key: str, *, required: bool = False) -> list[Any]:
        value = self._get(key, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._bad(key, "a list", value)
        return value

    def mapping(self, key: str) -> dict[str, Any] | None:
        value = self._get(key, False)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._bad(key, "an object", value)
        return value


def parse_page(body: object, what: str) -> tuple[list[Any], int | None, str | None]:
    """``results``, ``count`` and ``next`` of one page of a listing."""
    page = Fields(body, f"a page of {what}")
    return page.array("results", required=True), page.integer("count"), page.text("next") or None


def parse_repository(obj: object, namespace: str) -> Repository:
    f = Fields(obj, f"a repository of {namespace!r}")
    status = f.text("status_description")
    if status is None:
        code = f.obj.get("status")
        if isinstance(code, str):
            status = code
        elif code is not None:
            status = str(f.integer("status"))
    name = f.req_text("name")
    if "/" in name or name in (".", ".."):  # it becomes a path segment of the next calls
        raise HubProtocolError(
            f"Docker Hub sent a repository of {namespace!r} named {name!r}, which is not a "
            "repository name"
        )
    return Repository(
        namespace=namespace,
        name=name,
        is_private=bool(f.flag("is_private")),
        last_updated=f.time("last_updated"),
        storage_size=f.integer("storage_size"),
        status=status,
    )


# -- fast paths ----------------------------------------------------------------------------------
#
# A listing of a million images is a million image objects and hundreds of thousands of tags:
# building a ``Fields`` (and its error texts) per object costs more than the rest of the listing.
# ``_fast_image`` and ``_fast_tag`` read the well-formed objects Hub sends directly and give up
# (return None) at the first value that is not plainly right; the strict parsers below then read
# the object again and raise the precise error. They accept only what every check of ``Fields``
# accepts, so a check added there needs its twin here (``_SLOW`` marks "let the strict path
# decide").

_SLOW: Any = object()


def _fast_time(value: object) -> Any:
    """What ``parse_time`` returns for Hub's usual spelling (or None/""), else ``_SLOW``."""
    if value is None or value == "":
        return None
    if type(value) is not str or not _HUB_TIME.fullmatch(value):
        return _SLOW
    try:
        parsed = _fromisoformat(value)
    except ValueError:
        return _SLOW
    if parsed.year == 1:
        return None
    return parsed if parsed.tzinfo is UTC else _SLOW


def _fast_int(value: object) -> Any:
    if value is None:
        return None
    if type(value) is int and _INT_MIN <= value < _INT_END:
        return value
    return _SLOW


def _fast_text(value: object) -> Any:
    return value if value is None or type(value) is str else _SLOW


def _fast_tag_refs(raw: object) -> tuple[TagRef, ...] | None:
    if raw is None:
        return ()
    if type(raw) is not list:
        return None
    refs = []
    for item in raw:
        if type(item) is not dict:
            return None
        tag = item.get("tag")
        current = item.get("is_current")
        if type(tag) is not str or not tag or type(current) is not bool:
            return None
        refs.append(TagRef(tag, current))
    return tuple(refs)


def _fast_image(obj: object, namespace: str, repository: str) -> Image | None:
    if type(obj) is not dict:
        return None
    get = obj.get
    digest = get("digest")
    if type(digest) is not str or not digest:
        return None
    tags = _fast_tag_refs(get("tags"))
    pushed = _fast_time(get("last_pushed"))
    pulled = _fast_time(get("last_pulled"))
    status = _fast_text(get("status"))
    if tags is None or pushed is _SLOW or pulled is _SLOW or status is _SLOW:
        return None
    return Image(namespace, repository, digest, tags, pushed, pulled, status)


def _fast_platform(obj: object) -> PlatformImage | None:
    if type(obj) is not dict:
        return None
    get = obj.get
    values = (
        _fast_text(get("digest")),
        _fast_text(get("architecture")),
        _fast_text(get("os")),
        _fast_text(get("variant")),
        _fast_int(get("size")),
        _fast_time(get("last_pushed")),
        _fast_time(get("last_pulled")),
        _fast_text(get("status")),
    )
    if _SLOW in values:
        return None
    digest, architecture, os, variant, size, pushed, pulled, status = values
    return PlatformImage(
        digest or None, architecture, os, variant or None, size, pushed, pulled, status
    )


def _tag_status(obj: dict[str, Any]) -> object:
    """A tag's state: ``tag_status`` on the live Hub, ``status`` in the spec."""
    value = obj.get("tag_status")
    return obj.get("status") if value is None else value


def _fast_tag(obj: object) -> Tag | None:
    if type(obj) is not dict:
        return None
    get = obj.get
    name = get("name")
    if type(name) is not str or not name:
        return None
    raw = get("images")
    if raw is None:
        images: tuple[PlatformImage, ...] = ()
    elif type(raw) is list:
        platforms = [_fast_platform(item) for item in raw]
        if None in platforms:
            return None
        images = tuple(platforms)  # type: ignore[arg-type]
    elif type(raw) is dict:
        platform = _fast_platform(raw)
        if platform is None:
            return None
        images = (platform,)
    else:
        return None
    values = (
        _fast_text(get("digest")),
        _fast_time(get("tag_last_pushed")),
        _fast_time(get("tag_last_pulled")),
        _fast_int(get("full_size")),
        _fast_text(_tag_status(obj)),
        _fast_time(get("last_updated")),
    )
    if _SLOW in values:
        return None
    digest, pushed, pulled, full_size, status, updated = values
    return Tag(name, digest or None, pushed, pulled, full_size, status, updated, images)


# -- the strict parsers ---------------------------------------------------------------------------


def parse_platform(obj: object, where: str) -> PlatformImage:
    f = Fields(obj, f"a platform image of {where}")
    return PlatformImage(
        digest=f.text("digest") or None,
        architecture=f.text("architecture"),
        os=f.text("os"),
        variant=f.text("variant") or None,
        size=f.integer("size"),
        last_pushed=f.time("last_pushed"),
        last_pulled=f.time("last_pulled"),
        status=f.text("status"),
    )


def parse_tag(obj: object, where: str) -> Tag:
    fast = _fast_tag(obj)
    if fast is not None:
        return fast
    f = Fields(obj, f"a tag of {where}")
    name = f.req_text("name")
    at = f"{where}:{name}"
    digest = f.text("digest") or None
    raw = f.obj.get("images")
    if raw is None:
        images: tuple[PlatformImage, ...] = ()
    elif isinstance(raw, list):
        images = tuple(parse_platform(item, at) for item in raw)
    elif isinstance(raw, dict):
        # The spec's shape: one object and no top-level digest. For an index that object is one
        # of its platforms, so its digest is not the tag's: ``digest`` stays unknown (None).
        images = (parse_platform(raw, at),)
    else:
        raise HubProtocolError(
            f"Docker Hub sent a tag of {where} whose 'images' is {_kind(raw)}, "
            "not a list or an object"
        )
    return Tag(
        name=name,
        digest=digest,
        last_pushed=f.time("tag_last_pushed"),
        last_pulled=f.time("tag_last_pulled"),
        full_size=f.integer("full_size"),
        status=f.text("tag_status" if f.obj.get("tag_status") is not None else "status"),
        last_updated=f.time("last_updated"),
        images=images,
    )


def parse_tag_ref(obj: object, where: str) -> TagRef:
    f = Fields(obj, f"a tag of {where}")
    return TagRef(tag=f.req_text("tag"), is_current=cast(bool, f.flag("is_current", required=True)))


def parse_image(obj: object, namespace: str, repository: str) -> Image:
    fast = _fast_image(obj, namespace, repository)
    if fast is not None:
        return fast
    where = f"{namespace}/{repository}"
    f = Fields(obj, f"an image of {where}")
    digest = f.req_text("digest")
    at = f"{where}@{digest}"
    return Image(
        namespace=namespace,
        repository=repository,
        digest=digest,
        tags=tuple(parse_tag_ref(t, at) for t in f.array("tags")),
        last_pushed=f.time("last_pushed"),
        last_pulled=f.time("last_pulled"),
        status=f.text("status"),
    )


def parse_images_summary(obj: object, where: str) -> ImagesSummary:
    f = Fields(obj, f"the images summary of {where}")
    stats = Fields(f.mapping("statistics"), f"the image statistics of {where}")
    return ImagesSummary(
        active_from=f.time("active_from"),
        total=cast(int, stats.integer("total", required=True)),
        active=cast(int, stats.integer("active", required=True)),
        inactive=cast(int, stats.integer("inactive", required=True)),
    )


def parse_delete_success(obj: object, dry_run: bool) -> DeleteResult:
    f = Fields(obj, "the answer to delete-images")
    said = f.flag("dry_run")
    if said is not None and said != dry_run:
        raise HubProtocolError(
            f"Docker Hub answered a delete-images call with dry_run={dry_run} as if it had been "
            f"dry_run={said}",
            maybe_applied=True,
        )
    m = Fields(f.mapping("metrics") or {}, "the metrics of delete-images")
    metrics = DeleteMetrics(
        manifest_deletes=m.integer("manifest_deletes") or 0,
        manifest_errors=m.integer("manifest_errors") or 0,
        tag_deletes=m.integer("tag_deletes") or 0,
        tag_errors=m.integer("tag_errors") or 0,
    )
    return DeleteResult(dry_run=dry_run, accepted=True, metrics=metrics)


def _items(values: list[Any], what: str) -> Iterator[Fields]:
    for value in values:
        yield Fields(value, what)


def is_validation_answer(obj: object) -> bool:
    """Hub's 400 "Deletion not possible": ``errinfo.type == "validation"`` or details present."""
    if not isinstance(obj, Mapping):
        return False
    errinfo = obj.get("errinfo")
    if not isinstance(errinfo, Mapping):
        return False
    return errinfo.get("type") == "validation" or "details" in errinfo


def parse_delete_validation(obj: object, dry_run: bool) -> DeleteResult:
    f = Fields(obj, "the 400 answer to delete-images")
    info = Fields(f.mapping("errinfo") or {}, "the errinfo of delete-images")
    details = Fields(info.mapping("details") or {}, "the error details of delete-images")
    errors = tuple(
        DeleteError(
            repository=e.req_text("repository"),
            digest=e.req_text("digest"),
            error=e.req_text("error"),
        )
        for e in _items(details.array("errors"), "an error of delete-images")
    )
    warnings: list[DeleteWarning] = []
    for w in _items(details.array("warnings"), "a warning of delete-images"):
        tags = w.array("tags")
        if not all(isinstance(t, str) for t in tags):
            raise HubProtocolError(
                "Docker Hub sent a warning of delete-images with a tag that is not a string"
            )
        warnings.append(
            DeleteWarning(
                repository=w.req_text("repository"),
                digest=w.req_text("digest"),
                warning=cast(Any, w.req_text("warning")),
                tags=tuple(tags),
            )
        )
    return DeleteResult(
        dry_run=dry_run,
        accepted=False,
        errors=errors,
        warnings=tuple(warnings),
        message=f.text("message"),
        txnid=f.text("txnid") or info.text("api_call_txnid"),
    )


# -- the manifests listing (not in the published spec: read strictly, never guessed at) -----------

DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def parse_manifests_page(body: object, where: str) -> tuple[list[ManifestRow], str | None]:
    """The rows of one page of ``GET .../repositories/{repo}/manifests`` and its
    ``last_evaluated_key`` (None on the last page). Anything janitor does not understand raises
    ``UnknownShape``: a row whose ``manifest_digest`` is not a digest, whose ``tags`` is not a
    list of tag names, whose times are neither ISO 8601, null nor Hub's zero date, or a key that
    is not text."""
    try:
        page = Fields(body, f"a page of the manifests listing of {where}")
        raw_rows = page.array("manifests", required=True)
        key = page.obj.get("last_evaluated_key")
        if key is not None and (not isinstance(key, str) or not key):
            raise HubProtocolError(
                f"Docker Hub sent a 'last_evaluated_key' of {where} that is {_kind(key)}, "
                "not text janitor can pass back"
            )
        rows = [_manifest_row(raw, where) for raw in raw_rows]
    except UnknownShape:
        raise
    except HubProtocolError as exc:
        raise UnknownShape(exc.summary) from None
    return rows, key


def _manifest_row(obj: object, where: str) -> ManifestRow:
    f = Fields(obj, f"a row of the manifests listing of {where}")
    digest = f.req_text("manifest_digest")
    if not DIGEST.match(digest):
        raise HubProtocolError(
            f"Docker Hub sent a row of the manifests listing of {where} whose 'manifest_digest' "
            "is not a digest"
        )
    tags = f.array("tags", required=True)
    if not all(isinstance(t, str) and t for t in tags):
        raise HubProtocolError(
            f"Docker Hub sent a row of the manifests listing of {where} with a tag that is not "
            "a tag name"
        )
    return ManifestRow(
        digest=digest,
        tags=tuple(tags),
        last_pushed=f.time("last_pushed"),
        last_pulled=f.time("last_pulled"),
        media_type=f.text("media_type") or None,
    )
