"""The ingestion endpoints served without Starlette's middleware and router.

`/track`, `/engage`, `/groups` and `/import` carry nearly all the traffic, in
requests as small as one event. Through Starlette's stack (error, metrics,
CORS and exception middleware, then a router trying each route's pattern)
a one-event `/track` spent about a third of its time before reaching its
handler (docs/performance.md). `TrackyardApp` finds these routes by exact
path and does what that stack does for them in a few lines: counts the answer
by route and status, echoes the Origin for the browser SDK's credentialed
requests (§3, CORS; preflights still go through `CORSMiddleware`), and turns
an unexpected exception into a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from trackyard import metrics
from trackyard.http.endpoint import header

log = logging.getLogger(__name__)

FAST_METHODS = frozenset(("GET", "POST"))


def echo_origin(response: Response, origin: str) -> None:
    """What `CORSMiddleware(allow_origin_regex=".*", allow_credentials=True)`
    adds to a simple request's answer: the Origin itself, never `*`."""
    headers = response.headers
    headers["Access-Control-Allow-Credentials"] = "true"
    headers["Access-Control-Allow-Origin"] = origin
    headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])


class TrackyardApp(Starlette):
    _fast: Mapping[str, Route] = MappingProxyType({})

    def serve_fast(self, routes: Iterable[BaseRoute]) -> None:
        """Serve GET and POST of these routes (exact paths) directly."""
        self._fast = {r.path: r for r in routes if isinstance(r, Route)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = None
        if scope["type"] == "http" and scope["method"] in FAST_METHODS:
            route = self._fast.get(scope["path"])
        if route is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        scope["route"] = route
        await self._serve(route, scope, receive, send)

    async def _serve(self, route: Route, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request)
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            response = PlainTextResponse("Internal Server Error", status_code=500)
        origin = header(request, b"origin")
        if origin is not None:
            echo_origin(response, origin)
        label = route.path.rstrip("/")
        metrics.child(metrics.HTTP_REQUESTS, label, str(response.status_code)).inc()
        await response(scope, receive, send)
