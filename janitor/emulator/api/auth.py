"""``POST /v2/auth/token``, ``/v2/users/login`` and ``/v2/users/2fa-login``.

Where the docs are silent: a password on a 2FA account gets a 401 from ``/v2/auth/token`` (only a
personal access token works there); a personal access token logs in without the second factor
(as ``docker login`` with a PAT does); a wrong 2FA code leaves the ``login_2fa_token`` usable until
it expires (5 minutes), a right one spends it.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from janitor.emulator.api.common import EmulatorContext, HubError, JSONAnswer, ctx_of
from janitor.emulator.logins import retry_headers
from janitor.emulator.tokens import TWO_FACTOR_TTL

BAD_CREDENTIALS = "Incorrect authentication credentials"
SECOND_FACTOR = "Require secondary authentication on MFA enabled account"


async def json_object(
    request: Request, *, operation: str, required: tuple[str, ...]
) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise HubError(400, "The request body must be a JSON object", operation=operation)
    missing = [k for k in required if not isinstance(body.get(k), str) or not body.get(k)]
    if missing:
        message = f"Missing or invalid field(s): {', '.join(missing)}"
        raise HubError(
            400,
            message,
            operation=operation,
            fields={k: ["This field is required."] for k in missing},
        )
    return body


def admit_login(ctx: EmulatorContext, username: str, operation: str) -> None:
    """Count a login of ``username``; a 429 naming when to come back while it is locked out."""
    limit = ctx.config.login_limit
    if limit is None:
        return
    now = ctx.now().timestamp()
    until = ctx.logins.admit(
        username,
        now=now,
        limit=limit,
        window=ctx.config.login_window,
        lockout=ctx.config.login_lockout,
    )
    if until is not None:
        raise HubError(
            429,
            "Too many login attempts: this username is locked out, try again later",
            operation=operation,
            headers=retry_headers(until, now),
        )


def _login_failure(detail: str, **extra: str) -> Response:
    return JSONAnswer({"detail": detail, **extra}, status_code=401)


async def create_access_token(request: Request) -> Response:
    """``POST /v2/auth/token`` {identifier, secret} -> {access_token}."""
    operation = "AuthCreateAccessToken"
    ctx = ctx_of(request)
    body = await json_object(request, operation=operation, required=("identifier", "secret"))
    admit_login(ctx, body["identifier"], operation)
    found = ctx.state.check_credentials(body["identifier"], body["secret"])
    if found is None:
        raise HubError(401, BAD_CREDENTIALS, operation=operation)
    user, kind = found
    if kind == "password" and user.two_factor:
        raise HubError(
            401,
            "Two-factor authentication is enabled: use a personal access token as the secret",
            operation=operation,
        )
    token = ctx.tokens.issue(
        user.username, from_pat=kind == "pat", now=ctx.now(), ttl=ctx.config.token_ttl
    )
    return JSONAnswer({"access_token": token})


async def users_login(request: Request) -> Response:
    """``POST /v2/users/login`` {username, password} -> {token}, or the 2FA challenge."""
    ctx = ctx_of(request)
    body = await json_object(request, operation="PostUsersLogin", required=("username", "password"))
    admit_login(ctx, body["username"], "PostUsersLogin")
    found = ctx.state.check_credentials(body["username"], body["password"])
    if found is None:
        return _login_failure(BAD_CREDENTIALS)
    user, kind = found
    now = ctx.now()
    if kind == "password" and user.two_factor:
        challenge = ctx.tokens.issue(
            user.username, from_pat=False, now=now, ttl=TWO_FACTOR_TTL, kind="2fa"
        )
        return _login_failure(SECOND_FACTOR, login_2fa_token=challenge)
    token = ctx.tokens.issue(
        user.username, from_pat=kind == "pat", now=now, ttl=ctx.config.token_ttl
    )
    return JSONAnswer({"token": token})


async def users_2fa_login(request: Request) -> Response:
    """``POST /v2/users/2fa-login`` {login_2fa_token, code} -> {token}."""
    ctx = ctx_of(request)
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        body["code"] = str(body["code"])  # the docs' sample sends a number
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) and body[k] for k in ("login_2fa_token", "code")
    ):
        raise HubError(
            400, "Missing or invalid field(s): login_2fa_token, code", operation="PostUsers2FALogin"
        )
    now = ctx.now()
    challenge = body["login_2fa_token"]
    info = ctx.tokens.lookup(challenge, now, kind="2fa")
    user = ctx.state.user(info.username) if info else None
    if info is None or user is None or user.otp is None:
        return _login_failure(BAD_CREDENTIALS)
    if not hmac.compare_digest(user.otp.encode(), body["code"].strip().encode()):
        return _login_failure(BAD_CREDENTIALS)
    ctx.tokens.revoke(challenge)
    token = ctx.tokens.issue(user.username, from_pat=False, now=now, ttl=ctx.config.token_ttl)
    return JSONAnswer({"token": token})
