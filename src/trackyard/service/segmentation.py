"""Mixpanel's segmentation query (`/api/query/segmentation`) and the Insights page.

Parameters as Mixpanel's query API takes them: `event` (one name), `from_date`
and `to_date` (UTC days, inclusive), `unit` (hour, day, week, month; Mixpanel's
`minute` is not kept at that grain), `type` (general, unique, average), `on`
(a property expression to split by), `where` (a filter), `limit` (top
segments, default 60). The answer:

    {"data": {"series": ["2026-11-01", ...],
              "values": {"<event or segment>": {"2026-11-01": 3, ...}}},
     "legend_size": 1}

Every series date appears under every key, with 0 where nothing happened.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from trackyard.errors import BadRequest
from trackyard.service.params import day_range_ms, expression
from trackyard.service.time_buckets import DAY_MS, HOUR_MS, bucket_label, bucket_starts
from trackyard.storage.analytics import (
    COUNTINGS,
    UNITS,
    BucketCount,
    Counting,
    Segmentation,
    SegmentationQuery,
    SeriesKey,
    Unit,
)
from trackyard.whole_numbers import whole_number

DEFAULT_LIMIT = 60
MAX_LIMIT = 10_000
MAX_BUCKETS = 5_000  # e.g. 208 days of hours: past that a chart says nothing more
# The shortest length of each unit, to bound the buckets before making them.
_SHORTEST_MS = {"hour": HOUR_MS, "day": DAY_MS, "week": 7 * DAY_MS, "month": 28 * DAY_MS}


def segmentation_query(params: Mapping[str, str], events: tuple[str, ...]) -> SegmentationQuery:
    """The query `params` describe for `events`, or BadRequest naming the bad parameter."""
    from_ms, to_ms = day_range_ms(params)
    unit = cast(Unit, _choice(params, "unit", UNITS, "day"))
    if (to_ms - from_ms) // _SHORTEST_MS[unit] >= MAX_BUCKETS:
        raise BadRequest(f"more than {MAX_BUCKETS} {unit}s: choose a larger unit")
    return SegmentationQuery(
        events=events,
        from_ms=from_ms,
        to_ms=to_ms,
        unit=unit,
        counting=cast(Counting, _choice(params, "type", COUNTINGS, "general")),
        where=expression(params, "where"),
        on=expression(params, "on"),
        limit=_limit(params.get("limit")),
    )


def api_query(params: Mapping[str, str]) -> SegmentationQuery:
    event = params.get("event", "")
    if not event:
        raise BadRequest("event is a required parameter")
    # Mixpanel's answer has no totals: skip the pass that counts them.
    return dataclasses.replace(segmentation_query(params, (event,)), range_totals=False)


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(name) or default
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _limit(raw: str | None) -> int:
    if not raw:
        return DEFAULT_LIMIT
    limit = whole_number(raw)
    if limit is None or not 0 < limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return limit


# Results ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: its key, a value per bucket, and the range's total."""

    key: SeriesKey
    values: list[float]
    total: float

    @property
    def name(self) -> str:
        return self.key.event if self.key.segment is None else self.key.segment


@dataclass(frozen=True, slots=True)
class Table:
    labels: list[str]  # one per bucket, Mixpanel's date keys
    series: list[Series]  # by total, largest first


def measure(count: BucketCount | None, counting: Counting) -> float:
    """The number a query type reports for a bucket (0 where nothing happened)."""
    if count is None:
        return 0
    if counting == "general":
        return count.events
    if counting == "unique":
        return count.users
    return round(count.events / count.users, 3) if count.users else 0


def tabulate(query: SegmentationQuery, found: Segmentation) -> Table:
    starts = bucket_starts(query.unit, query.from_ms, query.to_ms)
    buckets = dict(found.buckets)
    if query.on is None:
        # An event that did not happen is a line of zeros, not a missing line.
        for event in query.events:
            buckets.setdefault(SeriesKey(event, None), {})
    series = [
        Series(
            key,
            [measure(counts.get(start), query.counting) for start in starts],
            measure(found.totals.get(key), query.counting),
        )
        for key, counts in buckets.items()
    ]
    series.sort(key=lambda s: (-s.total, s.key.event, s.key.segment or ""))
    return Table([bucket_label(query.unit, start) for start in starts], series)


def mixpanel_answer(table: Table) -> dict[str, Any]:
    values = {
        series.name: dict(zip(table.labels, map(_number, series.values), strict=True))
        for series in table.series
    }
    return {"data": {"series": table.labels, "values": values}, "legend_size": len(values)}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
