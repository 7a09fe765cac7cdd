"""Time-based one-time passwords (RFC 6238) for ``Credentials.otp``.

Only the deprecated password login asks for a second factor; a personal access token never
does, and is what janitor recommends. For an account that must log in with a password and has
2FA on, ``totp_source(secret)`` turns the authenticator's base32 secret into the code source
Hub's ``/v2/users/2fa-login`` needs. The secret never appears in a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time
from collections.abc import Callable

__all__ = ["TotpSource", "totp_code", "totp_source"]


def _key(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").replace("-", "").upper()
    try:
        return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("the 2FA secret is not valid base32") from None


def totp_code(
    secret: str,
    *,
    at: float | None = None,
    digits: int = 6,
    period: int = 30,
    digest: str = "sha1",
) -> str:
    """The code for unix time ``at`` (now by default), as authenticator apps compute it."""
    counter = int((time.time() if at is None else at) // period)
    mac = hmac.new(_key(secret), struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    number = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


class TotpSource:
    """A callable giving the current code; ``repr()`` hides the secret."""

    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        _key(secret)  # refuse a malformed secret now, not at the first login
        self._secret = secret
        self._clock = clock

    def __call__(self) -> str:
        return totp_code(self._secret, at=self._clock())

    def __repr__(self) -> str:
        return "TotpSource(secret=<hidden>)"


def totp_source(secret: str, *, clock: Callable[[], float] = time.time) -> TotpSource:
    return TotpSource(secret, clock=clock)
