"""Password hashing with scrypt (memory-hard, in the standard library) and a strength rule."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from src.application.domain.errors import InvalidParameter

# 2**15 x 8 x 1 costs 32 MiB and tens of milliseconds per guess, the OWASP baseline for scrypt.
N, R, P = 2**15, 8, 1
MIN_LENGTH = 10
MAX_LENGTH = 256
_MAX_MEMORY = 64 * 1024 * 1024


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, N, R, P)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        _, n, r, p, salt, digest = encoded.split("$")
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def check_strength(password: str, email: str) -> None:
    """At least 10 characters, three kinds of character (or 16+ characters), not the email."""
    problems = []
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        problems.append(f"have {MIN_LENGTH} to {MAX_LENGTH} characters")
    kinds = sum(
        any(test(c) for c in password) for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    if kinds < 3 and len(password) < 16:
        problems.append("mix three of lower case, upper case, digits and symbols (or use 16+ characters)")
    local_part = email.split("@")[0].lower()
    if len(local_part) >= 3 and local_part in password.lower():
        problems.append("not contain your email")
    if problems:
        raise InvalidParameter("the password must " + " and ".join(problems), parameter="password")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Verifying against this when an email is unknown makes a failed login take as long either way.
UNKNOWN_USER_HASH = hash_password(secrets.token_urlsafe(16))
