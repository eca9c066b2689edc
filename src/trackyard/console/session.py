"""Console sessions: a signed cookie, and the CSRF tokens derived from it.

The cookie holds who signed in (a service account), the project they look
at, when, a random nonce, and a fingerprint of the account's secret hash, all
signed with HMAC-SHA256 under a key every server process reads from the
store. Nothing is kept server-side, so any process of `--workers N` accepts
it; rotating the account's secret changes the fingerprint and so ends every
session of that account.

CSRF tokens are HMACs of the nonce: a form carries one, and a page from
another site can neither read nor forge it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import orjson

SESSION_COOKIE = "trackyard_console"
SIGNIN_COOKIE = "trackyard_console_signin"
SESSION_TTL_MS = 12 * 3_600_000


@dataclass(frozen=True, slots=True)
class SessionClaims:
    username: str
    project_id: int
    secret_print: str
    issued_ms: int
    nonce: str


def secret_fingerprint(secret_hash: str) -> str:
    """Changes whenever the account's secret does; reveals nothing of it."""
    return hashlib.sha256(secret_hash.encode()).hexdigest()[:32]


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def seal(claims: SessionClaims, key: bytes) -> str:
    body = _b64(
        orjson.dumps(
            [
                claims.username,
                claims.project_id,
                claims.secret_print,
                claims.issued_ms,
                claims.nonce,
            ]
        )
    )
    return f"{body}.{_b64(_mac(key, 'session', body))}"


def unseal(cookie: str, key: bytes, now_ms: int) -> SessionClaims | None:
    """The cookie's claims if its signature is ours and it has not expired."""
    body, _, signature = cookie.partition(".")
    if not hmac.compare_digest(signature, _b64(_mac(key, "session", body))):
        return None
    try:
        username, project_id, secret_print, issued_ms, nonce = orjson.loads(_unb64(body))
        claims = SessionClaims(username, int(project_id), secret_print, int(issued_ms), nonce)
    except (ValueError, TypeError):
        return None
    if not 0 <= now_ms - claims.issued_ms <= SESSION_TTL_MS:
        return None
    return claims


def csrf_token(key: bytes, purpose: str, nonce: str) -> str:
    """The token forms must send back: bound to one session (or sign-in) nonce."""
    return _b64(_mac(key, f"csrf:{purpose}", nonce))


def csrf_valid(key: bytes, purpose: str, nonce: str, sent: str) -> bool:
    return bool(nonce) and hmac.compare_digest(csrf_token(key, purpose, nonce), sent)


def _mac(key: bytes, purpose: str, message: str) -> bytes:
    return hmac.new(key, f"{purpose}\0{message}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
