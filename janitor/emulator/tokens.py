"""Bearer tokens the emulator hands out: JWT-looking, opaque, looked up server-side.

A token remembers who it is for, whether it was made from a personal access token (the older
``/v2/repositories/...`` paths refuse those, with 403) and when it expires (the emulator's clock).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

TokenKind = Literal["access", "2fa"]
TWO_FACTOR_TTL = 300.0  # seconds a login_2fa_token stays usable


@dataclass(frozen=True, slots=True)
class TokenInfo:
    username: str
    from_pat: bool
    expires_at: datetime
    kind: TokenKind = "access"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenInfo] = {}

    def issue(
        self,
        username: str,
        *,
        from_pat: bool,
        now: datetime,
        ttl: float,
        kind: TokenKind = "access",
    ) -> str:
        expires = now + timedelta(seconds=ttl)
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(
            json.dumps(
                {
                    "sub": username,
                    "iat": int(now.timestamp()),
                    "exp": int(expires.timestamp()),
                    "jti": secrets.token_hex(8),
                    "typ": kind,
                }
            ).encode()
        )
        token = f"{header}.{payload}.{_b64(secrets.token_bytes(32))}"
        with self._lock:
            self._prune(now)
            self._tokens[token] = TokenInfo(username, from_pat, expires, kind)
        return token

    def lookup(self, token: str, now: datetime, kind: TokenKind = "access") -> TokenInfo | None:
        """The token's info while it is valid and of ``kind``; None otherwise."""
        with self._lock:
            info = self._tokens.get(token)
        if info is None or info.kind != kind or now >= info.expires_at:
            return None
        return info

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def _prune(self, now: datetime) -> None:
        if len(self._tokens) > 1000:
            for token in [t for t, i in self._tokens.items() if now >= i.expires_at]:
                del self._tokens[token]
