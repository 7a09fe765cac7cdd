"""The ONE HTTP transport under janitor's Docker Hub and registry clients.

``HubClient`` (Hub's API) and ``RegistryClient`` (the registry API) are typed endpoint methods
over one ``Transport``, as httpx layers its client over a transport. Every rule that keeps a run
safe lives here, once:

* **Pacing**: a ``RateLimiter`` fed by every answer's rate-limit headers; one per client.
* **429**: every thread waits until the time the answer names (``X-Retry-After``,
  ``Retry-After``, else ``X-RateLimit-Reset``), never less; a login is never resent before it.
  A wait longer than ``max_wait`` (``JANITOR_MAX_WAIT_SECONDS``) is never started: the call
  fails at once with ``HubRateLimited`` naming the UTC time it may be retried.
* **Retries**: a read (``mode="read"``, and a login) is retried with exponential backoff and
  jitter on 5xx, timeouts, dropped connections and unreadable JSON. A write (``mode="once"``)
  is resent only when it provably was not sent or not applied: a connect error (nothing left
  the machine), a 429, or a 401 answered before its token was renewed (the auth layer resends
  it once). After a timeout, a dropped connection, a 5xx or an unreadable answer it raises with
  ``maybe_applied=True``: the caller re-checks, never repeats.
* **TLS**: a certificate that fails verification is final; asking again cannot help.
* **Deadline and size**: each exchange is read within an overall deadline (httpx's timeouts
  are per read) and under a size cap (counted decompressed). A deadline overrun is a timeout
  (a read retries, a write raises ``maybe_applied``); an answer past the cap is refused. The
  deadline covers the body; a server that drips its status line and headers is bounded only by
  httpx's per-read timeout and h11's header size limit.
* **Redaction**: every secret the client learns (a password, a PAT, tokens, 2FA codes) is
  registered here (with its JSON, URL and HTTP Basic spellings), and every text or JSON value
  from the other side that janitor keeps (error messages, ``errinfo``, ``txnid``, every parsed
  body but the one that issues a token) goes through ``redact`` before it can reach a log, an
  exception or the store; a message is redacted before it is cut to length.
* **Counting**: one ``CallStats`` per client, every request and every retry.
* **Errors**: httpx exceptions and unwanted statuses become the ``errors`` tree, here only.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Self, TypedDict, Unpack
from urllib.parse import quote

import httpx

from janitor.hub.errors import (
    NOT_SENT,
    HubAuthError,
    HubError,
    HubForbidden,
    HubNotFound,
    HubProtocolError,
    HubRateLimited,
    HubServerError,
    map_transport_error,
    safe_url,
)
from janitor.hub.models import CallStats, RateLimitState
from janitor.hub.ratelimit import (
    DEFAULT_MAX_WAIT,
    RateLimiter,
    WaitTooLong,
    backoff_delay,
    retry_wait,
)

__all__ = [
    "DEFAULT_USER_AGENT",
    "Answer",
    "Endpoints",
    "Mode",
    "Options",
    "Transport",
    "check_base_url",
    "loopback",
    "tls_context",
    "untrusted",
]

log = logging.getLogger("janitor.hub")

# read: safe to repeat. once: a state change, repeated only when provably not done.
# login: a login POST: not paced (it runs inside another call's slot), retried like a read.
Mode = Literal["read", "once", "login"]

REDACTED = "<redacted>"
MESSAGE_LIMIT = 300  # characters of the other side's text kept in an error


def _version() -> str:
    try:
        return importlib.metadata.version("docker-hub-janitor")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


DEFAULT_USER_AGENT = f"docker-hub-janitor/{_version()} httpx/{httpx.__version__}"


class Options(TypedDict, total=False):
    """The keyword arguments both clients take and hand to their ``Transport``."""

    timeout: float  # seconds per connect/read/write (httpx's timeouts)
    max_retries: int  # retries of a read after 5xx, timeouts, dropped connections, bad JSON
    verify: bool | str | ssl.SSLContext  # TLS verification: on, a CA bundle path, a context
    transport: httpx.BaseTransport | None  # tests swap the transport, never patch functions
    user_agent: str
    clock: Callable[[], float]  # unix time
    sleep: Callable[[float], None]
    max_wait: float  # the longest wait janitor accepts (JANITOR_MAX_WAIT_SECONDS)
    backoff: float  # the first retry's delay; doubles each time
    max_rate_limit_waits: int  # 429s waited out per call before giving up
    rng: random.Random | None  # jitter
    deadline: float  # seconds one whole exchange may take (default: 4 x timeout)
    max_body: int  # bytes of one answer janitor reads at most


def loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def iso_utc(when: float) -> str:
    """A unix time as ISO 8601 UTC to the second (``2026-12-06T12:00:00Z``)."""
    try:
        moment = datetime.fromtimestamp(when, UTC)
    except (OverflowError, OSError, ValueError):
        return "an unknown time (past the year 9999)"
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def check_base_url(base_url: str, what: str) -> httpx.URL:
    """A client's base URL: http(s)://host[:port][/path], nothing that could hide a secret."""
    url = httpx.URL(base_url.strip())
    if url.scheme not in ("http", "https") or not url.host:
        shown = safe_url(base_url.strip()) or ""
        raise ValueError(f"the {what} URL must be http(s)://host[:port], not {shown!r}")
    if url.query or url.fragment or url.userinfo:
        raise ValueError(f"the {what} URL must not carry a query, fragment or user info")
    return url


