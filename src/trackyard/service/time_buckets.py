"""Time buckets of segmentation queries: UTC hours, days, weeks (from Monday), months.

A bucket is named by its first millisecond; `bucket_label` gives the key
Mixpanel's segmentation API uses (`2026-11-26`, or `2026-11-26 13:00:00` for
hours). The SQL of storage/sqlite/segmentation.py computes the same starts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from trackyard.storage.analytics import Unit

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
_MONDAY_SHIFT_MS = 3 * DAY_MS  # 1970-01-01 was a Thursday
_FIXED_MS = {"hour": HOUR_MS, "day": DAY_MS}


def bucket_start(unit: Unit, time_ms: int) -> int:
    if unit in _FIXED_MS:
        return time_ms - time_ms % _FIXED_MS[unit]
    if unit == "week":
        return time_ms - (time_ms + _MONDAY_SHIFT_MS) % WEEK_MS
    moment = _utc(time_ms)
    return _ms(datetime(moment.year, moment.month, 1, tzinfo=UTC))


def bucket_starts(unit: Unit, from_ms: int, to_ms: int) -> list[int]:
    """Every bucket that overlaps [from_ms, to_ms), in order."""
    starts = []
    start = bucket_start(unit, from_ms)
    while start < to_ms:
        starts.append(start)
        start = next_bucket(unit, start)
    return starts


def next_bucket(unit: Unit, start: int) -> int:
    if unit in _FIXED_MS:
        return start + _FIXED_MS[unit]
    if unit == "week":
        return start + WEEK_MS
    moment = _utc(start)
    year, month = divmod(moment.month, 12)
    return _ms(datetime(moment.year + year, month + 1, 1, tzinfo=UTC))


def bucket_label(unit: Unit, start: int) -> str:
    moment = _utc(start)
    if unit == "hour":
        return moment.strftime("%Y-%m-%d %H:00:00")
    return moment.strftime("%Y-%m-%d")


def _utc(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000, UTC)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000
