"""The emulated registry's auth: its 401 challenge, its token service's grants, its tokens.

The flow is Docker's (``registry-auth.md``): a request without a usable token gets ``401`` and
``WWW-Authenticate: Bearer realm="<token service>",service="...",scope="repository:NAME:ACTIONS"``;
the client asks the realm for a token with ``GET ?service=...&scope=...`` and Basic auth
(username + password or personal access token); the token service grants the *intersection* of
the actions asked for and the actions the caller has (never an error for a subset, not even an
empty one), and the token carries that grant in its ``access`` claim, as Docker Hub's JWTs do.

Rights: a user may ``pull``, ``push`` and ``delete`` in the namespaces they can access (never in
``library``); anyone, even anonymous, may ``pull`` a public repository.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from janitor.emulator.model import LIBRARY, HubState, User

REGISTRY_PREFIX = "/registry"
TOKEN_PATH = REGISTRY_PREFIX + "/token"
ACTIONS = ("pull", "push", "delete")
ISSUER = "janitor-emulator"


@dataclass(frozen=True, slots=True)
class RegistryGrant:
    """What one registry token allows: actions per repository name, until ``expires_at``."""

    subject: str | None  # None: an anonymous token
    access: Mapping[str, frozenset[str]]
    expires_at: datetime

    def allows(self, name: str, action: str) -> bool:
        return action in self.access.get(name, frozenset())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class RegistryTokens:
    """Tokens the token service issued; looked up server-side (the signature is random bytes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grants: dict[str, RegistryGrant] = {}

    def issue(
        self,
        subject: str | None,
        access: Mapping[str, frozenset[str]],
        *,
        now: datetime,
        ttl: float,
        audience: str,
    ) -> str:
        expires = now + timedelta(seconds=ttl)
        header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
        claims = {
            "iss": ISSUER,
            "sub": subject or "",
            "aud": audience,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": secrets.token_hex(8),
            "access": [
                {"type": "repository", "name": name, "actions": sorted(actions)}
                for name, actions in sorted(access.items())
            ],
        }
        token = f"{header}.{_b64(json.dumps(claims).encode())}.{_b64(secrets.token_bytes(32))}"
        with self._lock:
            if len(self._grants) > 1000:
                for old in [t for t, g in self._grants.items() if now >= g.expires_at]:
                    del self._grants[old]
            self._grants[token] = RegistryGrant(subject, dict(access), expires)
        return token

    def lookup(self, token: str, now: datetime) -> RegistryGrant | None:
        with self._lock:
            grant = self._grants.get(token)
        if grant is None or now >= grant.expires_at:
            return None
        return grant


def parse_scope(scope: str) -> tuple[str, frozenset[str]] | None:
    """``repository:NAME:pull,push`` -> (NAME, actions); None for anything else."""
    parts = scope.split(":")
    if len(parts) != 3 or parts[0] != "repository" or not parts[1]:
        return None
    actions = frozenset(a for a in parts[2].split(",") if a)
    return parts[1], actions


def split_name(name: str) -> tuple[str, str] | None:
    """``namespace/repository`` -> its two parts; None for any other shape."""
    namespace, sep, repository = name.partition("/")
    if not sep or not namespace or not repository or "/" in repository:
        return None
    return namespace, repository


def rights(state: HubState, user: User | None, name: str) -> frozenset[str]:
    """The actions ``user`` (None: anonymous) has on repository ``name``."""
    parts = split_name(name)
    if parts is None:
        return frozenset()
    namespace, repository = parts
    if user is not None and namespace != LIBRARY and user.can_access(namespace):
        return frozenset(ACTIONS)
    repo = state.repository(namespace, repository)
    if repo is not None and not repo.is_private:
        return frozenset({"pull"})
    return frozenset()


def grant(
    state: HubState, user: User | None, scopes: Iterable[tuple[str, frozenset[str]]]
) -> dict[str, frozenset[str]]:
    """The intersection of what was asked and what the caller has, per repository."""
    access: dict[str, frozenset[str]] = {}
    for name, asked in scopes:
        access[name] = access.get(name, frozenset()) | (asked & rights(state, user, name))
    return access


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(username, secret) of ``Authorization: Basic ...``; None without Basic auth.

    Raises ValueError for a Basic header that cannot be decoded.
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("malformed Basic credentials") from None
    username, sep, secret = decoded.partition(":")
    if not sep or not username:
        raise ValueError("malformed Basic credentials")
    return username, secret


def challenge(
    realm: str, service: str, scope: str | None = None, *, error: str | None = None
) -> str:
    """The ``WWW-Authenticate`` value of a 401 (RFC 6750, as Docker's registry words it)."""
    text = f'Bearer realm="{realm}",service="{service}"'
    if scope:
        text += f',scope="{scope}"'
    if error:
        text += f',error="{error}"'
    return text
