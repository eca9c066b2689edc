"""Prometheus /metrics, and the count of every answer by endpoint and status."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trackyard import metrics
from trackyard.service.ingest import BatchOutcome

UNMATCHED = "unmatched"


def endpoint_label(scope: MutableMapping[str, Any]) -> str:
    """The route's path template (`/lookup-tables/{table_id}`), `/track/` as `/track`.

    A template, never the raw path, so that the number of label values stays
    that of the routes however many different URLs clients send.
    """
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return path.rstrip("/") or "/"


class RequestMetricsMiddleware:
    """Counts each answer by its route and HTTP status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                label = endpoint_label(scope)
                metrics.child(metrics.HTTP_REQUESTS, label, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def count_outcome(request: Request, kind: str, outcome: BatchOutcome) -> None:
    """Events (kind "events") or profile updates ("profiles") by what became of them."""
    endpoint = endpoint_label(request.scope)
    rejected = len(outcome.errors)
    if kind == "profiles":
        _count(metrics.PROFILE_UPDATES, endpoint, applied=outcome.accepted, rejected=rejected)
        return
    dropped = outcome.accepted - outcome.stored - outcome.duplicates
    _count(
        metrics.EVENTS,
        endpoint,
        stored=outcome.stored,
        deduplicated=outcome.duplicates,
        dropped=dropped,
        rejected=rejected,
    )


def _count(counter: Any, endpoint: str, **by_outcome: int) -> None:
    for outcome, n in by_outcome.items():
        if n > 0:
            metrics.child(counter, endpoint, outcome).inc(n)


async def metrics_endpoint(request: Request) -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


async def sample_gauges_forever() -> None:
    """Keeps this process's live gauges current for the worker that answers
    the next scrape (metrics.py says why they are sampled)."""
    while True:
        metrics.sample_gauges()
        await asyncio.sleep(metrics.SAMPLE_SECONDS)
