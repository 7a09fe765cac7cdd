"""RFC 6238 codes, checked against the RFC's own test vectors (SHA-1, 8 digits)."""

from __future__ import annotations

import pytest

from janitor.hub.auth import Credentials
from janitor.hub.totp import totp_code, totp_source

RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of b"12345678901234567890"


@pytest.mark.parametrize(
    ("at", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
    ],
)
def test_rfc_6238_vectors(at: int, code: str) -> None:
    assert totp_code(RFC_SECRET, at=at, digits=8) == code


def test_six_digits_and_spacing_in_the_secret() -> None:
    assert totp_code("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", at=59) == "287082"


def test_source_follows_its_clock_and_hides_the_secret() -> None:
    now = [59.0]
    source = totp_source(RFC_SECRET, clock=lambda: now[0])
    assert source() == "287082"
    now[0] = 1111111109
    assert source() == "081804"
    creds = Credentials("bob", "pw-value", otp=source)
    assert RFC_SECRET not in repr(source) and RFC_SECRET not in repr(creds)


def test_bad_secret() -> None:
    with pytest.raises(ValueError, match="base32"):
        totp_source("not base32 !!")
