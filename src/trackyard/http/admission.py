"""A bound on the decoded request bodies a process holds at once.

The writer's queue bounds what waits to be committed; this bounds what comes
before and beside it: bodies being read, decoded, validated, and held until
their answer is sent. Past the bound a new request is answered 503 with
Retry-After (the SDKs retry) instead of adding to memory, so a flood of
large requests cannot grow the process without limit.
"""

from __future__ import annotations

from trackyard.errors import StoreUnavailable

BUSY = "the server is busy; retry later"


class InflightBudget:
    """Bytes held by requests in progress, per process (one event loop: no lock).

    The app reports `held` in `trackyard_inflight_body_bytes` (`metrics.watch`).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def grow(self, hold: BodyHold, size: int) -> None:
        """Raise what `hold` holds to `size`, or StoreUnavailable past the limit.

        A request alone may always hold its body (up to max_body_bytes), so a
        limit below that cannot refuse everything.
        """
        extra = size - hold.size
        if extra <= 0:
            return
        if self.held - hold.size > 0 and self.held + extra > self.limit:
            raise StoreUnavailable(BUSY)
        self.held += extra
        hold.size = size

    def release(self, hold: BodyHold) -> None:
        self.held -= hold.size
        hold.size = 0


class BodyHold:
    """What one request holds of the budget; released when it is answered."""

    def __init__(self) -> None:
        self.size = 0
