"""The Docker Hub API client: typed calls over one ``httpx.Client``.

Layers, from the outside in:

* typed methods (``iter_repositories``, ``iter_images``, ``delete_images``, ...) build paths and
  parameters exactly as the specs name them and parse answers strictly (``parse.py``);
* ``_pages`` follows ``next`` links page by page (``page_size=100``), on the configured host;
* ``_call`` hands one logical call to the ``Transport`` (``transport.py``), the one place for
  pacing, 429 waits, retries, the "may have been applied" rule, redaction and error mapping.
  Reads (GET, and ``delete-images`` with ``dry_run: true``) use ``mode="read"``, a real delete
  ``mode="once"``, a login ``mode="login"``;
* ``HubAuth`` (an ``httpx.Auth`` flow) adds the bearer token and renews it once on a 401.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar, Unpack
from urllib.parse import quote

import httpx

from janitor.hub.auth import Credentials, HubAuth, TokenManager
from janitor.hub.errors import HubError, HubProtocolError, IncompleteListing
from janitor.hub.models import (
    DeleteResult,
    DeleteWarning,
    Image,
    ImagesSummary,
    ManifestRef,
    ManifestRow,
    Repository,
    Tag,
    TagRef,
)
from janitor.hub.parse import (
    format_time,
    is_validation_answer,
    parse_delete_success,
    parse_delete_validation,
    parse_image,
    parse_images_summary,
    parse_manifests_page,
    parse_page,
    parse_repository,
    parse_tag,
    parse_tag_ref,
)
from janitor.hub.transport import (
    Answer,
    Endpoints,
    Mode,
    Options,
    Transport,
    check_base_url,
    loopback,
)

__all__ = ["DEFAULT_BASE_URL", "HubClient"]

log = logging.getLogger("janitor.hub")

DEFAULT_BASE_URL = "https://hub.docker.com"
PAGE_SIZE = 100  # the maximum Hub allows; fewest calls
T = TypeVar("T")


REPOSITORY_ORDERINGS = frozenset(
    {"name", "-name", "last_updated", "-last_updated", "pull_count", "-pull_count"}
)
IMAGE_ORDERINGS = frozenset({"last_activity", "-last_activity", "digest", "-digest"})
IMAGE_STATUSES = frozenset({"active", "inactive"})

_IMAGE_ENDPOINTS = frozenset({"images", "images-summary", "image-tags", "delete-images"})
_RETIRED_HINT = (
    "Docker Hub retired the image-management API (images, images-summary, delete-images) "
    "for many accounts on 2023-12-11; if the names are right, use JANITOR_DELETE_BACKEND=registry"
)


def _segment(value: str, what: str) -> str:
    """One path segment: a name or a digest, never a path of its own."""
    if not isinstance(value, str) or not value or value in (".", "..") or "/" in value:
        raise ValueError(f"invalid {what}: {value!r}")
    return quote(value, safe=":@")


def _row_key(row: Any) -> object:
    """What identifies a row of a listing: its name (repositories, tags) or digest (images)."""
    if isinstance(row, dict):
        for field in ("name", "digest", "manifest_digest"):
            value = row.get(field)
            if isinstance(value, str):
                return (field, value)
    return json.dumps(row, sort_keys=True, default=str)


class HubClient(Endpoints):
    """A Docker Hub API client; thread safe, one instance per run (its token is shared)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        credentials: Credentials | None = None,
        **options: Unpack[Options],
    ) -> None:
        self._base = self._check_base_url(base_url, options.get("verify", True), credentials)
        self._credentials = credentials
        self._transport = Transport(
            service="Docker Hub", accept="application/json", hint=self._hint, **options
        )
        self._tokens: TokenManager | None = None
        self._auth: HubAuth | None = None
        if credentials is not None:
            self._transport.add_credentials(credentials.username, credentials.secret)
            self._tokens = TokenManager(
                credentials,
                self._login_post,
                clock=self._transport.clock,
                on_secret=self._transport.add_secret,
            )
            self._auth = HubAuth(self._tokens)

    @staticmethod
    def _check_base_url(
        base_url: str, verify: bool | str | ssl.SSLContext, credentials: Credentials | None
    ) -> httpx.URL:
        url = check_base_url(base_url, "Docker Hub")
        path = url.path.rstrip("/")
        if path.endswith("/v2"):
            path = path[: -len("/v2")]  # "https://hub.docker.com/v2/" is a common spelling
        url = url.copy_with(path=path or "/")
        if verify is False:
            if url.host == "hub.docker.com":
                raise ValueError("TLS verification cannot be switched off for hub.docker.com")
            log.warning("TLS certificate verification is OFF for %s", url.host)
        if url.scheme == "http" and credentials is not None and not loopback(url.host):
            log.warning("Docker Hub credentials will travel unencrypted to %s (http://)", url.host)
        return url

    def __repr__(self) -> str:
        user = self._credentials.username if self._credentials else None
        return f"HubClient(base_url={self.base_url!r}, user={user!r})"

    @property
    def base_url(self) -> str:
        return str(self._base).rstrip("/")

    @property
    def login_endpoint(self) -> str | None:
        """The login path that worked (``/v2/auth/token`` or ``/v2/users/login``), if any."""
        return self._tokens.endpoint if self._tokens else None

    @property
    def logins(self) -> int:
        return self._tokens.logins if self._tokens else 0

    # -- one logical call, through the transport -------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _call(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        mode: Mode = "read",
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        authed: bool = True,
        passthrough: Collection[int] = (),
    ) -> Answer:
        """One call; 2xx and ``passthrough`` statuses come back parsed, the rest raises."""
        return self._transport.request(
            method,
            url,
            endpoint=endpoint,
            mode=mode,
            params=params,
            json_body=body,
            auth=self._auth if authed else None,
            passthrough=passthrough,
        )

    def _hint(self, status: int, endpoint: str) -> str | None:
        """Hub's advice for a failed call (None: the error's own)."""
        if status == 401:
            if self._credentials is None:
                return "this needs credentials: set JANITOR_HUB_USERNAME and JANITOR_HUB_TOKEN"
            return (
                f"user {self._credentials.username!r} was refused even with a fresh token: "
                "check the token's scopes and the user's access to the namespace"
            )
        if status == 404 and endpoint in _IMAGE_ENDPOINTS:
            return _RETIRED_HINT
        if 300 <= status < 400:
            return "check JANITOR_HUB_URL (use the https:// address Hub answers on)"
        return None

    # -- login (called by the TokenManager, under its lock) ------------------------------------

    def _login_post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        answer = self._call(
            "POST",
            self._url(path),
            endpoint=path.removeprefix("/v2/"),
            mode="login",
            body=body,
            authed=False,
            passthrough=(400, 401, 403, 404, 405),
        )
        return answer.status, answer.body

    # -- paging ----------------------------------------------------------------------------

    def _follow(self, link: str) -> str:
        """A ``next`` link as Hub gives it, moved onto the configured base URL (re-hosted
        only: its query, ``page_size`` included, is Hub's own)."""
        try:
            url = httpx.URL(self.base_url + "/").join(link)
            base = self._base
            if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
                prefix = base.path.rstrip("/")  # janitor may reach Hub's API below a proxy's path
                path = url.path if url.path.startswith(prefix + "/") else prefix + url.path
                url = url.copy_with(scheme=base.scheme, host=base.host, port=base.port, path=path)
        except (httpx.InvalidURL, TypeError):
            raise HubProtocolError(
                "Docker Hub sent a next link janitor cannot follow", method="GET", url=self.base_url
            ) from None
        return str(url)

    def _pages(
        self,
        endpoint: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        key: Callable[[Any], object] = _row_key,
    ) -> Iterator[list[Any]]:
        """The ``results`` of each page, one page at a time, checked as they come: no row twice
        (by ``key``), the same ``count`` on every page, and at the end exactly ``count`` rows.
        A listing that does not add up raises ``IncompleteListing``."""
        url = self._url(path)
        query: dict[str, str] | None = {**(params or {}), "page_size": str(PAGE_SIZE)}
        what = f"{endpoint} of {path}"
        seen = 0
        count: int | None = None
        first_count: int | None = None
        visited: set[str] = set()
        keys: set[int] = set()
        while True:
            answer = self._call(
                "GET", url, endpoint=endpoint, params=query, passthrough=() if query else (404,)
            )
            if answer.status == 404:
                if count is not None and seen >= count:
                    log.debug("%s: next link answered 404 after all %d items", path, seen)
                    return
                raise IncompleteListing(
                    f"Docker Hub's listing of {path} broke off: its next page answered 404 "
                    f"after {seen} of {count if count is not None else 'an unknown number of'} "
                    "items",
                    status=404,
                    method="GET",
                    url=url,
                )
            results, count, link = parse_page(answer.body, what)
            if query is not None:
                first_count = count
            elif count != first_count:
                raise IncompleteListing(
                    f"Docker Hub's listing of {path} changed while janitor read it (count "
                    f"{first_count} on the first page, {count} later)",
                    method="GET",
                    url=url,
                )
            next_url = self._follow(link) if link is not None else None
            if next_url is not None and next_url in visited:
                raise HubProtocolError(
                    f"Docker Hub's next links for {path} go round in a loop", method="GET", url=url
                )
            for row in results:
                marker = hash(key(row))
                if marker in keys:
                    raise IncompleteListing(
                        f"Docker Hub's listing of {path} sent a row twice (after {seen} rows): "
                        "a page was repeated or the listing moved while janitor read it",
                        method="GET",
                        url=url,
                    )
                keys.add(marker)
            if results:
                yield results
            seen += len(results)
            if next_url is None:
                if count is not None and seen != count:
                    raise IncompleteListing(
                        f"Docker Hub's listing of {path} gave {seen} rows but counted {count}",
                        method="GET",
                        url=url,
                    )
                return
            if not results:
                if count is not None and seen >= count:
                    return
                raise IncompleteListing(
                    f"Docker Hub sent an empty page of {path} with a next link after {seen} of "
                    f"{count} items",
                    method="GET",
                    url=url,
                )
            url, query = next_url, None
            visited.add(url)

    def complete(self, read: Callable[[], Iterator[T]], what: str) -> list[T]:
        """A whole listing; read once more when it did not add up, then refused."""
        try:
            return list(read())
        except IncompleteListing as first:
            log.info("%s did not add up (%s); reading it again", what, first.summary)
        try:
            return list(read())
        except IncompleteListing as again:
            again.summary = (
                f"{what} did not add up twice, so janitor does not plan from it: {again.summary}"
            )
            raise

    # -- the API ---------------------------------------------------------------------------

    def iter_repositories(
        self, namespace: str, *, ordering: str | None = "name"
    ) -> Iterator[Repository]:
        """Repositories of ``namespace`` (``GET /v2/namespaces/{ns}/repositories``), by name."""
        ns = _segment(namespace, "namespace")
        params: dict[str, str] = {}
        if ordering is not None:
            if ordering not in REPOSITORY_ORDERINGS:
                raise ValueError(f"ordering must be one of {sorted(REPOSITORY_ORDERINGS)}")
            params["ordering"] = ordering
        for page in self._pages("repositories", f"/v2/namespaces/{ns}/repositories", params):
            for item in page:
                yield parse_repository(item, namespace)

    def iter_tags(self, namespace: str, repository: str) -> Iterator[Tag]:
        """Current tags (``GET /v2/namespaces/{ns}/repositories/{repo}/tags``), both shapes."""
        path = self._repo_path(namespace, repository) + "/tags"
        where = f"{namespace}/{repository}"
        for page in self._pages("tags", path):
            for item in page:
                yield parse_tag(item, where)

    def list_tags(self, namespace: str, repository: str) -> list[Tag]:
        """Every current tag of a repository, from a listing that adds up (read at most twice)."""
        return self.complete(
            lambda: self.iter_tags(namespace, repository),
            f"the tags listing of {namespace}/{repository}",
        )

    def iter_manifests(self, namespace: str, repository: str) -> Iterator[ManifestRow]:
        """Every manifest of a repository, tagged or not (``GET .../repositories/{repo}/manifests``,
        Hub's web UI listing, outside the published spec; docker/roadmap#795): the next page is
        asked for by passing ``last_evaluated_key`` back, until a page has none. Checked as it
        comes: no digest twice, no key twice, no empty page with a key (``IncompleteListing``);
        a shape janitor does not understand raises ``UnknownShape``."""
        path = self._repo_path(namespace, repository) + "/manifests"
        url = self._url(path)
        where = f"{namespace}/{repository}"
        params: dict[str, str] | None = None
        keys: set[str] = set()
        digests: set[str] = set()
        while True:
            answer = self._call("GET", url, endpoint="manifests", params=params)
            rows, key = parse_manifests_page(answer.body, where)
            for row in rows:
                if row.digest in digests:
                    raise IncompleteListing(
                        f"Docker Hub's manifests listing of {where} sent {row.digest[:19]} twice",
                        method="GET",
                        url=url,
                    )
                digests.add(row.digest)
            yield from rows
            if key is None:
                return
            if key in keys or not rows:
                raise IncompleteListing(
                    f"Docker Hub's manifests listing of {where} "
                    + ("repeated a page key" if key in keys else "sent an empty page with a key"),
                    method="GET",
                    url=url,
                )
            keys.add(key)
            params = {"last_evaluated_key": key}

    def first_manifests_page(self, namespace: str, repository: str) -> list[ManifestRow]:
        """The first page of the manifests listing (the probe of whether Hub serves it)."""
        path = self._repo_path(namespace, repository) + "/manifests"
        answer = self._call("GET", self._url(path), endpoint="manifests")
        return parse_manifests_page(answer.body, f"{namespace}/{repository}")[0]

    def iter_images(
        self,
        namespace: str,
        repository: str,
        *,
        status: str | None = None,
        currently_tagged: bool | None = None,
        ordering: str | None = None,
        active_from: datetime | None = None,
    ) -> Iterator[Image]:
        """Images of a repository (legacy ``GET .../repositories/{repo}/images``)."""
        params: dict[str, str] = {}
        if status is not None:
            if status not in IMAGE_STATUSES:
                raise ValueError("status must be 'active' or 'inactive'")
            params["status"] = status
        if currently_tagged is not None:
            params["currently_tagged"] = "true" if currently_tagged else "false"
        if ordering is not None:
            if ordering not in IMAGE_ORDERINGS:
                raise ValueError(f"ordering must be one of {sorted(IMAGE_ORDERINGS)}")
            params["ordering"] = ordering
        if active_from is not None:
            params["active_from"] = format_time(active_from)
        path = self._repo_path(namespace, repository) + "/images"
        for page in self._pages("images", path, params):
            for item in page:
                yield parse_image(item, namespace, repository)

    def iter_image_tags(self, namespace: str, repository: str, digest: str) -> Iterator[TagRef]:
        """Current and historical tags of one image (legacy ``.../images/{digest}/tags``)."""
        path = self._repo_path(namespace, repository) + f"/images/{_segment(digest, 'digest')}/tags"
        where = f"{namespace}/{repository}@{digest}"
        for page in self._pages("image-tags", path):
            for item in page:
                yield parse_tag_ref(item, where)

    def images_summary(
        self, namespace: str, repository: str, *, active_from: datetime | None = None
    ) -> ImagesSummary:
        """Counts of active and inactive images (legacy ``.../images-summary``)."""
        path = self._repo_path(namespace, repository) + "/images-summary"
        params = {"active_from": format_time(active_from)} if active_from is not None else None
        answer = self._call("GET", self._url(path), endpoint="images-summary", params=params)
        return parse_images_summary(answer.body, f"{namespace}/{repository}")

    def delete_images(
        self,
        namespace: str,
        manifests: Sequence[ManifestRef],
        *,
        dry_run: bool,
        active_from: datetime | None = None,
        ignore_warnings: Sequence[DeleteWarning] = (),
    ) -> DeleteResult:
        """``POST /v2/namespaces/{ns}/delete-images`` for manifests of ONE repository.

        200 gives ``accepted=True`` with Hub's metrics; Hub's 400 "Deletion not possible" gives
        ``accepted=False`` with its errors and warnings (nothing was deleted). Other failures
        raise; a real delete (``dry_run=False``) is never sent twice unless provably not applied.
        """
        ns = _segment(namespace, "namespace")
        if not manifests:
            raise ValueError("delete_images needs at least one manifest")
        repositories = {m.repository for m in manifests} | {w.repository for w in ignore_warnings}
        if len(repositories) != 1:
            raise ValueError(
                "delete-images takes one repository per call; got "
                + ", ".join(sorted(repositories))
            )
        body: dict[str, Any] = {
            "dry_run": bool(dry_run),
            "manifests": [{"repository": m.repository, "digest": m.digest} for m in manifests],
        }
        if active_from is not None:
            body["active_from"] = format_time(active_from)
        if ignore_warnings:
            body["ignore_warnings"] = [w.as_json() for w in ignore_warnings]
        answer = self._call(
            "POST",
            self._url(f"/v2/namespaces/{ns}/delete-images"),
            endpoint="delete-images",
            mode="read" if dry_run else "once",
            body=body,
            passthrough=(400,),
        )
        if answer.status == 400:
            if not is_validation_answer(answer.body):
                raise HubError(
                    f"Docker Hub rejected POST /v2/namespaces/{ns}/delete-images (400)",
                    status=400,
                    message=self._message_of(answer.body),
                    method="POST",
                    url=answer.url,
                )
            return parse_delete_validation(answer.body, dry_run)
        return parse_delete_success(answer.body, dry_run)

    def _message_of(self, body: Any) -> str | None:
        """The words of an answer the transport handed back (already redacted)."""
        return self._transport.message(json.dumps(body).encode()) if body is not None else None

    def _repo_path(self, namespace: str, repository: str) -> str:
        ns = _segment(namespace, "namespace")
        repo = _segment(repository, "repository")
        return f"/v2/namespaces/{ns}/repositories/{repo}"
