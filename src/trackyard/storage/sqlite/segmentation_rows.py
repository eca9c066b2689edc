"""Segmentation evaluated per row in Python: plan 3 of segmentation.py.

Used only when SQL cannot give the exact answer: a `where` with parts that
have no SQL form, or an `on` other than a single property. The rows are still
chosen by the event-name and time index and the pushed-down part of `where`;
they stream from the cursor, so memory grows with the number of segments and
users, not of events.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import orjson

from trackyard.query import Row, evaluate, matches
from trackyard.service.time_buckets import bucket_start
from trackyard.storage.analytics import BucketCount, Segmentation, SegmentationQuery, SeriesKey
from trackyard.storage.sqlite.segmentation import event_scan, segment_label

_CANONICAL_USER = "COALESCE(l.canonical_id, e.distinct_id)"


@dataclass
class _Tally:
    """Events and distinct users of one series, per bucket and over the range."""

    events: dict[int, int] = field(default_factory=dict)
    users: dict[int, set[str]] = field(default_factory=dict)
    total_events: int = 0
    total_users: set[str] = field(default_factory=set)

    def add(self, bucket: int, user: str | None) -> None:
        self.events[bucket] = self.events.get(bucket, 0) + 1
        self.total_events += 1
        if user is not None:
            self.users.setdefault(bucket, set()).add(user)
            self.total_users.add(user)


def grouped_in_python(
    conn: sqlite3.Connection, project_id: int, query: SegmentationQuery
) -> Segmentation:
    scan = event_scan(project_id, query, with_users=True)
    count_users = query.counting != "general"
    rows = conn.execute(
        f"SELECT e.event, e.time_ms, {_CANONICAL_USER}, e.properties {scan.sql}", scan.params
    )
    tallies: dict[SeriesKey, _Tally] = {}
    for event, time_ms, user, properties in rows:
        row = Row(orjson.loads(properties), event=event, time_ms=time_ms)
        if scan.residual is not None and not matches(scan.residual, row):
            continue
        segment = None if query.on is None else segment_label(evaluate(query.on, row))
        tally = tallies.setdefault(SeriesKey(event, segment), _Tally())
        tally.add(bucket_start(query.unit, time_ms), user if count_users else None)
    return _top(tallies, query.limit)


def _top(tallies: dict[SeriesKey, _Tally], limit: int) -> Segmentation:
    """The `limit` segments of each event with the most events."""
    ranked = sorted(
        tallies.items(), key=lambda item: (-item[1].total_events, item[0].segment or "")
    )
    kept: dict[str, int] = {}
    found = Segmentation()
    for key, tally in ranked:
        kept[key.event] = kept.get(key.event, 0) + 1
        if kept[key.event] > limit:
            continue
        found.buckets[key] = {
            bucket: BucketCount(n, len(tally.users.get(bucket, ())))
            for bucket, n in tally.events.items()
        }
        found.totals[key] = BucketCount(tally.total_events, len(tally.total_users))
    return found
