"""Sign-in, sign-out and the project switcher.

The sign-in form is protected too (against a page that signs a visitor into
an account of its choosing): its CSRF token is bound to a nonce in a
short-lived cookie set with the form.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from trackyard.console.auth import (
    COOKIE_PATH,
    NotSignedIn,
    Refused,
    Viewer,
    check_csrf,
    current_viewer,
    end_session,
    new_claims,
    refuse_other_origins,
    set_session,
    signing_key,
    verified_account,
)
from trackyard.console.render import (
    FORM_MAX_BYTES,
    console_page,
    error_page,
    form_of,
    now_ms,
    redirect,
    render,
)
from trackyard.console.session import SIGNIN_COOKIE, csrf_token, new_nonce
from trackyard.errors import TrackyardError
from trackyard.http.responses import error_status
from trackyard.whole_numbers import whole_number

HOME = "/console/live"
SIGNIN_FORM_SECONDS = 3600


def safe_next(target: str) -> str:
    """Only a path of the console: never another site (an open redirect)."""
    if target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


async def home(request: Request) -> Response:
    return redirect(HOME)


async def signin_page(request: Request) -> Response:
    try:
        refuse_other_origins(request)
        await current_viewer(request)
        return redirect(safe_next(request.query_params.get("next", "")))
    except NotSignedIn:
        return await _signin_form(request, request.query_params.get("next", ""))
    except Refused as exc:
        return error_page(request, 403, str(exc))
    except TrackyardError as exc:
        return error_page(request, error_status(exc), exc.message)


async def _signin_form(
    request: Request, next_url: str, error: str = "", username: str = "", status: int = 200
) -> Response:
    nonce = new_nonce()
    context = {
        "viewer": None,
        "csrf": csrf_token(await signing_key(request), "signin", nonce),
        "next": safe_next(next_url),
        "error": error,
        "username": username,
    }
    response = render(request, "signin.html", context, status)
    response.set_cookie(
        SIGNIN_COOKIE,
        nonce,
        max_age=SIGNIN_FORM_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def signin(request: Request) -> Response:
    try:
        refuse_other_origins(request)
        if int(request.headers.get("content-length") or 0) > FORM_MAX_BYTES:
            raise HTTPException(413, "the form is too large")
        form = await form_of(request)
        key = await signing_key(request)
        check_csrf(key, request.cookies.get(SIGNIN_COOKIE, ""), "signin", str(form.get("csrf")))
        return await _sign_in(request, str(form.get("username", "")), str(form.get("secret", "")))
    except Refused as exc:
        return error_page(request, 403, str(exc))
    except HTTPException as exc:
        return error_page(request, exc.status_code, str(exc.detail))
    except TrackyardError as exc:
        return error_page(request, error_status(exc), exc.message)


async def _sign_in(request: Request, username: str, secret: str) -> Response:
    form = await form_of(request)
    next_url = str(form.get("next", ""))
    account = await verified_account(request, username.strip(), secret.strip())
    if account is None:
        message = "Unknown service account, or wrong secret."
        return await _signin_form(request, next_url, message, username, status=401)
    response = redirect(safe_next(next_url))
    await set_session(
        request, response, new_claims(account, account.project_ids[0], now_ms(request))
    )
    response.delete_cookie(SIGNIN_COOKIE, path=COOKIE_PATH)
    return response


@console_page()
async def signout(request: Request, viewer: Viewer) -> Response:
    response = redirect("/console/login")
    end_session(response)
    return response


@console_page()
async def switch_project(request: Request, viewer: Viewer) -> Response:
    form = await form_of(request)
    project_id = whole_number(str(form.get("project_id", "")))
    if project_id is None or project_id not in viewer.account.project_ids:
        return error_page(request, 403, "this service account cannot see that project", viewer)
    response = redirect(safe_next(str(form.get("next", ""))))
    await set_session(request, response, new_claims(viewer.account, project_id, now_ms(request)))
    return response
