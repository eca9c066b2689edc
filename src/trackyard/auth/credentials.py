"""Reading credentials from a request, and resolving them to a project.

Accepted for /import, lookup tables and (later) the read APIs
(mixpanel-behavior.md §4):

* service account: Basic `username:secret`, plus `project_id` (query or form);
* project token as the Basic username with an empty password;
* legacy project API secret as the Basic username with an empty password;
* legacy `api_key` parameter holding the API secret or the token;
* `Authorization: Bearer <api secret>`.

Basic may be base64 or plain text after `Basic ` (§4, Quirks).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

from trackyard.auth.secrets import lookup_key, verify_secret
from trackyard.errors import Unauthorized
from trackyard.storage.base import Project, Store
from trackyard.whole_numbers import whole_number

INVALID = "Invalid credentials"
_CACHE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str = ""
    password: str = ""
    bearer: str = ""
    api_key: str = ""
    project_id: str = ""


def read_credentials(authorization: str | None, params: Mapping[str, str]) -> Credentials:
    username = password = bearer = ""
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() == "basic":
        username, password = _basic_pair(value.strip())
    elif scheme.lower() == "bearer":
        bearer = value.strip()
    return Credentials(
        username=username,
        password=password,
        bearer=bearer,
        api_key=params.get("api_key", ""),
        project_id=params.get("project_id", "").strip(),
    )


def _basic_pair(value: str) -> tuple[str, str]:
    # Mixpanel accepts base64 and plain-text `user:secret`, and its docs send a bare token.
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = ""
    if ":" not in decoded and (":" in value or not decoded.isprintable() or not decoded):
        decoded = value
    username, _, password = decoded.partition(":")
    return username, password


class ProjectAuthenticator:
    """Resolves credentials to the one project they may act on, or raises Unauthorized.

    Verifying a scrypt hash costs tens of milliseconds, so a successful
    verification is remembered (keyed by a digest of the credential, never the
    credential itself) for a minute, and verification runs off the event loop.
    Requests that present the same credential while it is being verified wait
    for that one verification: a client opening its connections at once (8
    parallel import batches, say) would otherwise run scrypt once each, at
    start and again whenever the minute ends.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._verified: dict[str, tuple[float, str]] = {}
        self._verifying: dict[str, asyncio.Future[bool]] = {}
        self._tokens: dict[str, tuple[float, Project | None]] = {}

    async def project_for_token(self, token: str) -> Project | None:
        """The project a /track, /engage or /groups token names (cached briefly)."""
        now = time.monotonic()
        hit = self._tokens.get(token)
        if hit is not None and hit[0] > now:
            return hit[1]
        project = await self._store.project_by_token(token)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        # Unknown tokens are remembered for a second only, so a new project works at once.
        self._tokens[token] = (now + (_CACHE_SECONDS if project else 1.0), project)
        return project

    async def project(self, creds: Credentials, *, allow_token: bool = True) -> Project:
        """`allow_token=False` where the public project token must not be enough."""
        project = await self._resolve(creds, allow_token)
        if project is None:
            raise Unauthorized(INVALID)
        return project

    async def _resolve(self, creds: Credentials, allow_token: bool) -> Project | None:
        if creds.username and creds.password:
            return await self._service_account(creds.username, creds.password, creds.project_id)
        for candidate in (creds.username, creds.bearer, creds.api_key):
            if candidate:
                project = await self._token_or_secret(candidate, allow_token)
                if project is not None:
                    return self._matching(project, creds.project_id)
        return None

    @staticmethod
    def _matching(project: Project, project_id: str) -> Project | None:
        # A token or secret together with project_id (mixpanel-import sends both, §4)
        # must name the same project.
        return project if not project_id or project_id == str(project.id) else None

    async def _token_or_secret(self, value: str, allow_token: bool) -> Project | None:
        project = await self.project_for_token(value) if allow_token else None
        if project is not None:
            return project
        found = await self._store.project_by_secret_lookup(lookup_key(value))
        if found is None:
            return None
        project, stored_hash = found
        return project if await self._verify(value, stored_hash) else None

    async def _service_account(self, username: str, secret: str, project_id: str) -> Project | None:
        account = await self._store.service_account(username)
        if account is None or not await self._verify(secret, account.secret_hash):
            return None
        if not project_id and len(account.project_ids) == 1:
            project_id = str(account.project_ids[0])
        wanted = whole_number(project_id)
        if wanted is None or wanted not in account.project_ids:
            return None
        return await self._store.project_by_id(wanted)

    async def _verify(self, secret: str, stored_hash: str) -> bool:
        cache_key = hashlib.sha256(f"{stored_hash}\0{secret}".encode()).hexdigest()
        now = time.monotonic()
        hit = self._verified.get(cache_key)
        if hit is not None and hit[0] > now and hit[1] == stored_hash:
            return True
        verifying = self._verifying.get(cache_key)
        if verifying is None:
            verifying = asyncio.ensure_future(asyncio.to_thread(verify_secret, secret, stored_hash))
            self._verifying[cache_key] = verifying
            verifying.add_done_callback(lambda _: self._verifying.pop(cache_key, None))
        # Shielded: a request that gives up does not cancel the others' verification.
        ok = await asyncio.shield(verifying)
        if ok:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[cache_key] = (now + _CACHE_SECONDS, stored_hash)
        return ok
