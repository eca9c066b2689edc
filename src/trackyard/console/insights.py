"""Insights: event counts over time, for one or several events, split by a property.

The form is a GET, so the whole view (events, date range, unit, split,
filter) lives in the URL and can be shared. The numbers come from the same
code as `/api/query/segmentation` (service/segmentation.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from trackyard.console.auth import Viewer, services_of
from trackyard.console.render import console_page, now_ms, render
from trackyard.errors import BadRequest
from trackyard.service.segmentation import Series, Table, segmentation_query, tabulate
from trackyard.storage.analytics import analytics_for

DEFAULT_DAYS = 30
DEFAULT_TOP = 10


def _form(request: Request, names: list[str]) -> dict[str, Any]:
    """The form's values: what the URL says, else the last 30 days by day."""
    params = request.query_params
    today = datetime.fromtimestamp(now_ms(request) / 1000, UTC).date()
    events = [e for e in params.getlist("event") if e] or names[:1]
    return {
        "events": events,
        "from_date": params.get("from_date") or str(today - timedelta(days=DEFAULT_DAYS - 1)),
        "to_date": params.get("to_date") or str(today),
        "unit": params.get("unit") or "day",
        "type": params.get("type") or "general",
        "on": params.get("on", ""),
        "where": params.get("where", ""),
        "limit": params.get("limit") or str(DEFAULT_TOP),
    }


def _series_label(series: Series, several_events: bool) -> str:
    if series.key.segment is None:
        return series.key.event
    return f"{series.key.event} · {series.key.segment}" if several_events else series.key.segment


def chart_data(table: Table, several_events: bool) -> dict[str, Any]:
    return {
        "labels": table.labels,
        "datasets": [
            {"label": _series_label(s, several_events), "data": s.values} for s in table.series
        ],
    }


@console_page()
async def insights_page(request: Request, viewer: Viewer) -> Response:
    reads = analytics_for(services_of(request).store)
    names = await reads.event_names(viewer.project.id)
    form = _form(request, names)
    context: dict[str, Any] = {"viewer": viewer, "form": form, "event_names": names}
    context |= {"table": None, "chart": None, "error": "", "elapsed_ms": 0}
    if not form["events"]:
        return render(request, "insights.html", context)
    try:
        query = segmentation_query(_as_params(form), tuple(form["events"]))
    except BadRequest as exc:
        context["error"] = exc.message
        return render(request, "insights.html", context, 400)
    started = time.perf_counter()
    table = tabulate(query, await reads.segmentation(viewer.project.id, query))
    context["elapsed_ms"] = round((time.perf_counter() - started) * 1000)
    several = len(query.events) > 1
    context |= {"table": table, "chart": chart_data(table, several), "several": several}
    return render(request, "insights.html", context)


def _as_params(form: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str)}
