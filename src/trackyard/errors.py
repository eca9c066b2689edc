"""The one error hierarchy. `trackyard.http.responses` is the only place that
turns these into HTTP answers; every other layer raises them and moves on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class TrackyardError(Exception):
    """Base of every error trackyard answers deliberately."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(TrackyardError):
    """The request as a whole cannot be read (malformed body, wrong shape)."""


@dataclass(frozen=True, slots=True)
class FailedRow:
    """One refused row of an uploaded file: its index and why."""

    index: int
    message: str


class LookupValidationError(BadRequest):
    """Rows of a lookup-table CSV failed validation; `failed_rows` are the first of them."""

    def __init__(self, failed_rows: Sequence[FailedRow]) -> None:
        # The message of Mixpanel's OpenAPI example (mixpanel-behavior.md §13).
        super().__init__("Some data points in the request failed validation.")
        self.failed_rows = tuple(failed_rows)


class BatchRejected(BadRequest):
    """A whole /import batch is refused; Mixpanel lists the reasons as plain strings."""

    def __init__(self, message: str, failed_records: Sequence[str]) -> None:
        super().__init__(message)
        self.failed_records = tuple(failed_records)


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
    """The project sent more than its rate limit allows.

    `retry_after`: seconds until enough of the window has passed (None: the setting).
    """

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTimeout(TrackyardError):
    """The client did not send its request within the read timeout."""


class StoreUnavailable(TrackyardError):
    """The store cannot commit right now (busy, full, read-only, restarting, overloaded).

    Nothing of the request was acknowledged; the client should retry later.
    """
