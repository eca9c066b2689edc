"""Rendering console pages: Jinja2 templates, security headers, and the page wrapper.

Every signed-in page is a `(request, viewer) -> Response` handler wrapped by
`console_page`, which refuses other origins, resolves the session (or
redirects to sign-in), checks the CSRF token of a POST, bounds its body, and
turns errors into an HTML page with the status `http/responses.py` gives them.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import orjson
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from trackyard.console.auth import (
    NotSignedIn,
    Refused,
    Viewer,
    check_csrf,
    current_viewer,
    refuse_other_origins,
    services_of,
    signing_key,
)
from trackyard.errors import TrackyardError
from trackyard.http.responses import error_status
from trackyard.whole_numbers import whole_number

TEMPLATES = Path(__file__).parent / "templates"
FORM_MAX_BYTES = 64 * 1024
# The page's own scripts and styles only; the JSON blocks pages embed are data.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

Handler = Callable[[Request, Viewer], Awaitable[Response]]


def format_time(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def format_bytes(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{format_number(round(count / size, 1))} {unit}"
    return f"{count} bytes"


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["time"] = format_time
_ENV.filters["pretty_json"] = pretty_json
_ENV.filters["number"] = format_number
_ENV.filters["bytes"] = format_bytes


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    html = _ENV.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status, headers=SECURITY_HEADERS)


def error_page(
    request: Request, status: int, message: str, viewer: Viewer | None = None
) -> Response:
    return render(
        request, "error.html", {"viewer": viewer, "status": status, "message": message}, status
    )


def redirect(url: str) -> RedirectResponse:
    # 303: after a POST the browser follows with a GET.
    return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})


def console_page(
    max_body: Callable[[Request], int] | None = None,
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a signed-in page; `max_body` sizes the POST bodies it takes (a form by default)."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def route(request: Request) -> Response:
            viewer = None
            try:
                refuse_other_origins(request)
                viewer = await current_viewer(request)
                if request.method == "POST":
                    await _check_post(request, viewer, max_body)
                return await handler(request, viewer)
            except NotSignedIn:
                return redirect(f"/console/login?next={quote(_path_and_query(request))}")
            except Refused as exc:
                return error_page(request, 403, str(exc), viewer)
            except HTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail), viewer)
            except TrackyardError as exc:
                return error_page(request, error_status(exc), exc.message, viewer)
            finally:
                await _close_form(request)

        return route

    return wrap


async def _check_post(
    request: Request, viewer: Viewer, max_body: Callable[[Request], int] | None
) -> None:
    limit = max_body(request) if max_body else FORM_MAX_BYTES
    size = whole_number(request.headers.get("content-length", ""))
    if size is None:
        raise HTTPException(411, "a form must be sent with a Content-Length")
    if size > limit:
        raise HTTPException(413, f"the form is larger than {limit} bytes")
    form = await form_of(request)
    check_csrf(
        await signing_key(request), viewer.claims.nonce, "session", str(form.get("csrf", ""))
    )


async def form_of(request: Request) -> FormData:
    """The request's form, parsed once, with small field limits."""
    form: FormData | None = getattr(request.state, "form", None)
    if form is None:
        form = await request.form(max_files=1, max_fields=20)
        request.state.form = form
    return form


async def _close_form(request: Request) -> None:
    # Uploaded files spool to temporary files; remove them with the request.
    form: FormData | None = getattr(request.state, "form", None)
    if form is not None:
        await form.close()


def _path_and_query(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query and request.method == "GET" else "")


def now_ms(request: Request) -> int:
    return services_of(request).clock.now_ms()
