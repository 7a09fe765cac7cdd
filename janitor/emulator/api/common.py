"""What every handler shares: the context, Hub-shaped errors, auth checks, paging."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.config import NEVER_PULLED_ZERO, EmulatorConfig
from janitor.emulator.faults import FaultPlan
from janitor.emulator.logins import LoginLockout
from janitor.emulator.model import HubState, StoredNamespace, User
from janitor.emulator.ratelimit import RateLimiter
from janitor.emulator.requestlog import RequestLog
from janitor.emulator.timefmt import format_time
from janitor.emulator.tokens import TokenStore

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10


@dataclass
class EmulatorContext:
    """Everything a running emulator app holds; ``request.app.state.ctx``."""

    state: HubState
    config: EmulatorConfig
    faults: FaultPlan
    log: RequestLog
    tokens: TokenStore
    limiter: RateLimiter
    logins: LoginLockout = field(default_factory=LoginLockout)

    def now(self) -> datetime:
        return self.config.now()

    def time(self, when: datetime | None) -> str | None:
        """A time for an answer; never pulled as ``null`` or the zero time, per config."""
        if when is None:
            return NEVER_PULLED_ZERO if self.config.never_pulled_as == "zero" else None
        return format_time(when, self.config.time_digits)


def ctx_of(request: Request) -> EmulatorContext:
    ctx: EmulatorContext = request.app.state.ctx
    return ctx


class JSONAnswer(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class HubError(Exception):
    """Raised by handlers; answered with a Hub-shaped JSON error.

    The body carries every shape the specs give errors, so each validates where it applies:
    ``message`` + ``txnid`` + ``errinfo`` (the legacy ``ErrorResponse``), ``detail`` + ``message``
    (the newest spec's ``Error``/``error``), plus ``fields``/``text`` for parameter errors.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        operation: str = "",
        errinfo: dict[str, Any] | None = None,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.operation = operation
        self.errinfo = errinfo or {}
        self.fields = fields
        self.headers = headers or {}


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def error_body(
    message: str,
    *,
    operation: str = "",
    username: str = "",
    now: datetime,
    errinfo: dict[str, Any] | None = None,
    fields: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    txnid = str(uuid.uuid4())
    body: dict[str, Any] = {
        "txnid": txnid,
        "message": message,
        "detail": message,
        "errinfo": {
            "api_call_docker_id": username,
            "api_call_name": operation,
            "api_call_start": format_time(now),
            "api_call_txnid": txnid,
            **(errinfo or {}),
        },
    }
    if fields is not None:
        body["fields"] = fields
        body["text"] = message
    return body


def error_answer(request: Request, exc: HubError) -> Response:
    ctx = ctx_of(request)
    principal = request.scope.get("janitor.principal")
    body = error_body(
        exc.message,
        operation=exc.operation,
        username=principal.username if isinstance(principal, Principal) else "",
        now=ctx.now(),
        errinfo=exc.errinfo,
        fields=exc.fields,
    )
    return JSONAnswer(body, status_code=exc.status, headers=exc.headers)


# -- auth ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Principal:
    username: str
    from_pat: bool


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <t>`` (or ``JWT <t>``); None without one."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", "jwt") or not token.strip():
        return None
    return token.strip()


def authenticate(request: Request, *, operation: str, required: bool) -> Principal | None:
    """Who is calling. A present but unknown or expired token is always a 401; no token is a
    401 only when ``required``."""
    ctx = ctx_of(request)
    header = request.headers.get("authorization")
    token = bearer_token(header)
    if header and token is None:
        raise HubError(
            401, "Invalid authorization header: use 'Bearer <token>'", operation=operation
        )
    if token is None:
        if required:
            raise HubError(
                401, "Authentication credentials were not provided.", operation=operation
            )
        return None
    info = ctx.tokens.lookup(token, ctx.now())
    if info is None:
        raise HubError(401, "Token is invalid or expired.", operation=operation)
    user = ctx.state.user(info.username)
    if user is None:
        raise HubError(401, "Token is invalid or expired.", operation=operation)
    principal = Principal(info.username, info.from_pat)
    request.scope["janitor.principal"] = principal
    return principal


def user_of(request: Request, principal: Principal | None) -> User | None:
    return None if principal is None else ctx_of(request).state.user(principal.username)


def can_access(request: Request, principal: Principal | None, namespace: str) -> bool:
    user = user_of(request, principal)
    return user is not None and user.can_access(namespace)


def image_namespace(
    request: Request, namespace: str, *, operation: str
) -> tuple[Principal, StoredNamespace]:
    """The checks every image-management endpoint starts with, in Hub's order: the API is gone
    (404), no or bad token (401), no read access to the namespace (401), no feature (403)."""
    ctx = ctx_of(request)
    ns = ctx.state.namespace(namespace)
    if ns is not None and ns.image_management == "gone":
        raise HubError(404, "Not Found: this API is no longer available", operation=operation)
    principal = authenticate(request, operation=operation, required=True)
    assert principal is not None
    if not can_access(request, principal, namespace):
        raise HubError(401, "user does not have read access to the namespace", operation=operation)
    if ns is None:
        ns = StoredNamespace(namespace)  # the caller's own, still empty namespace
    if ns.image_management is False:
        raise HubError(
            403, "this API is only available to users on Pro or Team plans", operation=operation
        )
    return principal, ns


# -- query parameters and paging -------------------------------------------------------------------


def int_param(
    request: Request, name: str, default: int, *, low: int, high: int | None, operation: str
) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        message = f"Invalid {name} {raw!r}: must be an integer {bounds}"
        raise HubError(400, message, operation=operation, fields={name: [message]})
    return value


def choice_param(
    request: Request, name: str, choices: tuple[str, ...], *, operation: str
) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw not in choices:
        message = f"Invalid {name} value. Must be one of: {', '.join(choices)}"
        raise HubError(400, message, operation=operation, fields={name: [message]})
    return raw


def page_params(request: Request, *, operation: str) -> tuple[int, int]:
    """``page`` and ``page_size``; a ``page_size`` above 100 is refused, or (``cap``, as Hub
    does) silently served as 100."""
    page = int_param(request, "page", 1, low=1, high=None, operation=operation)
    capped = ctx_of(request).config.page_size_above_max == "cap"
    size = int_param(
        request,
        "page_size",
        DEFAULT_PAGE_SIZE,
        low=1,
        high=None if capped else MAX_PAGE_SIZE,
        operation=operation,
    )
    return page, min(size, MAX_PAGE_SIZE)


def page_url(request: Request, page: int) -> str:
    """This request's URL with ``page`` replaced, absolute, on the public base if configured."""
    ctx = ctx_of(request)
    base = ctx.config.public_base_url or f"{request.url.scheme}://{request.url.netloc}"
    items = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
    items.append(("page", str(page)))
    return f"{base}{request.url.path}?{urlencode(items)}"


def paginate(
    request: Request, items: list[Any], *, operation: str
) -> tuple[list[Any], dict[str, Any]]:
    """Slice ``items`` for this request's page; the page's ``count``/``next``/``previous``.

    A page past the end answers 404, as Hub's (Django REST framework) pagination does; page 1 of
    nothing is an empty 200.
    """
    page, size = page_params(request, operation=operation)
    total = len(items)
    start = (page - 1) * size
    if page > 1 and start >= total:
        raise HubError(404, "Invalid page.", operation=operation)
    chunk = items[start : start + size]
    ctx = ctx_of(request)
    if page > 1 and ctx.faults.take(request.method, request.url.path, ("repeat_page",)):
        chunk = items[start - size : start]
    if chunk and ctx.faults.take(request.method, request.url.path, ("drop_row",)):
        chunk = chunk[1:]
    last = start + size >= total
    next_url = None if last else page_url(request, page + 1)
    if last:
        fault = ctx.faults.take(request.method, request.url.path, ("next_404",))
        if fault is not None:
            next_url = page_url(request, page + 1)
    meta = {
        "count": total,
        "next": next_url,
        "previous": page_url(request, page - 1) if page > 1 else None,
    }
    return chunk, meta
