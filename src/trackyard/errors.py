"""The one error hierarchy. `trackyard.http.responses` is the only place that
turns these into HTTP answers; every other layer raises them and moves on."""

from __future__ import annotations


class TrackyardError(Exception):
    """Base of every error trackyard answers deliberately."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(TrackyardError):
    """The request as a whole cannot be read (malformed body, wrong shape)."""


class Unauthorized(TrackyardError):
    """Missing or wrong credentials, or credentials of another project."""


class NotFound(TrackyardError):
    """The named resource does not exist in this project."""


class Conflict(TrackyardError):
    """The thing to create exists already (a username, a token)."""


class PayloadTooLarge(TrackyardError):
    """A size or count limit was exceeded; raised while reading, before buffering it all."""

    def __init__(self, message: str, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class RateLimited(TrackyardError):
    """The project sent more than its rate limit allows."""


class StoreUnavailable(TrackyardError):
    """The store cannot commit right now (busy, full, read-only, restarting, overloaded).

    Nothing of the request was acknowledged; the client should retry later.
    """
