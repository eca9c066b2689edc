"""uvicorn's httptools protocol with the limits it lacks.

uvicorn buffers a request's URL and headers without bound and waits for them
forever: a client can send a gigabyte of URL, or trickle a header a byte a
minute and hold a connection open indefinitely. This protocol refuses, while
parsing and before anything is buffered past the limit:

* a URL longer than `max_url_bytes` (414);
* header names and values longer than `max_header_bytes` in total (431);
* a request head not complete `read_timeout_seconds` after its first byte
  (408), and a new connection that sends nothing for that long (closed).

The body's deadline is kept by the app (`trackyard.http.endpoint.Call.body`),
where the endpoint family, and so the shape of the answer, is known.

`trackyard serve` names this class to uvicorn by its import path, so every
worker process builds it from the `TRACKYARD_*` environment, as the app.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from trackyard import metrics
from trackyard.http.responses import protocol_refusal
from trackyard.settings import Settings

IMPORT_PATH = "trackyard.http.protocol:GuardedHttpToolsProtocol"
UNROUTED = "unrouted"  # the endpoint label of requests refused before routing


@dataclass(frozen=True)
class ConnectionLimits:
    max_url_bytes: int
    max_header_bytes: int
    read_timeout_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(settings.max_url_bytes, settings.max_header_bytes, settings.read_timeout_seconds)


@functools.cache
def limits_from_env() -> ConnectionLimits:
    return ConnectionLimits.from_settings(Settings.from_env())


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    limits: ConnectionLimits | None = None  # set in tests; else read from the environment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = self.limits or limits_from_env()
        self._header_bytes = 0
        self._refused = False
        self._head_deadline: asyncio.TimerHandle | None = None

    # Connection lifecycle ------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a request is closed, not kept forever.
        self._arm_head_deadline(answer=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._refused:  # The answer is sent; ignore what else arrives.
            super().data_received(data)

    # Parser callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm_head_deadline(answer=True)

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        super().on_url(url)
        if len(self.url) > self._limits.max_url_bytes:
            limit = self._limits.max_url_bytes
            self._refuse(414, f"request URL exceeds max limit of {limit} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > self._limits.max_header_bytes:
            limit = self._limits.max_header_bytes
            self._refuse(431, f"request headers exceed max limit of {limit} bytes")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._disarm_head_deadline()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    # Refusals ------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        """Answer before routing and close; the parser's further callbacks are ignored."""
        self._refused = True
        self._disarm_head_deadline()
        metrics.HTTP_REQUESTS.labels(UNROUTED, str(status)).inc()
        if not self.transport.is_closing():
            self.transport.write(protocol_refusal(status, message))
            self.transport.close()

    def _arm_head_deadline(self, *, answer: bool) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(
            self._limits.read_timeout_seconds, self._head_too_slow, answer
        )

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self, answer: bool) -> None:
        self._head_deadline = None
        if not answer:
            self._refused = True
            self.transport.close()
            return
        seconds = self._limits.read_timeout_seconds
        self._refuse(408, f"request not received within {seconds:g} seconds")
