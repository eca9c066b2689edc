"""What every route shares: the app's services, the request's parameters, and
the single translation of `TrackyardError` into the endpoint family's answer."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from trackyard.auth.credentials import ProjectAuthenticator, read_credentials
from trackyard.clock import Clock
from trackyard.decode.body import read_body
from trackyard.decode.payload import DecodedRequest, decode_records, parse_query, request_params
from trackyard.errors import TrackyardError
from trackyard.http.responses import Family, error_response
from trackyard.service.ingest import IngestService
from trackyard.settings import Settings
from trackyard.storage.base import Project, Store


@dataclass
class Services:
    settings: Settings
    store: Store
    clock: Clock
    auth: ProjectAuthenticator
    ingest: IngestService


@dataclass
class Call:
    """One request on its way through a route."""

    request: Request
    services: Services
    family: Family
    params: dict[str, str]

    async def body(self, limit: int) -> bytes:
        """The decoded (gunzipped) body, refused with 413 once it passes `limit`."""
        encoding = self.request.headers.get("content-encoding")
        return await read_body(self.request.stream(), encoding, limit)

    async def decoded(self) -> DecodedRequest:
        """Parameters and raw records of an ingestion request, from any carrier."""
        body = await self.body(self.services.settings.max_body_bytes)
        content_type = self.request.headers.get("content-type", "").lower()
        # Parameters first: an undecodable `data` is answered in the dialect they ask for.
        self.params = request_params(self.request.url.query, body)
        return decode_records(self.params, body, content_type)

    async def project(self, *, allow_token: bool = True) -> Project:
        """The project the request's credentials name, or Unauthorized."""
        creds = read_credentials(self.request.headers.get("authorization"), self.params)
        return await self.services.auth.project(creds, allow_token=allow_token)


Handler = Callable[[Call], Awaitable[Response]]


def endpoint(family: Family) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def route(request: Request) -> Response:
            services: Services = request.app.state.services
            call = Call(request, services, family, parse_query(request.url.query))
            try:
                return await handler(call)
            except TrackyardError as exc:
                retry_after = services.settings.retry_after_seconds
                return error_response(exc, call.family, call.params, retry_after)

        return route

    return wrap
