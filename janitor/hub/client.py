"""The Docker Hub API client: typed calls over one ``httpx.Client``.

Layers, from the outside in:

* typed methods (``iter_repositories``, ``iter_images``, ``delete_images``, ...) build paths and
  parameters exactly as the specs name them and parse answers strictly (``parse.py``);
* ``_pages`` follows ``next`` links page by page (``page_size=100``), on the configured host;
* ``_call`` sends one logical call: pacing by the shared ``RateLimiter``, waiting out 429s,
  retrying what is safe to retry, mapping transport exceptions once into the error tree;
* ``HubAuth`` (an ``httpx.Auth`` flow) adds the bearer token and renews it once on a 401.

Retry rules: reads (GET, and ``delete-images`` with ``dry_run: true``) are retried with
exponential backoff and jitter on 5xx, timeouts, dropped connections and unreadable bodies. A
real delete is repeated only when it provably did not happen: a 429, or a connection that failed
before the request was sent. Otherwise its failure is raised with ``maybe_applied=True``.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx

from janitor.hub.auth import Credentials, HubAuth, TokenManager
from janitor.hub.errors import (
    NOT_SENT,
    HubAuthError,
    HubError,
    HubForbidden,
    HubNotFound,
    HubProtocolError,
    HubRateLimited,
    HubServerError,
    IncompleteListing,
    map_transport_error,
    safe_url,
)
from janitor.hub.models import (
    CallStats,
    DeleteResult,
    DeleteWarning,
    Image,
    ImagesSummary,
    ManifestRef,
    RateLimitState,
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
    parse_page,
    parse_repository,
    parse_tag,
    parse_tag_ref,
)
from janitor.hub.ratelimit import RateLimiter, backoff_delay, retry_wait

__all__ = ["DEFAULT_BASE_URL", "HubClient"]

log = logging.getLogger("janitor.hub")

DEFAULT_BASE_URL = "https://hub.docker.com"
PAGE_SIZE = 100  # the maximum Hub allows; fewest calls
T = TypeVar("T")


def _version() -> str:
    try:
        return importlib.metadata.version("docker-hub-janitor")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


DEFAULT_USER_AGENT = f"docker-hub-janitor/{_version()} httpx/{httpx.__version__}"

REPOSITORY_ORDERINGS = frozenset(
    {"name", "-name", "last_updated", "-last_updated", "pull_count", "-pull_count"}
)
IMAGE_ORDERINGS = frozenset({"last_activity", "-last_activity", "digest", "-digest"})
IMAGE_STATUSES = frozenset({"active", "inactive"})

# read: safe to repeat. once: a state change that must not be repeated unless provably not done.
# login: a login POST (no pacing, never repeated after a 401).
Mode = Literal["read", "once", "login"]

_IMAGE_ENDPOINTS = frozenset({"images", "images-summary", "image-tags", "delete-images"})
_RETIRED_HINT = (
    "Docker Hub retired the image-management API (images, images-summary, delete-images) "
    "for many accounts on 2023-12-11; if the names are right, use JANITOR_DELETE_BACKEND=registry"
)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: Any
    url: str


def _segment(value: str, what: str) -> str:
    """One path segment: a name or a digest, never a path of its own."""
    if not isinstance(value, str) or not value or value in (".", "..") or "/" in value:
        raise ValueError(f"invalid {what}: {value!r}")
    return quote(value, safe=":@")


def _untrusted(exc: BaseException) -> bool:
    """The server's TLS certificate failed verification: asking again cannot help."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _row_key(row: Any) -> object:
    """What identifies a row of a listing: its name (repositories, tags) or digest (images)."""
    if isinstance(row, dict):
        for field in ("name", "digest", "manifest_digest"):
            value = row.get(field)
            if isinstance(value, str):
                return (field, value)
    return json.dumps(row, sort_keys=True, default=str)


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