def tls_context(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """``verify`` as httpx takes it: a CA bundle path becomes a context."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


def untrusted(exc: BaseException) -> bool:
    """The server's TLS certificate failed verification: asking again cannot help."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


@dataclass(frozen=True, slots=True)
class Answer:
    """A usable answer: a 2xx, or a status the caller asked to see (``passthrough``).

    ``body`` is the parsed JSON when the caller asked for it (None for an empty body); for a
    non-2xx status it is already redacted."""

    method: str
    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    body: Any = None


Hint = Callable[[int, str], str | None]

MIB = 1024 * 1024
DEFAULT_MAX_BODY = 32 * MIB  # a listing page of 100 rows is well under 1 MiB


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(f"{size} bytes")


class _TooSlow(httpx.ReadTimeout):
    """The whole answer did not arrive within the deadline: a timeout like httpx's own."""

    def __init__(self, deadline: float, request: httpx.Request) -> None:
        super().__init__(f"no complete answer within {deadline:g} s", request=request)


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class Transport:
    """Sends one logical call until it has a usable answer; thread safe.

    ``service`` names the other side in messages ("Docker Hub", "the registry"); ``hint``
    gives a client's advice for a status and endpoint (None: the error's default)."""

    def __init__(
        self,
        *,
        service: str,
        accept: str | None = None,
        hint: Hint | None = None,
        **options: Unpack[Options],
    ) -> None:
        self.service = service
        self.max_retries = max(0, options.get("max_retries", 5))
        self.max_rate_limit_waits = options.get("max_rate_limit_waits", 20)
        self.clock = options.get("clock", time.time)
        self._timeout = options.get("timeout", 30.0)
        self._deadline = options.get("deadline", 4 * self._timeout)
        self._max_body = options.get("max_body", DEFAULT_MAX_BODY)
        self._verify = tls_context(options.get("verify", True))
        self._transport = options.get("transport")
        self._headers = {"User-Agent": options.get("user_agent", DEFAULT_USER_AGENT)}
        if accept is not None:
            self._headers["Accept"] = accept
        self._sleep = options.get("sleep", time.sleep)
        self._max_wait = options.get("max_wait", DEFAULT_MAX_WAIT)
        self._backoff = options.get("backoff", 0.5)
        self._rng = options.get("rng") or random.Random()
        self._hint = hint or (lambda _status, _endpoint: None)
        self.limiter = RateLimiter(clock=self.clock, sleep=self._sleep, max_wait=self._max_wait)
        self._lock = threading.Lock()  # guards _http, _stats, _secrets
        self._http: httpx.Client | None = None
        self._stats = CallStats()
        self._secrets: tuple[str, ...] = ()  # longest first, so no secret is cut by another

    # -- lifecycle: connections open on first use and reopen after close() -------------------

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=httpx.Timeout(self._timeout),
                    verify=self._verify,
                    transport=self._transport,
                    follow_redirects=False,
                    headers=self._headers,
                )
            return self._http

    def close(self) -> None:
        with self._lock:
            http, self._http = self._http, None
        if http is not None:
            http.close()

    # -- what the client reads ----------------------------------------------------------------

    @property
    def stats(self) -> CallStats:
        with self._lock:
            return self._stats.snapshot()

    @property
    def rate_limit(self) -> RateLimitState:
        return self.limiter.state

    def count(self, endpoint: str, *, rate_limited: bool = False, retry: bool = False) -> None:
        with self._lock:
            self._stats.record(endpoint, rate_limited=rate_limited, retry=retry)

    # -- secrets ------------------------------------------------------------------------------

    def add_secret(self, value: str) -> None:
        """Never show ``value``, nor its spellings in JSON and in a URL."""
        if not value or len(value) < 4:
            return
        forms = {value, json.dumps(value)[1:-1], quote(value, safe="")}
        with self._lock:
            known = set(self._secrets) | forms
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def add_credentials(self, username: str, secret: str) -> None:
        """Never show ``secret``, nor the HTTP Basic header that carries it with ``username``."""
        self.add_secret(secret)
        self.add_secret(base64.b64encode(f"{username}:{secret}".encode()).decode("ascii"))

    def redact(self, text: str) -> str:
        """The other side's text, minus anything janitor knows to be secret."""
        return _redact(text, self._secrets)

    def _may_hold_secret(self, content: bytes) -> bool:
        """Whether a parsed body could hold a secret: one of them in the raw text, or any JSON
        escape (which could spell one out). Most answers have neither, and skip the walk."""
        if b"\\" in content:
            return True
        text = content.decode("utf-8", "replace")
        return any(secret in text for secret in self._secrets)

    def redact_json(self, value: Any) -> Any:
        """A parsed JSON value with every string (keys included) redacted."""
        secrets = self._secrets  # one snapshot for the whole value (replaced, never mutated)
        if not secrets:
            return value

        def walk(item: Any) -> Any:
            if isinstance(item, str):
                return _redact(item, secrets)
            if isinstance(item, dict):
                return {_redact(str(k), secrets): walk(v) for k, v in item.items()}
            if isinstance(item, list):
                return [walk(v) for v in item]
            return item

        return walk(value)

    # -- one logical call ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        mode: Mode = "read",
        params: Mapping[str, str | list[str]] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        passthrough: Collection[int] = (),
        parse_json: bool = True,
        issues_secret: bool = False,
    ) -> Answer:
        """Send until there is a usable answer (2xx or ``passthrough``); raise the error tree
        otherwise. With ``parse_json`` a 2xx body that is not JSON counts as a failed answer.
        The parsed body is redacted, except a 2xx that ``issues_secret`` (a login's or a token
        service's answer, which carries the new token itself)."""
        attempt = 0
        waits = 0
        paced = mode != "login"
        path = httpx.URL(url).path
        what = f"{method} {path}"
        while True:
            if paced:
                try:
                    self.limiter.acquire()
                except WaitTooLong as exc:
                    raise self._too_long(method, url, exc.until, exc.why) from None
            started = time.perf_counter()
            try:
                response = self._fetch(
                    method, url, params=params, json_body=json_body, headers=headers, auth=auth
                )
            except _TooLarge as exc:
                if paced:
                    self.limiter.release()
                self.count(endpoint)
                raise HubProtocolError(
                    f"{self.service}'s answer to {what} is larger than janitor reads "
                    f"({exc.size / MIB:.1f} MiB; at most {self._max_body / MIB:.0f} MiB)",
                    method=method,
                    url=url,
                    maybe_applied=mode == "once",
                    hint="check the configured URL; a listing page of 100 rows is far smaller",
                ) from None
            except httpx.TransportError as exc:
                if paced:
                    self.limiter.release()
                self.count(endpoint)
                sent = not isinstance(exc, NOT_SENT)
                log.debug("%s failed: %s", what, type(exc).__name__)
                if (mode == "once" and sent) or attempt >= self.max_retries or untrusted(exc):
                    raise map_transport_error(
                        exc,
                        method=method,
                        url=url,
                        maybe_applied=mode == "once" and sent,
                        redact=self.redact,
                    ) from None
                attempt += 1
                self._retry(what, endpoint, attempt, f"failed ({type(exc).__name__})", None)
                continue
            except BaseException:
                if paced:
                    self.limiter.release()
                raise
            elapsed = (time.perf_counter() - started) * 1000
            status = response.status_code
            if paced:
                self.limiter.observe(response.headers)
            self.count(endpoint, rate_limited=status == 429)
            log.debug("%s %d %.0f ms", what, status, elapsed)

            if status == 429:
                if waits >= self.max_rate_limit_waits:
                    raise self.error(method, url, endpoint, response)
                waits += 1
                self._wait_out_429(method, url, endpoint, response, sleep_here=not paced)
                continue
            if status >= 500:
                if mode == "once" or attempt >= self.max_retries:
                    raise self.error(method, url, endpoint, response, maybe_applied=mode == "once")
                attempt += 1
                self._retry(what, endpoint, attempt, f"answered {status}", response)
                continue
            if not (200 <= status < 300 or status in passthrough):
                raise self.error(method, url, endpoint, response)
            body: Any = None
            if parse_json and response.content.strip():
                try:
                    body = json.loads(response.content)
                except ValueError:
                    if not 200 <= status < 300:
                        body = None
                    elif mode == "once" or attempt >= self.max_retries:
                        raise HubProtocolError(
                            f"{self.service}'s answer to {what} is not valid JSON",
                            status=status,
                            method=method,
                            url=url,
                            maybe_applied=mode == "once",
                        ) from None
                    else:
                        attempt += 1
                        self._retry(what, endpoint, attempt, "answered unreadable JSON", None)
                        continue
            keeps_secret = (issues_secret or mode == "login") and 200 <= status < 300
            if not keeps_secret and self._may_hold_secret(response.content):
                body = self.redact_json(body)
            return Answer(
                method=method,
                url=str(response.url),
                status=status,
                headers=response.headers,
                content=response.content,
                body=body,
            )

    def _fetch(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | list[str]] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
        auth: httpx.Auth | None,
    ) -> httpx.Response:
        """One HTTP exchange, its body read whole within the deadline and the size cap (httpx's
        timeouts are per read: a body that drips a byte a second never trips them)."""
        client = self._client()
        request = client.build_request(method, url, params=params, json=json_body, headers=headers)
        deadline = time.monotonic() + self._deadline
        response = client.send(request, auth=auth, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_body:
                raise _TooLarge(int(declared))
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():  # decoded: a compressed bomb counts in full
                size += len(chunk)
                if size > self._max_body:
                    raise _TooLarge(size)
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise _TooSlow(self._deadline, request)
            if time.monotonic() > deadline:
                raise _TooSlow(self._deadline, request)
            response._content = b"".join(chunks)  # what httpx's own read() sets
        finally:
            response.close()
        return response

    def _retry(
        self, what: str, endpoint: str, attempt: int, why: str, response: httpx.Response | None
    ) -> None:
        now = self.clock()
        delay = backoff_delay(
            attempt,
            base=self._backoff,
            max_wait=self._max_wait,
            rng=self._rng,
            now=now,
            headers=response.headers if response is not None else None,
        )
        if delay > self._max_wait:
            assert response is not None  # only an answer's Retry-After asks for that long
            request = response.request
            raise self._too_long(request.method, str(request.url), now + delay, f"it {why}")
        log.info("%s %s; retry %d of %d in %.1f s", what, why, attempt, self.max_retries, delay)
        self.count(endpoint, retry=True)
        self._sleep(delay)

    def _wait_out_429(
        self, method: str, url: str, endpoint: str, response: httpx.Response, *, sleep_here: bool
    ) -> None:
        """Every thread waits until the retry time the answer names, never less (a login sent
        early can lock the account out, docker/hub-feedback#2201); past ``max_wait`` the call
        fails at once, naming that time. Paced calls wait in the limiter's ``acquire()``,
        login calls (not paced) here."""
        now = self.clock()
        wait = retry_wait(response.headers, now)
        if wait is None:
            reset = response.headers.get("x-ratelimit-reset")
            try:
                wait = float(reset) - now if reset else None
            except ValueError:
                wait = None
        if wait is None or wait <= 0:
            wait = backoff_delay(
                1, base=self._backoff, max_wait=self._max_wait, rng=self._rng, now=now
            )
        if wait > self._max_wait:
            self.count(endpoint, retry=True)
            raise self._too_long(method, url, now + wait, "it answered 429")
        jitter = self._rng.uniform(0, min(1.0, 0.1 * wait + 0.05))
        wait = min(wait + jitter, max(wait, self._max_wait))
        log.info(
            "%s rate limit hit (%s): waiting %.1f s before retrying", self.service, endpoint, wait
        )
        self.count(endpoint, retry=True)
        self.limiter.block_until(now + wait)
        if sleep_here:
            self._sleep(wait)

    def _too_long(self, method: str, url: str, until: float, why: str) -> HubRateLimited:
        """The call fails at once: the other side asks for a longer wait than janitor accepts."""
        when = iso_utc(until)
        service = self.service[0].upper() + self.service[1:]
        return HubRateLimited(
            f"{service} asks janitor to wait until {when} ({until - self.clock():.0f} s) before "
            f"{method} {httpx.URL(url).path}, as {why}; that is longer than "
            f"JANITOR_MAX_WAIT_SECONDS ({self._max_wait:.0f} s)",
            retry_at=until,
            method=method,
            url=url,
            status=429,
            hint=f"try again after {when}",
        )

    # -- the error tree -----------------------------------------------------------------------

    def message(self, content: bytes) -> str | None:
        """The other side's own words, one line, redacted: a registry's ``errors[]``
        (``code: message``), else Hub's ``message``/``detail``/``details``/``text``, else the
        text itself. Redacted before it is cut, so no part of a secret survives the cut."""
        text = ""
        try:
            body: Any = json.loads(content) if content.strip() else None
        except ValueError:
            body = None
            text = content.decode("utf-8", "replace")
        if isinstance(body, dict):
            errors = body.get("errors")
            if isinstance(errors, list):
                text = "; ".join(
                    f"{e.get('code', '?')}: {e.get('message', '')}"
                    for e in errors
                    if isinstance(e, dict)
                )
            for key in ("message", "detail", "details", "text"):
                if not text and isinstance(body.get(key), str):
                    text = body[key]
        text = " ".join(self.redact(text).split())
        return text[:MESSAGE_LIMIT] or None

    def error(
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
        txnid = None
        errinfo: dict[str, Any] = {}
        try:
            body = json.loads(response.content) if response.content.strip() else None
        except ValueError:
            body = None
        if isinstance(body, dict):
            if isinstance(body.get("errinfo"), dict):
                errinfo = body["errinfo"]
            found = body.get("txnid") or errinfo.get("api_call_txnid")
            txnid = self.redact(found) if isinstance(found, str) else None
        common: dict[str, Any] = {
            "status": status,
            "message": self.message(response.content),
            "txnid": txnid,
            "errinfo": self.redact_json(errinfo),
            "method": method,
            "url": url,
            "hint": self._hint(status, endpoint),
        }
        what = f"{method} {path}"
        service = self.service[0].upper() + self.service[1:]
        if status == 401:
            return HubAuthError(f"{service} refused {what} (401)", **common)
        if status == 403:
            return HubForbidden(f"{service} forbids {what} (403)", **common)
        if status == 404:
            return HubNotFound(f"{service} has no {path} (404)", **common)
        if status == 429:
            return HubRateLimited(
                f"{service} kept refusing {what} with 429 after {self.max_rate_limit_waits} waits",
                retry_at=self.limiter.state.reset,
                **common,
            )
        if status >= 500:
            return HubServerError(
                f"{service} failed {what} ({status})", maybe_applied=maybe_applied, **common
            )
        if 300 <= status < 400:
            common["hint"] = common["hint"] or "check the configured URL (the https:// address)"
            return HubProtocolError(f"{service} redirected {what} ({status})", **common)
        return HubError(f"{service} rejected {what} ({status})", **common)


class Endpoints:
    """What both clients share around their ``Transport``: closing (connections reopen when
    used again), the context manager, and the call counts."""

    _transport: Transport

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def stats(self) -> CallStats:
        return self._transport.stats

    @property
    def rate_limit(self) -> RateLimitState:
        """The rate-limit headers of the latest answer that had any."""
        return self._transport.rate_limit
