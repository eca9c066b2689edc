"""Raw event export (mixpanel-behavior.md §14): parameters in, NDJSON lines out.

The store streams rows already shaped for export (canonical distinct_id after
identity merge, `time` in seconds or milliseconds); this module checks the
request's parameters and frames each row as one JSON line, in constant memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import orjson

from trackyard.errors import BadRequest
from trackyard.service.params import day_range_ms, expression, string_list
from trackyard.storage.base import ExportQuery, Store
from trackyard.whole_numbers import whole_number

MAX_LIMIT = 100_000
DAY_MS = 86_400_000


def export_query(params: Mapping[str, str]) -> ExportQuery:
    """The query a request's parameters describe, or BadRequest naming the bad one."""
    from_ms, to_ms = day_range_ms(params)
    return ExportQuery(
        from_ms=from_ms,
        to_ms=to_ms,
        event_names=string_list(params, "event"),
        where=expression(params),
        limit=_limit(params.get("limit")),
        time_in_ms=params.get("time_in_ms", "").lower() in ("true", "1"),
    )


def _limit(raw: str | None) -> int | None:
    if not raw:
        return None
    limit = whole_number(raw)
    if limit is None or not 0 < limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return limit


async def export_lines(store: Store, project_id: int, query: ExportQuery) -> AsyncIterator[bytes]:
    """One `{"event": ..., "properties": {...}}` line per event, in time order."""
    async for rows in store.export_events(project_id, query):
        yield b"".join(_line(name, properties) for name, properties in rows)


def _line(name: str, properties: str) -> bytes:
    return b'{"event":' + orjson.dumps(name) + b',"properties":' + properties.encode() + b"}\n"
