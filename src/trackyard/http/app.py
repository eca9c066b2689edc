"""The ASGI application: routes, CORS, and the store's lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from trackyard import metrics
from trackyard.auth.credentials import ProjectAuthenticator
from trackyard.clock import Clock, SystemClock
from trackyard.console import console_routes
from trackyard.errors import StoreUnavailable
from trackyard.gc_tuning import tune_for_serving
from trackyard.http import ingest_routes, lookup_routes, read_routes, segmentation_routes
from trackyard.http.endpoint import Services
from trackyard.http.fast_ingest import TrackyardApp
from trackyard.http.monitoring import (
    RequestMetricsMiddleware,
    metrics_endpoint,
    sample_gauges_forever,
)
from trackyard.http.openapi import openapi_document
from trackyard.http.responses import json_response
from trackyard.service.ingest import IngestService
from trackyard.settings import Settings
from trackyard.storage.base import Store
from trackyard.storage.open import open_store

log = logging.getLogger(__name__)

WELCOME = "Welcome. Get started with our API by visiting https://developer.mixpanel.com/"
_INGEST_METHODS = ["GET", "POST"]


def event_routes(prefix: str) -> list[BaseRoute]:
    """/track, /engage, /groups, /import: the fast path's routes (fast_ingest.py)."""
    routes: list[BaseRoute] = []
    for name, handler in (
        ("track", ingest_routes.track),
        ("engage", ingest_routes.engage),
        ("groups", ingest_routes.groups),
        ("import", ingest_routes.import_events),
    ):
        # Android, Swift and JS post to `/track/`; the others to `/track` (§1).
        for path in (f"{prefix}/{name}", f"{prefix}/{name}/"):
            routes.append(Route(path, handler, methods=_INGEST_METHODS))
    return routes


def lookup_table_routes(prefix: str) -> list[BaseRoute]:
    return [
        Route(f"{prefix}/lookup-tables", lookup_routes.list_tables, methods=["GET"]),
        Route(
            f"{prefix}/lookup-tables/{{table_id}}",
            lookup_routes.replace_table,
            methods=["PUT"],
        ),
        Route(
            f"{prefix}/lookup-tables/{{table_id}}",
            lookup_routes.delete_table,
            methods=["DELETE"],
        ),
    ]


async def welcome(request: Request) -> Response:
    # api.mixpanel.com answers its root like this; Mixpanel's proxy uses it as a health check (§1).
    return json_response({"error": WELCOME})


async def healthz(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        await services.store.ping()
    except StoreUnavailable as exc:
        return json_response({"status": "unavailable", "error": exc.message}, 503)
    return json_response({"status": "ok"})


async def openapi(request: Request) -> Response:
    return json_response(openapi_document())


async def open_or_keep_trying(store: Store, retry_seconds: int) -> asyncio.Task[None] | None:
    """Open the store; if it cannot be opened (a read-only or full disk, a
    database not up yet), serve anyway, answering 503 (and /readyz 503) while
    a task keeps trying, rather than exiting."""
    try:
        await store.open()
        return None
    except StoreUnavailable as exc:
        log.error("cannot open the store, answering 503 until it can be: %s", exc.message)
    return asyncio.create_task(_keep_opening(store, retry_seconds))


async def _keep_opening(store: Store, retry_seconds: int) -> None:
    while True:
        await asyncio.sleep(max(1, retry_seconds))
        try:
            await store.open()
        except StoreUnavailable:
            continue
        log.warning("the store is open now")
        return


def create_app(
    settings: Settings, store: Store | None = None, clock: Clock | None = None
) -> Starlette:
    store = store or open_store(settings)
    clock = clock or SystemClock()
    auth = ProjectAuthenticator(store)
    services = Services(settings, store, clock, auth, IngestService(store, auth, clock, settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opening = await open_or_keep_trying(store, settings.retry_after_seconds)
        tune_for_serving()
        unwatch = metrics.watch(metrics.INFLIGHT_BODY_BYTES, lambda: services.budget.held)
        sampling = asyncio.create_task(sample_gauges_forever())
        try:
            yield
        finally:
            sampling.cancel()
            unwatch()
            if opening is not None:
                opening.cancel()
            await store.close()
            metrics.forget_this_process()

    prefix = settings.path_prefix.rstrip("/")
    prefix = prefix if not prefix or prefix.startswith("/") else "/" + prefix
    events = event_routes("") + (event_routes(prefix) if prefix else [])
    routes: list[BaseRoute] = [
        Route("/", welcome, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        *events,
        *lookup_table_routes(""),
        *(lookup_table_routes(prefix) if prefix else []),
        Route("/api/2.0/export", read_routes.export, methods=["GET"]),
        Route("/api/2.0/engage", read_routes.engage, methods=["GET", "POST"]),
        Route("/api/query/engage", read_routes.engage, methods=["GET", "POST"]),
        Route("/api/query/segmentation", segmentation_routes.segmentation, methods=["GET"]),
        *console_routes(),
    ]
    middleware = [
        Middleware(RequestMetricsMiddleware),
        # The browser SDK sends credentialed XHRs: echo the Origin, never `*` (§3,
        # CORS). The fast path does the same for its routes (fast_ingest.py).
        Middleware(
            CORSMiddleware,
            allow_origin_regex=".*",
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            max_age=86400,
        ),
    ]
    app = TrackyardApp(routes=routes, middleware=middleware, lifespan=lifespan)
    app.serve_fast(events)
    app.state.services = services
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn worker processes: settings come from TRACKYARD_* variables."""
    return create_app(Settings.from_env())
