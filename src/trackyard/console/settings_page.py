"""Project settings: credentials, identity mode, rate limit, service accounts.

A new or rotated secret is shown once, in the answer to the POST that made
it (never in a URL, never stored in clear). An account may rotate the secret
of another only if it can see every project that account can, so nobody
locks others out of projects they cannot see themselves.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from trackyard.auth.secrets import new_username
from trackyard.console.auth import Viewer, services_of
from trackyard.console.render import console_page, form_of, render
from trackyard.errors import Conflict, NotFound
from trackyard.service.projects import (
    create_service_account,
    rotate_api_secret,
    rotate_service_account_secret,
)
from trackyard.storage.analytics import analytics_for
from trackyard.storage.base import ServiceAccount

MAX_USERNAME_CHARS = 128


def may_rotate(viewer: Viewer, account: ServiceAccount) -> bool:
    return set(account.project_ids) <= set(viewer.account.project_ids)


async def _render(
    request: Request, viewer: Viewer, extra: dict[str, Any] | None = None, status: int = 200
) -> Response:
    accounts = await analytics_for(services_of(request).store).project_service_accounts(
        viewer.project.id
    )
    context = {
        "viewer": viewer,
        "accounts": [(a, may_rotate(viewer, a)) for a in accounts],
        "rate_limit": services_of(request).settings.rate_limit_bytes_per_minute,
        "revealed": None,
        "error": "",
    }
    return render(request, "settings.html", context | (extra or {}), status)


@console_page()
async def settings_page(request: Request, viewer: Viewer) -> Response:
    return await _render(request, viewer)


@console_page()
async def create_account(request: Request, viewer: Viewer) -> Response:
    username = str((await form_of(request)).get("username", "")).strip()
    if len(username) > MAX_USERNAME_CHARS or not username.isprintable():
        return await _render(request, viewer, {"error": "That username cannot be used."}, 400)
    username = username or new_username(viewer.project.name)
    try:
        created = await create_service_account(
            services_of(request).store, [viewer.project.id], username
        )
    except Conflict:
        error = f"A service account named {username!r} exists already."
        return await _render(request, viewer, {"error": error}, 409)
    revealed = {"what": f"Service account {created.username}", "username": created.username}
    return await _render(request, viewer, {"revealed": revealed | {"secret": created.secret}})


@console_page()
async def rotate_account(request: Request, viewer: Viewer) -> Response:
    store = services_of(request).store
    username = str((await form_of(request)).get("username", ""))
    account = await store.service_account(username)
    if account is None or viewer.project.id not in account.project_ids:
        raise NotFound(f"service account {username!r} is not one of this project's")
    if not may_rotate(viewer, account):
        error = "That account can see projects you cannot; rotate it from one that can."
        return await _render(request, viewer, {"error": error}, 403)
    rotated = await rotate_service_account_secret(store, username)
    revealed = {"what": f"New secret of {rotated.username}", "username": rotated.username}
    return await _render(request, viewer, {"revealed": revealed | {"secret": rotated.secret}})


@console_page()
async def rotate_project_secret(request: Request, viewer: Viewer) -> Response:
    secret = await rotate_api_secret(services_of(request).store, viewer.project.id)
    revealed = {"what": "New API secret of the project", "username": "", "secret": secret}
    return await _render(request, viewer, {"revealed": revealed})
