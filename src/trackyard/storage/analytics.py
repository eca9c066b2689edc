"""The reads behind the web console and `/api/query/segmentation`.

Kept apart from the `Store` protocol so a backend can serve ingestion and the
Mixpanel read APIs before it serves these: `analytics_for(store)` answers
BadRequest for a store without them (PostgreSQL, for now).

Contract, for every implementation:

* Reads only; each call sees one consistent snapshot and never blocks the
  event loop while SQL runs.
* Events carry the canonical `distinct_id` after identity merge
  (docs/identity.md), like the raw export.
* Nothing scans a project's whole event history per call: queries are bounded
  by an index range (time, event name, user) or by an explicit row cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from trackyard.errors import BadRequest
from trackyard.query import Expr
from trackyard.storage.base import ProfileQuery, ServiceAccount, Store

Unit = Literal["hour", "day", "week", "month"]
Counting = Literal["general", "unique", "average"]
UNITS: tuple[Unit, ...] = ("hour", "day", "week", "month")
COUNTINGS: tuple[Counting, ...] = ("general", "unique", "average")


@dataclass(frozen=True, slots=True)
class SegmentationQuery:
    """Events of `events` in [from_ms, to_ms), counted per `unit` (UTC).

    `on` splits each event into segments by its value (the top `limit` by
    number of events); `where` keeps only the events it matches. Without
    `range_totals`, the totals of unique users may be the sum of each
    bucket's (which saves a second pass over the events).
    """

    events: tuple[str, ...]
    from_ms: int
    to_ms: int
    unit: Unit = "day"
    counting: Counting = "general"
    where: Expr | None = None
    on: Expr | None = None
    limit: int = 60
    range_totals: bool = True


@dataclass(frozen=True, slots=True)
class SeriesKey:
    event: str
    segment: str | None  # the `on` value as text; None without `on`


@dataclass(frozen=True, slots=True)
class BucketCount:
    events: int
    users: int  # distinct canonical users; 0 unless the query counts them


@dataclass
class Segmentation:
    """Counts per series and bucket start (ms), and over the whole range."""

    buckets: dict[SeriesKey, dict[int, BucketCount]] = field(default_factory=dict)
    totals: dict[SeriesKey, BucketCount] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventFilter:
    event: str | None = None
    distinct_id: str | None = None  # any id of the user's identity cluster


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int  # arrival order (rowid); a live view asks for what came after
    event: str
    time_ms: int
    distinct_id: str  # canonical
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProfileSearch:
    query: ProfileQuery
    id_prefix: str = ""
    limit: int = 50


class AnalyticsReads(Protocol):
    async def segmentation(self, project_id: int, query: SegmentationQuery) -> Segmentation:
        """Counts for the query; `totals` too (uniques over the whole range)."""

    async def event_names(self, project_id: int) -> list[str]:
        """Every event name the project has, most frequent first."""

    async def newest_events(
        self, project_id: int, where: EventFilter, limit: int
    ) -> list[StoredEvent]:
        """The latest events by event time, newest first."""

    async def events_after(
        self, project_id: int, position: int, where: EventFilter, limit: int
    ) -> list[StoredEvent]:
        """Events stored after `position` (arrival order), newest first."""

    async def last_position(self) -> int:
        """The arrival position of the newest event of any project (0 if none)."""

    async def count_events_between(self, project_id: int, from_ms: int, to_ms: int) -> int:
        """How many events have an event time in [from_ms, to_ms)."""

    async def group_events(
        self, project_id: int, group_key: str, group_id: str, limit: int
    ) -> list[StoredEvent]:
        """Newest events whose `group_key` property names the group, among a
        bounded number of the project's newest events."""

    async def find_profiles(
        self, project_id: int, search: ProfileSearch
    ) -> list[tuple[str, dict[str, Any]]]:
        """Profiles (canonical ids) matching the search, by distinct_id."""

    async def group_keys(self, project_id: int) -> list[str]: ...

    async def project_service_accounts(self, project_id: int) -> list[ServiceAccount]: ...

    async def console_signing_key(self) -> bytes:
        """A secret shared by every server process, to sign console sessions."""


def analytics_for(store: Store) -> AnalyticsReads:
    """The store's analytics reads, or BadRequest when its backend has none yet."""
    # Imported here, as storage/open.py does: the backend modules import this one.
    from trackyard.storage.sqlite.analytics import SQLiteAnalytics
    from trackyard.storage.sqlite.store import SQLiteStore

    if isinstance(store, SQLiteStore):
        return SQLiteAnalytics(store.path)
    raise BadRequest("the console and segmentation queries need the SQLite store for now")
