"""Parameters the read APIs share: UTC date ranges, JSON lists, `where` expressions.

Each parser answers BadRequest naming the parameter, so that a bad request
is refused before anything is read or streamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import orjson

from trackyard.errors import BadRequest
from trackyard.query import Expr, InvalidExpression, parse


def day_range_ms(params: Mapping[str, str]) -> tuple[int, int]:
    """`from_date`..`to_date`, both inclusive, in UTC (§14), as [start, end) in ms."""
    first, last = _day(params, "from_date"), _day(params, "to_date")
    if last < first:
        raise BadRequest("to_date must not be before from_date")
    if last == date.max:
        raise BadRequest("to_date must be before 9999-12-31")
    return _day_start_ms(first), _day_start_ms(last + timedelta(days=1))


def _day(params: Mapping[str, str], name: str) -> date:
    raw = params.get(name)
    if not raw:
        raise BadRequest(f"{name} is a required parameter")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date as yyyy-mm-dd, not {raw!r}") from None


def _day_start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000


def string_list(params: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    """A parameter holding a JSON array of strings, e.g. `event=["Signed Up"]`."""
    raw = params.get(name)
    if not raw:
        return None
    try:
        values = orjson.loads(raw)
    except orjson.JSONDecodeError:
        values = None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(f'{name} must be a JSON array of strings, e.g. ["a", "b"]')
    return tuple(values)


def expression(params: Mapping[str, str], name: str = "where") -> Expr | None:
    """A parsed segmentation expression; a bad one names the parameter and the position."""
    source = params.get(name, "")
    try:
        return parse(source) if source.strip() else None
    except InvalidExpression as exc:
        raise BadRequest(f"{name}: {exc.message}") from None
