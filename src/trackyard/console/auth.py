"""Who is looking at the console, and whether a request may act for them.

Sign-in takes a service account's username and secret (scrypt-verified, off
the event loop). Every page then reads the signed session cookie
(session.py) and checks the account still exists, still has the secret it
signed in with, and still belongs to the project in the cookie.

Requests from other origins are refused before anything runs: the API's CORS
policy lets any origin read answers (the browser SDK needs that), so the
console relies on Fetch Metadata and `Origin` instead, besides `SameSite`
cookies and a CSRF token on every form.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from trackyard.auth.secrets import verify_secret
from trackyard.console.session import (
    SESSION_COOKIE,
    SESSION_TTL_MS,
    SessionClaims,
    csrf_token,
    csrf_valid,
    new_nonce,
    seal,
    secret_fingerprint,
    unseal,
)
from trackyard.http.endpoint import Services
from trackyard.storage.analytics import analytics_for
from trackyard.storage.base import Project, ServiceAccount

COOKIE_PATH = "/console"


class NotSignedIn(Exception):
    """No valid session: the page redirects to sign-in."""


class Refused(Exception):
    """A cross-origin request or a missing CSRF token."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in service account, the project in view, and the others it may see."""

    account: ServiceAccount
    project: Project
    projects: list[Project]
    claims: SessionClaims
    csrf: str


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def signing_key(request: Request) -> bytes:
    return await analytics_for(services_of(request).store).console_signing_key()


async def verified_account(request: Request, username: str, secret: str) -> ServiceAccount | None:
    account = await services_of(request).store.service_account(username)
    if account is None or not secret:
        return None
    ok = await asyncio.to_thread(verify_secret, secret, account.secret_hash)
    return account if ok and account.project_ids else None


async def current_viewer(request: Request) -> Viewer:
    """The viewer of a valid session, or NotSignedIn."""
    cookie = request.cookies.get(SESSION_COOKIE, "")
    key = await signing_key(request)
    services = services_of(request)
    claims = unseal(cookie, key, services.clock.now_ms()) if cookie else None
    if claims is None:
        raise NotSignedIn
    account = await services.store.service_account(claims.username)
    if account is None or secret_fingerprint(account.secret_hash) != claims.secret_print:
        raise NotSignedIn  # gone, or its secret was rotated since sign-in
    if claims.project_id not in account.project_ids:
        raise NotSignedIn
    projects = [
        p for p in [await services.store.project_by_id(i) for i in account.project_ids] if p
    ]
    project = next(p for p in projects if p.id == claims.project_id)
    return Viewer(account, project, projects, claims, csrf_token(key, "session", claims.nonce))


def new_claims(account: ServiceAccount, project_id: int, now_ms: int) -> SessionClaims:
    return SessionClaims(
        account.username, project_id, secret_fingerprint(account.secret_hash), now_ms, new_nonce()
    )


async def set_session(request: Request, response: Response, claims: SessionClaims) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        seal(claims, await signing_key(request)),
        max_age=SESSION_TTL_MS // 1000,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")


def refuse_other_origins(request: Request) -> None:
    """Refuse what another origin's page makes the browser send.

    Top-level GET navigations are let through so links into the console work.
    """
    site = request.headers.get("sec-fetch-site", "")
    navigation = request.headers.get("sec-fetch-mode") == "navigate"
    if site in ("cross-site", "same-site") and not (navigation and request.method == "GET"):
        raise Refused("requests from other sites are refused")
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Refused("requests from other origins are refused")


def check_csrf(key: bytes, nonce: str, purpose: str, sent: str) -> None:
    if not csrf_valid(key, purpose, nonce, sent):
        raise Refused("the form has expired or did not come from this console; reload the page")
