"""The live view: newest events, filtered by name and user, and what arrives next.

The page shows the newest events by event time; its script then polls the
feed for events stored after the newest position it knows (arrival order),
so events imported with old timestamps still show up as they arrive. Events
per minute counts events whose time falls in the last minute.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from trackyard.console.auth import Viewer, services_of
from trackyard.console.render import console_page, now_ms, render
from trackyard.http.responses import json_response
from trackyard.storage.analytics import AnalyticsReads, EventFilter, StoredEvent, analytics_for
from trackyard.whole_numbers import whole_number

PAGE_EVENTS = 50
FEED_EVENTS = 200
MINUTE_MS = 60_000
FUTURE_MS = 3_600_000  # clients' clocks run ahead; /import allows an hour


def _filters(request: Request) -> EventFilter:
    params = request.query_params
    return EventFilter(
        event=params.get("event", "").strip() or None,
        distinct_id=params.get("distinct_id", "").strip() or None,
    )


async def _per_minute(request: Request, reads: AnalyticsReads, project_id: int) -> int:
    now = now_ms(request)
    return await reads.count_events_between(project_id, now - MINUTE_MS, now + FUTURE_MS)


@console_page()
async def live_page(request: Request, viewer: Viewer) -> Response:
    reads = analytics_for(services_of(request).store)
    filters = _filters(request)
    position = await reads.last_position()
    context = {
        "viewer": viewer,
        "filters": filters,
        "events": await reads.newest_events(viewer.project.id, filters, PAGE_EVENTS),
        "position": position,
        "per_minute": await _per_minute(request, reads, viewer.project.id),
        "event_names": await reads.event_names(viewer.project.id),
    }
    return render(request, "live.html", context)


@console_page()
async def live_feed(request: Request, viewer: Viewer) -> Response:
    reads = analytics_for(services_of(request).store)
    after = request.query_params.get("after", "0")
    after_position = whole_number(after) or 0
    # Read the newest position first: anything stored later is scanned next time.
    newest = await reads.last_position()
    events = await reads.events_after(
        viewer.project.id, after_position, _filters(request), FEED_EVENTS
    )
    position = max([after_position, newest, *(e.position for e in events)])
    return json_response(
        {
            "position": position,
            "per_minute": await _per_minute(request, reads, viewer.project.id),
            "events": [_event_json(e) for e in events],
        },
        headers={"Cache-Control": "no-store"},
    )


def _event_json(event: StoredEvent) -> dict[str, Any]:
    return {
        "position": event.position,
        "event": event.event,
        "time_ms": event.time_ms,
        "distinct_id": event.distinct_id,
        "properties": event.properties,
    }
