"""The emulator as an ASGI app: Hub's routes behind a pipeline that logs every request, applies
the rate limit and fires injected faults.

Order per (non-admin) request: read the body, add ``latency``, count it against the caller's
rate-limit window (429 past the limit), fire the first matching pipeline fault, run the handler,
add the ``X-RateLimit-*`` headers, log it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from janitor.emulator.api import (
    admin,
    auth,
    delete,
    images,
    manifests,
    registry,
    repositories,
    repository_info,
    tags_delete,
)
from janitor.emulator.api.common import (
    EmulatorContext,
    HubError,
    JSONAnswer,
    bearer_token,
    error_answer,
    error_body,
    status_phrase,
)
from janitor.emulator.config import EmulatorConfig
from janitor.emulator.faults import PIPELINE_KINDS, Fault, FaultPlan, echo_body
from janitor.emulator.model import HubState
from janitor.emulator.ratelimit import RateDecision, RateLimiter
from janitor.emulator.registry_auth import REGISTRY_PREFIX, TOKEN_PATH, RegistryTokens
from janitor.emulator.requestlog import LoggedRequest, RequestLog, mask_secrets
from janitor.emulator.tokens import TokenStore

ADMIN_PREFIX = "/_emulator"
NS = "/v2/namespaces/{namespace}"
REPO = NS + "/repositories/{repository}"
# What a "malformed" fault answers: a listing cut off mid-way.
TRUNCATED_JSON = b'{"count": 3, "next": null, "previous": null, "results": [{"namespace": "'


class DroppedConnection(ConnectionError):
    """Raised where the server gives no transport to close (e.g. under httpx.ASGITransport)."""


class EmulatorApp(Starlette):
    """Starlette with the emulator's pipeline in front of the routes (see the module doc)."""

    ctx: EmulatorContext

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await super().__call__(scope, receive, send)
            return
        await self._pipeline(scope, receive, send)

    async def _pipeline(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = self.ctx
        arrived = time.time()
        method: str = scope["method"]
        path: str = scope["path"]
        body = await _read_body(receive)
        replay = _replay(body, receive)
        status = 0
        logged = False
        extra_headers: list[tuple[bytes, bytes]] = []

        def log() -> None:
            nonlocal logged
            if not logged:
                logged = True
                ctx.log.append(
                    LoggedRequest(
                        method=method,
                        path=path,
                        query=dict(parse_qsl(scope["query_string"].decode("latin-1"), True)),
                        json=_logged_json(body),
                        status=status,
                        at=arrived,
                    )
                )

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if extra_headers:
                    message = {**message, "headers": [*message.get("headers", []), *extra_headers]}
                # Before the headers leave: an answer without a body (HEAD, 202, 204) is complete
                # for the client as soon as they arrive, and it must find the entry then.
                log()
            await send(message)

        try:
            if ctx.config.latency and await _wait_or_disconnect(ctx.config.latency, receive):
                return
            limit = ctx.config.rate_limit
            if limit is not None:
                decision = ctx.limiter.hit(
                    _caller(scope),
                    now=ctx.now().timestamp(),
                    limit=limit,
                    window=ctx.config.rate_window,
                )
                extra_headers.extend(self._rate_headers(decision))
                if not decision.allowed:
                    await self._error(scope, replay, answer, 429, "Rate limit exceeded")
                    return
            fault = ctx.faults.take(method, path, PIPELINE_KINDS)
            if fault is not None and await self._fire(
                fault, scope, replay, receive, send, answer, extra_headers, body
            ):
                return
            await super().__call__(scope, replay, answer)
        except asyncio.CancelledError:
            # The server is shutting down with this request in flight (a slow fault, say): hang
            # up on the client rather than have uvicorn answer 500 and log a traceback.
            if status == 0 and _hang_up(send):
                return
            raise
        finally:
            log()

    def _rate_headers(self, decision: RateDecision) -> list[tuple[bytes, bytes]]:
        reset = str(int(-(-decision.reset // 1))).encode()  # ceil: the window's end, unix seconds
        headers = [
            (b"x-ratelimit-limit", str(decision.limit).encode()),
            (b"x-ratelimit-remaining", str(decision.remaining).encode()),
            (b"x-ratelimit-reset", reset),
        ]
        if not decision.allowed:
            style = self.ctx.config.retry_after_style
            if style in ("x-retry-after", "both"):
                headers.append((b"x-retry-after", reset))
            if style in ("retry-after", "both"):
                headers.append((b"retry-after", str(decision.retry_after).encode()))
        return headers

    async def _error(
        self, scope: Scope, receive: Receive, send: Send, status: int, message: str
    ) -> None:
        body = error_body(message, now=self.ctx.now())
        await JSONAnswer(body, status_code=status)(scope, receive, send)

    async def _fire(
        self,
        fault: Fault,
        scope: Scope,
        receive: Receive,
        raw_receive: Receive,
        raw_send: Send,
        send: Send,
        extra_headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> bool:
        """Act out a pipeline fault. True when it answered (or dropped) the request itself."""
        if fault.kind == "echo":
            echoed = echo_body(scope["method"], scope["path"], scope.get("headers", []), body)
            await JSONAnswer(echoed, status_code=fault.status)(scope, receive, send)
            return True
        if fault.kind == "slow":
            # A client that gives up waiting gets no answer; the request ends with it.
            return await _wait_or_disconnect(fault.delay, raw_receive)
        if fault.kind == "drop":
            if not _hang_up(raw_send):
                raise DroppedConnection("fault: connection dropped")
            return True
        if fault.kind == "malformed":
            await Response(TRUNCATED_JSON, status_code=200, media_type="application/json")(
                scope, receive, send
            )
            return True
        if fault.kind == "rate_limit":
            config = self.ctx.config
            decision = self.ctx.limiter.exhausted(
                now=self.ctx.now().timestamp(), limit=config.rate_limit, window=config.rate_window
            )
            extra_headers[:] = self._rate_headers(decision)
            await self._error(scope, receive, send, 429, "Rate limit exceeded")
            return True
        await self._error(scope, receive, send, fault.status, status_phrase(fault.status))
        return True


def _caller(scope: Scope) -> str:
    """The rate-limit key: the bearer token (hashed), or the client's address."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            token = bearer_token(value.decode("latin-1"))
            if token:
                return "t:" + hashlib.sha256(token.encode()).hexdigest()[:24]
    client = scope.get("client")
    return "a:" + (client[0] if client else "unknown")


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the already-read body once, then defers to the server's."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _wait_or_disconnect(delay: float, receive: Receive) -> bool:
    """Sleep ``delay`` seconds unless the client disconnects first; True if it did.

    ``receive`` must be the server's own, with the request body already read: its next message
    is ``http.disconnect``, whenever that happens.
    """
    sleeper = asyncio.ensure_future(asyncio.sleep(delay))
    listener = asyncio.ensure_future(receive())
    try:
        done, _ = await asyncio.wait({sleeper, listener}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
        listener.cancel()
    return listener in done and listener.result().get("type") == "http.disconnect"


def _logged_json(body: bytes) -> object | None:
    if not body:
        return None
    try:
        return mask_secrets(json.loads(body))
    except ValueError:
        return None


def _hang_up(send: Send) -> bool:
    """Close the client's connection without an answer; False where that cannot be done.

    ASGI has no message for that, so this reaches uvicorn's transport through its ``send``
    (a bound method of the request cycle) and tells the cycle it is over, so uvicorn neither
    answers 500 nor logs an error.
    """
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(cycle, "disconnected"):
        return False
    transport.close()
    cycle.disconnected = True
    return True


async def _hub_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HubError)
    return error_answer(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_answer(
        request, HubError(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
    )


def create_app(
    state: HubState, config: EmulatorConfig | None = None, faults: FaultPlan | None = None
) -> EmulatorApp:
    """The emulator app over ``state``. Its runtime parts are on ``app.ctx`` (log, faults, ...)."""
    routes = [
        Route("/v2/auth/token", auth.create_access_token, methods=["POST"]),
        Route("/v2/users/login", auth.users_login, methods=["POST"]),
        Route("/v2/users/2fa-login", auth.users_2fa_login, methods=["POST"]),
        Route(NS + "/repositories", repositories.list_repositories, methods=["GET"]),
        Route(REPO + "/tags", repositories.list_tags, methods=["GET"]),
        Route(
            "/v2/repositories/{namespace}/{repository}/tags",
            repositories.list_tags_legacy,
            methods=["GET"],
        ),
        Route(REPO + "/images", images.list_images, methods=["GET"]),
        Route(REPO + "/images-summary", images.images_summary, methods=["GET"]),
        Route(REPO + "/images/{digest}/tags", images.image_tags, methods=["GET"]),
        Route(NS + "/delete-images", delete.delete_images, methods=["POST"]),
        # The current API, where delete-images is gone: Hub's tag DELETE, the repository read
        # (immutable tags), and the registry (its token service included) under /registry.
        Route(REPO + "/tags/{tag}", tags_delete.delete_tag, methods=["DELETE"]),
        Route(
            "/v2/repositories/{namespace}/{repository}/tags/{tag}/",
            tags_delete.delete_tag_legacy,
            methods=["DELETE"],
        ),
        Route(REPO, repository_info.get_repository, methods=["GET"]),
        Route(REPO + "/manifests", manifests.list_manifests, methods=["GET"]),
        Route(REGISTRY_PREFIX + "/v2/", registry.ping, methods=["GET"]),
        Route(TOKEN_PATH, registry.token, methods=["GET"]),
        Route(
            REGISTRY_PREFIX + "/v2/{name:path}/manifests/{reference}",
            registry.manifest,
            methods=["GET", "HEAD"],
        ),
        Route(
            REGISTRY_PREFIX + "/v2/{name:path}/manifests/{reference}",
            registry.delete_manifest,
            methods=["DELETE"],
        ),
        Route(ADMIN_PREFIX + "/log", admin.get_log, methods=["GET"]),
        Route(ADMIN_PREFIX + "/log", admin.clear_log, methods=["DELETE"]),
        Route(ADMIN_PREFIX + "/faults", admin.add_fault, methods=["POST"]),
        Route(ADMIN_PREFIX + "/faults", admin.list_faults, methods=["GET"]),
        Route(ADMIN_PREFIX + "/faults", admin.clear_faults, methods=["DELETE"]),
        Route(ADMIN_PREFIX + "/state/{namespace}", admin.namespace_state, methods=["GET"]),
    ]
    app = EmulatorApp(
        routes=routes,
        exception_handlers={HubError: _hub_error, HTTPException: _http_error},
    )
    ctx = EmulatorContext(
        state=state,
        config=config or EmulatorConfig(),
        faults=faults if faults is not None else FaultPlan(),
        log=RequestLog(),
        tokens=TokenStore(),
        limiter=RateLimiter(),
    )
    app.ctx = ctx
    app.state.ctx = ctx
    app.state.registry_tokens = RegistryTokens()
    app.state.registry_pulls = registry.PullCounter()
    return app
