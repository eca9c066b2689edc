"""What every route shares: the app's services, the request's parameters, and
the single translation of `TrackyardError` into the endpoint family's answer."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from trackyard import metrics
from trackyard.auth.credentials import ProjectAuthenticator, read_credentials
from trackyard.clock import Clock
from trackyard.decode.body import LimitedInflater
from trackyard.decode.payload import (
    DecodedRequest,
    decode_records,
    parse_query,
    with_form_fields,
)
from trackyard.errors import BadRequest, RateLimited, RequestTimeout, TrackyardError
from trackyard.http.admission import BodyHold, InflightBudget
from trackyard.http.deadline import receive_by
from trackyard.http.monitoring import endpoint_label
from trackyard.http.responses import Family, error_response
from trackyard.service.ingest import IngestService
from trackyard.settings import Settings
from trackyard.storage.base import Project, Store

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    auth: ProjectAuthenticator
    ingest: IngestService
    budget: InflightBudget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = InflightBudget(self.settings.max_inflight_bytes)


@dataclass
class Call:
    """One request on its way through a route."""

    request: Request
    services: Services
    family: Family
    params: dict[str, str]
    hold: BodyHold = field(default_factory=BodyHold)
    # Decoded body and query string: what the rate limit counts.
    received_bytes: int = 0

    async def body(self, limit: int) -> bytes:
        """The decoded (gunzipped) body, refused with 413 once it passes `limit`,
        with 503 once the process holds `max_inflight_bytes` of bodies, and with
        408 unless it has all arrived within `read_timeout_seconds`."""
        inflater = LimitedInflater(header(self.request, b"content-encoding"), limit)
        seconds = self.services.settings.read_timeout_seconds
        deadline = asyncio.get_running_loop().time() + seconds
        try:
            await self._read(inflater, deadline)
        except TimeoutError:
            raise RequestTimeout(f"request body not received within {seconds} seconds") from None
        except ClientDisconnect:
            raise BadRequest("the client disconnected before sending its whole body") from None
        return inflater.finish()

    async def _read(self, inflater: LimitedInflater, deadline: float) -> None:
        """`request.stream()` without its async generator: most bodies come in one message."""
        receive, budget = self.request.receive, self.services.budget
        while True:
            message = await receive_by(receive, deadline)
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            if message["type"] != "http.request":
                continue
            chunk = message.get("body", b"")
            if chunk:
                inflater.feed(chunk)
                budget.grow(self.hold, inflater.size)
            if not message.get("more_body", False):
                return

    async def decoded(self) -> DecodedRequest:
        """Parameters and raw records of an ingestion request, from any carrier."""
        body = await self.body(self.services.settings.max_body_bytes)
        query = query_string(self.request)
        self.received_bytes = len(body) + len(query)
        content_type = (header(self.request, b"content-type") or "").lower()
        # Parameters first: an undecodable `data` is answered in the dialect they ask for.
        self.params = with_form_fields(self.params, body, content_type)
        return decode_records(self.params, body, content_type)

    async def project(self, *, allow_token: bool = True) -> Project:
        """The project the request's credentials name, or Unauthorized."""
        creds = read_credentials(self.request.headers.get("authorization"), self.params)
        return await self.services.auth.project(creds, allow_token=allow_token)


Handler = Callable[[Call], Awaitable[Response]]


def query_string(request: Request) -> str:
    """The raw query string, as `request.url.query` but without building the URL."""
    return str(request.scope["query_string"].decode("latin-1"))


def header(request: Request, name: bytes) -> str | None:
    """`request.headers.get(name)` for a lowercase `name`, without building the
    `Headers` mapping, whose misses raise and catch a KeyError each."""
    for key, value in request.scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def endpoint(family: Family) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def route(request: Request) -> Response:
            services: Services = request.app.state.services
            call = Call(request, services, family, parse_query(query_string(request)))
            try:
                return await handler(call)
            except TrackyardError as exc:
                if isinstance(exc, RateLimited):
                    metrics.child(metrics.RATE_LIMITED, endpoint_label(request.scope)).inc()
                # The path only, never the query string or headers: they may hold secrets.
                log.debug(
                    "%s %s refused: %s: %s",
                    request.method,
                    request.scope["path"],
                    type(exc).__name__,
                    exc.message,
                )
                retry_after = services.settings.retry_after_seconds
                # The path only: a query string may hold an api_key.
                path = request.scope["path"]
                return error_response(exc, call.family, call.params, retry_after, path)
            finally:
                services.budget.release(call.hold)

        return route

    return wrap
