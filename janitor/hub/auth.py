"""Logging in to Docker Hub once, sharing the bearer token, renewing it before it expires.

The flow, in the order Hub documents it:

1. ``POST /v2/auth/token`` ``{identifier, secret}`` -> ``access_token`` (10 minutes). The secret
   may be a password, a personal access token or an organization access token (``dckr_oat_...``);
   with an organization access token the identifier is the organization's name (the spec's
   ``identifier``: "If using an organization access token, this must be an organization name"),
   which janitor takes from ``JANITOR_HUB_USERNAME`` and names in the error when a login fails.
2. Where that endpoint does not exist (404/405: an older Hub or a proxy), or refuses a password
   while the credentials carry a 2FA code source (``otp``), the deprecated
   ``POST /v2/users/login`` ``{username, password}`` -> ``token``. When 2FA is on, Hub answers 401
   with ``login_2fa_token``; then ``POST /v2/users/2fa-login`` ``{login_2fa_token, code}`` with a
   code from ``Credentials.otp``.

The endpoint that worked is remembered. Hub locks out a username that logs in too often
(docker/hub-feedback#2201), so: one token for all threads, one login at a time, renewal shortly
before expiry (the JWT's ``exp``, else the documented 10 minutes), at most one renewal per 401
and none for a token that is only seconds old (a fresh token refused means no access, not
expiry), and a refused secret is never tried again by the same client.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx

from janitor.hub.errors import HubAuthError, HubError, HubProtocolError

__all__ = ["Credentials", "HubAuth", "TokenManager", "jwt_claims", "jwt_lifetime", "login_hint"]

log = logging.getLogger("janitor.hub")

DEFAULT_LIFETIME = 600.0  # Hub documents 10 minutes for /v2/auth/token
RENEW_MARGIN = 60.0  # renew this long before expiry (at most a fifth of the lifetime)
RELOGIN_GRACE = 30.0  # a token younger than this that gets a 401 is not renewed

OAT_PREFIX = "dckr_oat_"  # an organization access token (createOrgAccessTokenResponse)

AUTH_TOKEN_PATH = "/v2/auth/token"
LOGIN_PATH = "/v2/users/login"
TWO_FACTOR_PATH = "/v2/users/2fa-login"

# Sends one login POST without authentication (with the client's retries on 5xx and transport
# errors, never on 401) and returns the final status and the parsed JSON body (None if empty).
PostJson = Callable[[str, dict[str, Any]], tuple[int, Any]]


@dataclass(frozen=True, repr=False)
class Credentials:
    """A Docker Hub username and its secret (a personal access token, or a password).

    ``otp`` returns a current 2FA code when Hub asks for one (only the password login does).
    ``repr()``/``str()`` never show the secret.
    """

    username: str
    secret: str = field(compare=False)
    otp: Callable[[], str] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.username, str) or not self.username.strip():
            raise ValueError("Docker Hub credentials need a username (JANITOR_HUB_USERNAME)")
        if not isinstance(self.secret, str) or not self.secret:
            raise ValueError(
                f"Docker Hub credentials for user {self.username!r} have no secret "
                "(JANITOR_HUB_TOKEN or JANITOR_HUB_TOKEN_FILE)"
            )

    @property
    def organization_token(self) -> bool:
        """The secret is an organization access token: ``username`` must be the organization."""
        return self.secret.startswith(OAT_PREFIX)

    def __repr__(self) -> str:
        otp = ", otp=<set>" if self.otp is not None else ""
        return f"Credentials(username={self.username!r}, secret=<hidden>{otp})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Credentials cannot be pickled: they hold a secret")


@dataclass(frozen=True, repr=False)
class Token:
    value: str
    obtained_at: float
    expires_at: float
    renew_at: float
    via: str  # the endpoint that issued it

    def __repr__(self) -> str:
        return f"Token(via={self.via!r}, expires_at={self.expires_at!r})"


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT (unverified: janitor only reads its own token's lifetime and
    grant), None when the token is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None


def _claim_time(claims: dict[str, Any], key: str) -> float | None:
    value = claims.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def jwt_lifetime(token: str, now: float) -> float:
    """Seconds the token stays valid, judged from its own claims where it is a JWT.

    ``exp - iat`` does not depend on the clocks agreeing; ``exp - now`` is the fallback; anything
    unreadable or non-positive means the documented 10 minutes.
    """
    claims = jwt_claims(token)
    if claims is None:
        return DEFAULT_LIFETIME
    exp = _claim_time(claims, "exp")
    iat = _claim_time(claims, "iat")
    if exp is None:
        return DEFAULT_LIFETIME
    lifetime = exp - iat if iat is not None else exp - now
    return lifetime if lifetime > 0 else DEFAULT_LIFETIME


def login_hint(credentials: Credentials) -> str:
    """What to check when Hub or the registry's token service refuses these credentials."""
    if credentials.organization_token:
        return (
            "JANITOR_HUB_TOKEN is an organization access token (dckr_oat_...): it logs in with "
            f"the organization's name as JANITOR_HUB_USERNAME, which is {credentials.username!r}; "
            "check that name, that the token is active and unexpired, and that its resources "
            "and scopes cover the repositories"
        )
    return "check JANITOR_HUB_USERNAME and JANITOR_HUB_TOKEN"


