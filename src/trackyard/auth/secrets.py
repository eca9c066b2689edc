"""Generating, hashing and checking secrets.

Secrets are stored as salted scrypt hashes (memory-hard, standard library)
and compared in constant time. An API secret must also be *found* from the
secret alone (it arrives as a Basic username), so it carries a lookup key: an
HMAC-SHA256 of the secret, which identifies the row but cannot be reversed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from trackyard.storage.base import SecretHash

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_LOOKUP_KEY = b"trackyard secret lookup v1"


def new_token() -> str:
    """A project token: 32 hex characters, as Mixpanel's."""
    return secrets.token_hex(16)


def new_secret() -> str:
    return secrets.token_hex(16)


def new_username(project_name: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in project_name.lower()).strip("-") or "project"
    return f"{slug[:40]}.{secrets.token_hex(3)}.sa"


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt)
    return f"scrypt${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    return hmac.compare_digest(_scrypt(secret, base64.b64decode(salt)), base64.b64decode(digest))


def lookup_key(secret: str) -> str:
    return hmac.new(_LOOKUP_KEY, secret.encode(), hashlib.sha256).hexdigest()


def secret_hash(secret: str) -> SecretHash:
    return SecretHash(lookup=lookup_key(secret), hash=hash_secret(secret))


def _scrypt(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