class HubClient:
    """A Docker Hub API client; thread safe, one instance per run (its token is shared)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        credentials: Credentials | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 5,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 120.0,
        backoff: float = 0.5,
        max_rate_limit_waits: int = 20,
        rng: random.Random | None = None,
    ) -> None:
        self._base = self._check_base_url(base_url, verify, credentials)
        self._credentials = credentials
        self._max_retries = max(0, max_retries)
        self._clock = clock
        self._sleep = sleep
        self._max_wait = max_wait
        self._backoff = backoff
        self._max_rate_limit_waits = max_rate_limit_waits
        self._rng = rng or random.Random()
        self._stats = CallStats()
        self._stats_lock = threading.Lock()
        self._secrets: set[str] = set()
        self._secrets_lock = threading.Lock()
        self._limiter = RateLimiter(clock=clock, sleep=sleep, max_wait=max_wait)
        if isinstance(verify, str):
            verify = ssl.create_default_context(cafile=verify)
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            verify=verify,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
        )
        self._tokens: TokenManager | None = None
        self._auth: HubAuth | None = None
        if credentials is not None:
            self._tokens = TokenManager(
                credentials, self._login_post, clock=clock, on_secret=self._add_secret
            )
            self._auth = HubAuth(self._tokens)

    @staticmethod
    def _check_base_url(
        base_url: str, verify: bool | str | ssl.SSLContext, credentials: Credentials | None
    ) -> httpx.URL:
        url = httpx.URL(base_url.strip())
        if url.scheme not in ("http", "https") or not url.host:
            shown = safe_url(base_url.strip()) or ""
            raise ValueError(f"the Docker Hub URL must be http(s)://host[:port], not {shown!r}")
        if url.query or url.fragment or url.userinfo:
            raise ValueError("the Docker Hub URL must not carry a query, fragment or user info")
        path = url.path.rstrip("/")
        if path.endswith("/v2"):
            path = path[: -len("/v2")]  # "https://hub.docker.com/v2/" is a common spelling
        url = url.copy_with(path=path or "/")
        if verify is False:
            if url.host == "hub.docker.com":
                raise ValueError("TLS verification cannot be switched off for hub.docker.com")
            log.warning("TLS certificate verification is OFF for %s", url.host)
        if url.scheme == "http" and credentials is not None and not _loopback(url.host):
            log.warning("Docker Hub credentials will travel unencrypted to %s (http://)", url.host)
        return url

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        user = self._credentials.username if self._credentials else None
        return f"HubClient(base_url={self.base_url!r}, user={user!r})"

    @property
    def base_url(self) -> str:
        return str(self._base).rstrip("/")

    @property
    def stats(self) -> CallStats:
        with self._stats_lock:
            return self._stats.snapshot()

    @property
    def rate_limit(self) -> RateLimitState:
        return self._limiter.state

    @property
    def login_endpoint(self) -> str | None:
        """The login path that worked (``/v2/auth/token`` or ``/v2/users/login``), if any."""
        return self._tokens.endpoint if self._tokens else None

    @property
    def logins(self) -> int:
        return self._tokens.logins if self._tokens else 0

    # -- secrets never leave ----------------------------------------------------------------

    def _add_secret(self, value: str) -> None:
        if value and len(value) >= 4:
            with self._secrets_lock:
                self._secrets.add(value)

    def _redact(self, text: str) -> str:
        """Hub's own text, minus anything janitor knows to be secret (echoing proxies exist)."""
        with self._secrets_lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def _redact_json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {self._redact(str(k)): self._redact_json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._redact_json(v) for v in value]
        return value

    # -- one logical call ------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _count(self, endpoint: str, *, rate_limited: bool = False, retry: bool = False) -> None:
        with self._stats_lock:
            self._stats.record(endpoint, rate_limited=rate_limited, retry=retry)

    def _backoff_delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        return backoff_delay(
            attempt,
            base=self._backoff,
            max_wait=self._max_wait,
            rng=self._rng,
            now=self._clock(),
            headers=response.headers if response is not None else None,
        )

    def _retry(
        self, what: str, endpoint: str, attempt: int, why: str, response: httpx.Response | None
    ) -> None:
        delay = self._backoff_delay(attempt, response)
        log.info("%s %s; retry %d of %d in %.1f s", what, why, attempt, self._max_retries, delay)
        self._count(endpoint, retry=True)
        self._sleep(delay)

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
    ) -> _Answer:
        """Send one call until it has a usable answer; raise the error tree otherwise.

        2xx and ``passthrough`` statuses come back parsed; everything else raises.
        """
        attempt = 0
        waits = 0
        path = httpx.URL(url).path
        while True:
            if mode != "login":
                self._limiter.acquire()
            started = time.perf_counter()
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    auth=self._auth if authed else None,
                )
            except httpx.TransportError as exc:
                if mode != "login":
                    self._limiter.release()
                self._count(endpoint)
                sent = not isinstance(exc, NOT_SENT)
                log.debug("%s %s failed: %s", method, path, type(exc).__name__)
                if (mode == "once" and sent) or attempt >= self._max_retries or _untrusted(exc):
                    raise map_transport_error(
                        exc, method=method, url=url, maybe_applied=mode == "once" and sent
                    ) from None
                attempt += 1
                self._retry(
                    f"{method} {path}", endpoint, attempt, f"failed ({type(exc).__name__})", None
                )
                continue
            except BaseException:
                if mode != "login":
                    self._limiter.release()
                raise
            elapsed = (time.perf_counter() - started) * 1000
            status = response.status_code
            if mode != "login":
                self._limiter.observe(response.headers)
            self._count(endpoint, rate_limited=status == 429)
            log.debug("%s %s %d %.0f ms", method, path, status, elapsed)

            if status == 429:
                if waits >= self._max_rate_limit_waits:
                    raise self._error(method, url, endpoint, response)
                waits += 1
                self._wait_out_429(endpoint, response, sleep_here=mode == "login")
                continue
            if status >= 500:
                if mode == "once" or attempt >= self._max_retries:
                    raise self._error(method, url, endpoint, response, maybe_applied=mode == "once")
                attempt += 1
                self._retry(f"{method} {path}", endpoint, attempt, f"answered {status}", response)
                continue
            if 200 <= status < 300 or status in passthrough:
                try:
                    parsed = json.loads(response.content) if response.content.strip() else None
                except ValueError:
                    if not 200 <= status < 300:
                        parsed = None
                    elif mode == "once" or attempt >= self._max_retries:
                        raise HubProtocolError(
                            f"Docker Hub's answer to {method} {path} is not valid JSON",
                            status=status,
                            method=method,
                            url=url,
                            maybe_applied=mode == "once",
                        ) from None
                    else:
                        attempt += 1
                        self._retry(
                            f"{method} {path}", endpoint, attempt, "answered unreadable JSON", None
                        )
                        continue
                return _Answer(status=status, body=parsed, url=str(response.url))
            raise self._error(method, url, endpoint, response)

    def _wait_out_429(self, endpoint: str, response: httpx.Response, *, sleep_here: bool) -> None:
        """Every thread waits until Hub's retry time (capped, with jitter); paced calls do the
        waiting in the limiter's ``acquire()``, login calls (not paced) here."""
        now = self._clock()
        wait = retry_wait(response.headers, now)
        if wait is None:
            reset = response.headers.get("x-ratelimit-reset")
            try:
                wait = float(reset) - now if reset else None
            except ValueError:
                wait = None
        if wait is None or wait <= 0:
            wait = self._backoff_delay(1)
        wait = min(wait, self._max_wait)
        wait += self._rng.uniform(0, min(1.0, 0.1 * wait + 0.05))
        log.info("Docker Hub rate limit hit (%s): waiting %.1f s before retrying", endpoint, wait)
        self._count(endpoint, retry=True)
        self._limiter.block_until(now + wait)
        if sleep_here:
            self._sleep(wait)

    def _error(
        self,
        method: str,
        url: str,
        endpoint: str,
        response: httpx.Response,
        *,
        maybe_applied: bool = False,
    ) -> HubError:
        status = response.status_code
        path = httpx.URL(url).path
        try:
            body = response.json()
        except ValueError:
            body = None
        message = txnid = None
        errinfo: dict[str, Any] = {}
        if isinstance(body, dict):
            for key in ("message", "detail", "details", "text"):
                if isinstance(body.get(key), str) and body[key]:
                    message = body[key]
                    break
            if isinstance(body.get("errinfo"), dict):
                errinfo = body["errinfo"]
            txnid = body.get("txnid") or errinfo.get("api_call_txnid")
            txnid = txnid if isinstance(txnid, str) else None
        elif response.text.strip():
            message = " ".join(response.text.split())[:200]
        if message:
            message = self._redact(message)
        common: dict[str, Any] = {
            "status": status,
            "message": message,
            "txnid": txnid,
            "errinfo": self._redact_json(errinfo),
            "method": method,
            "url": url,
        }
        what = f"{method} {path}"
        if status == 401:
            if self._credentials is None:
                hint = "this needs credentials: set JANITOR_HUB_USERNAME and JANITOR_HUB_TOKEN"
            else:
                hint = (
                    f"user {self._credentials.username!r} was refused even with a fresh token: "
                    "check the token's scopes and the user's access to the namespace"
                )
            return HubAuthError(f"Docker Hub refused {what} (401)", hint=hint, **common)
        if status == 403:
            return HubForbidden(f"Docker Hub forbids {what} (403)", **common)
        if status == 404:
            retired = _RETIRED_HINT if endpoint in _IMAGE_ENDPOINTS else None
            return HubNotFound(f"Docker Hub has no {path} (404)", hint=retired, **common)
        if status == 429:
            return HubRateLimited(
                f"Docker Hub kept refusing {what} with 429 after "
                f"{self._max_rate_limit_waits} waits",
                retry_at=self._limiter.state.reset,
                **common,
            )
        if status >= 500:
            return HubServerError(
                f"Docker Hub failed {what} ({status})", maybe_applied=maybe_applied, **common
            )
        if 300 <= status < 400:
            return HubProtocolError(
                f"Docker Hub redirected {what} ({status})",
                hint="check JANITOR_HUB_URL (use the https:// address Hub answers on)",
                **common,
            )
        return HubError(f"Docker Hub rejected {what} ({status})", **common)

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
        if isinstance(body, dict):
            for key in ("message", "detail", "text"):
                if isinstance(body.get(key), str):
                    return self._redact(body[key])
        return None

    def _repo_path(self, namespace: str, repository: str) -> str:
        ns = _segment(namespace, "namespace")
        repo = _segment(repository, "repository")
        return f"/v2/namespaces/{ns}/repositories/{repo}"