def _detail(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("detail", "details", "message", "text"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return None


class TokenManager:
    """The token cache shared by every request of one client. Thread safe."""

    def __init__(
        self,
        credentials: Credentials,
        post: PostJson,
        *,
        clock: Callable[[], float],
        on_secret: Callable[[str], None] = lambda _value: None,
        relogin_grace: float = RELOGIN_GRACE,
    ) -> None:
        self.credentials = credentials
        self._post = post
        self._clock = clock
        self._on_secret = on_secret
        self._relogin_grace = relogin_grace
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._failure: HubAuthError | None = None
        self.endpoint: str | None = None  # the login path that worked
        self.logins = 0

    def token(self) -> Token:
        """A valid token: the cached one, or one fresh login shared by all waiting threads."""
        with self._lock:
            if self._failure is not None:
                raise self._failure.with_traceback(None)
            now = self._clock()
            if self._token is not None and now < self._token.renew_at:
                return self._token
            try:
                self._token = self._login()
            except HubAuthError as exc:
                self._failure = exc  # never send a refused secret again
                raise
            return self._token

    def renew_after_401(self, refused: Token) -> bool:
        """A request with ``refused`` got a 401: is it worth one retry with a new token?"""
        with self._lock:
            if self._token is not refused:
                return True  # another thread renewed it already (or is about to): use that one
            if self._clock() - refused.obtained_at < self._relogin_grace:
                return False  # a fresh token refused: access, not expiry; never log in again
            log.info("Docker Hub refused the token before its expiry; logging in once more")
            self._token = None
            return True

    # -- the login itself, under the lock -------------------------------------------------

    def _login(self) -> Token:
        user = self.credentials.username
        self._on_secret(self.credentials.secret)
        if self.credentials.organization_token and self.logins == 0:
            log.info("logging in to Docker Hub as organization %r with an access token", user)
        if self.endpoint in (None, AUTH_TOKEN_PATH):
            status, body = self._post(
                AUTH_TOKEN_PATH, {"identifier": user, "secret": self.credentials.secret}
            )
            if status == 200:
                return self._issued(body, ("access_token", "token"), AUTH_TOKEN_PATH)
            if status in (404, 405):
                log.info(
                    "Docker Hub has no %s; logging in with %s instead", AUTH_TOKEN_PATH, LOGIN_PATH
                )
                self.endpoint = LOGIN_PATH
            elif status == 401 and self.credentials.otp is not None:
                # A password with 2FA: /v2/auth/token knows no second factor, the login does.
                log.info("%s refused the password; trying %s with 2FA", AUTH_TOKEN_PATH, LOGIN_PATH)
            else:
                raise self._refused(status, body, AUTH_TOKEN_PATH)
        status, body = self._post(
            LOGIN_PATH, {"username": user, "password": self.credentials.secret}
        )
        if status == 200:
            return self._issued(body, ("token", "access_token"), LOGIN_PATH)
        second = body.get("login_2fa_token") if isinstance(body, dict) else None
        if status != 401 or not isinstance(second, str) or not second:
            raise self._refused(status, body, LOGIN_PATH)
        self._on_secret(second)
        if self.credentials.otp is None:
            raise HubAuthError(
                f"Docker Hub asks for a second factor (2FA) for user {user!r}",
                status=401,
                method="POST",
                url=LOGIN_PATH,
                hint="use a personal access token as JANITOR_HUB_TOKEN (tokens skip 2FA), "
                "or provide a one-time code source",
            )
        code = self.credentials.otp()
        self._on_secret(code)
        status, body = self._post(TWO_FACTOR_PATH, {"login_2fa_token": second, "code": code})
        if status == 200:
            return self._issued(body, ("token", "access_token"), LOGIN_PATH)
        raise self._refused(status, body, TWO_FACTOR_PATH)

    def _issued(self, body: Any, keys: tuple[str, ...], via: str) -> Token:
        value = None
        if isinstance(body, dict):
            value = next((body[k] for k in keys if isinstance(body.get(k), str)), None)
        if not value:
            raise HubProtocolError(
                f"Docker Hub's answer to POST {via} holds no {keys[0]!r}", method="POST", url=via
            )
        self._on_secret(value)
        self.endpoint = via
        self.logins += 1
        now = self._clock()
        lifetime = jwt_lifetime(value, now)
        log.debug("logged in to Docker Hub via %s; token valid for %.0f s", via, lifetime)
        return Token(
            value=value,
            obtained_at=now,
            expires_at=now + lifetime,
            renew_at=now + lifetime - min(RENEW_MARGIN, lifetime / 5),
            via=via,
        )

    def _refused(self, status: int, body: Any, path: str) -> HubError:
        user = self.credentials.username
        detail = _detail(body)
        if status == 401:
            what = "the second factor" if path == TWO_FACTOR_PATH else "the login"
            return HubAuthError(
                f"Docker Hub refused {what} for user {user!r} (401)",
                status=status,
                message=detail,
                method="POST",
                url=path,
                hint="check the one-time code source"
                if path == TWO_FACTOR_PATH
                else login_hint(self.credentials),
            )
        if status in (403, 404, 405):
            return HubAuthError(
                f"Docker Hub would not log in user {user!r} at POST {path} ({status})",
                status=status,
                message=detail,
                method="POST",
                url=path,
                hint=login_hint(self.credentials)
                if self.credentials.organization_token
                else "check JANITOR_HUB_URL points at Docker Hub, and that the account may use "
                "the API (an organisation with SSO needs a personal access token)",
            )
        return HubError(
            f"Docker Hub answered {status} to the login of user {user!r} at POST {path}",
            status=status,
            message=detail,
            method="POST",
            url=path,
        )


class HubAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` on every request; one renewal and retry after a 401."""

    requires_response_body = False  # the status is enough; the transport reads bodies, capped

    def __init__(self, manager: TokenManager) -> None:
        self.manager = manager

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.manager.token()
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code != 401 or not self.manager.renew_after_401(token):
            return
        token = self.manager.token()
        request.headers["Authorization"] = f"Bearer {token.value}"
        yield request
