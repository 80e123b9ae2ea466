"""Slow salted password hashes (contract section 8): scrypt from the standard library.

The stored form is PHC-like: ``$scrypt$ln=14,r=8,p=1$<salt, base64>$<hash, base64>``; the
parameters travel with the hash, so they can be raised later without invalidating old hashes.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

_LOG2_N = 14
_R = 8
_P = 1
_DKLEN = 32
_SALT_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int, dklen: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=2 * 128 * r * n + (1 << 20)
    )


def hash_password(password: str) -> str:
    """Return a new salted scrypt hash of ``password`` in the PHC-like string form."""
    if not isinstance(password, str):
        raise TypeError("password must be a str")
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(password, salt, _LOG2_N, _R, _P, _DKLEN)
    return f"$scrypt$ln={_LOG2_N},r={_R},p={_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, password_hash: str) -> bool:
    """True when ``password`` matches ``password_hash`` (constant-time comparison).

    A malformed hash never matches; it does not raise.
    """
    try:
        _, scheme, params, salt_text, digest_text = password_hash.split("$")
        if scheme != "scrypt":
            return False
        values = dict(item.split("=", 1) for item in params.split(","))
        log2_n, r, p = int(values["ln"]), int(values["r"]), int(values["p"])
        if not (1 <= log2_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16):
            return False
        salt, expected = _unb64(salt_text), _unb64(digest_text)
    except (ValueError, KeyError, AttributeError):
        return False
    actual = _scrypt(password, salt, log2_n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)
