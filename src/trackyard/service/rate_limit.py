"""Mixpanel's per-project ingestion rate limit: uncompressed bytes per rolling minute.

Mixpanel allows 2 GB of uncompressed JSON per project per minute and answers
more with 429 (mixpanel-behavior.md §11, §16). trackyard counts each
request's decoded body against the projects whose records it carries, in
one-second buckets over the last 60 seconds.

The count lives in the process: with N server processes, a project may send
up to N times the limit in total (docs/operations.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from trackyard.clock import Clock
from trackyard.errors import RateLimited

WINDOW_SECONDS = 60


class ProjectRateLimiter:
    """`bytes_per_minute <= 0` turns the limit off."""

    def __init__(self, bytes_per_minute: int, clock: Clock) -> None:
        self._limit = bytes_per_minute
        self._clock = clock
        # project id -> (second, bytes) buckets, oldest first, and their sum.
        self._buckets: dict[int, deque[tuple[int, int]]] = {}
        self._totals: dict[int, int] = {}

    @property
    def enabled(self) -> bool:
        return self._limit > 0

    def charge(self, sizes: Mapping[int, int]) -> None:
        """Count `sizes` (project id -> bytes) or, if any project would pass its
        limit, count nothing and raise RateLimited for the whole request."""
        if not self.enabled:
            return
        now = self._clock.now_ms() // 1000
        for project_id, size in sizes.items():
            self._expire(project_id, now)
            self._check(project_id, size, now)
        for project_id, size in sizes.items():
            self._add(project_id, size, now)

    def used(self, project_id: int) -> int:
        """Bytes counted for the project over the last minute."""
        self._expire(project_id, self._clock.now_ms() // 1000)
        return self._totals.get(project_id, 0)

    def _check(self, project_id: int, size: int, now: int) -> None:
        total = self._totals.get(project_id, 0)
        # A request alone is always let through, so one larger than the
        # limit cannot be refused forever.
        if total and total + size > self._limit:
            retry_after = self._seconds_until_room(project_id, size, now)
            raise RateLimited(f"project {project_id} exceeded its rate limit", retry_after)

    def _seconds_until_room(self, project_id: int, size: int, now: int) -> int:
        """When enough old buckets will have left the window for `size` to fit."""
        remaining = self._totals[project_id]
        for second, counted in self._buckets[project_id]:
            remaining -= counted
            if remaining == 0 or remaining + size <= self._limit:
                return max(1, second + WINDOW_SECONDS - now)
        return WINDOW_SECONDS  # pragma: no cover - the loop always empties the window

    def _add(self, project_id: int, size: int, now: int) -> None:
        buckets = self._buckets.get(project_id)
        if buckets is None:
            buckets = self._buckets[project_id] = deque()
        if buckets and buckets[-1][0] == now:
            buckets[-1] = (now, buckets[-1][1] + size)
        else:
            buckets.append((now, size))
        self._totals[project_id] = self._totals.get(project_id, 0) + size

    def _expire(self, project_id: int, now: int) -> None:
        buckets = self._buckets.get(project_id)
        while buckets and buckets[0][0] <= now - WINDOW_SECONDS:
            _, counted = buckets.popleft()
            self._totals[project_id] -= counted
