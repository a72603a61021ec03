"""Password hashes: scrypt (memory-hard, in Python's standard library), parameters stored with each hash.

A hash reads `scrypt$N$r$p$salt$key` (salt and key in base64), so the cost can be raised later and
old hashes still verify. The cost (N=2**15, r=8: 32 MiB and tens of milliseconds per try) makes a
stolen database slow to attack and a login slow to brute-force, on top of the login rate limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from berthub.errors import ConfigError

N, R, P = 2**15, 8, 1
KEY_BYTES = 32
MIN_LENGTH = 8
MAX_LENGTH = 1024  # scrypt reads the whole password: bound the work a request can ask for


def check_strength(password: str) -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise ConfigError(f"A password needs {MIN_LENGTH} to {MAX_LENGTH} characters; this one has {len(password)}.")
    return password


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, N, R, P)
    return "$".join(["scrypt", str(N), str(R), str(P), _b64(salt), _b64(key)])


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches `stored`. With no stored hash (unknown user, token-only account) it
    still does the work of one check, so timing tells nothing about which names exist."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        scheme, n, r, p, salt, key = (stored or _DUMMY).split("$")
        expected = base64.b64decode(key)
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:  # a hash in a format we do not know: no password matches it
        return False
    return scheme == "scrypt" and stored is not None and hmac.compare_digest(computed, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p,
                          maxmem=2 * 128 * n * r * p, dklen=KEY_BYTES)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_DUMMY = "$".join(["scrypt", str(N), str(R), str(P), _b64(b"\0" * 16), _b64(b"\0" * KEY_BYTES)])
