"""Profiles and groups: search, and one profile's properties and recent events.

Search takes a distinct_id (or its beginning) and/or a segmentation
expression over profile properties. Profiles are shown under their canonical
id after identity merge, and a user's events include those sent under any id
merged into it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from trackyard.console.auth import Viewer, services_of
from trackyard.console.render import console_page, render
from trackyard.errors import BadRequest
from trackyard.service.params import expression
from trackyard.storage.analytics import EventFilter, ProfileSearch, analytics_for
from trackyard.storage.base import ProfileQuery

RESULTS = 50
RECENT_EVENTS = 50


def _search(request: Request, group_key: str | None) -> ProfileSearch:
    params = request.query_params
    return ProfileSearch(
        ProfileQuery(group_key=group_key, where=expression(params)),
        id_prefix=params.get("q", "").strip(),
        limit=RESULTS,
    )


@console_page()
async def profiles_page(request: Request, viewer: Viewer) -> Response:
    reads = analytics_for(services_of(request).store)
    context = {"viewer": viewer, "q": request.query_params.get("q", "")}
    context["where"] = request.query_params.get("where", "")
    try:
        results = await reads.find_profiles(viewer.project.id, _search(request, None))
    except BadRequest as exc:
        return render(
            request, "profiles.html", {**context, "results": [], "error": exc.message}, 400
        )
    return render(request, "profiles.html", {**context, "results": results, "error": ""})


@console_page()
async def profile_page(request: Request, viewer: Viewer) -> Response:
    services = services_of(request)
    distinct_id = request.query_params.get("distinct_id", "")
    found = await analytics_for(services.store).find_profiles(
        viewer.project.id, ProfileSearch(ProfileQuery(distinct_ids=(distinct_id,)), limit=1)
    )
    events = await analytics_for(services.store).newest_events(
        viewer.project.id, EventFilter(distinct_id=distinct_id), RECENT_EVENTS
    )
    context = {
        "viewer": viewer,
        "distinct_id": distinct_id,
        "properties": found[0][1] if found else None,
        "events": events,
    }
    return render(request, "profile.html", context)


@console_page()
async def groups_page(request: Request, viewer: Viewer) -> Response:
    reads = analytics_for(services_of(request).store)
    keys = await reads.group_keys(viewer.project.id)
    key = request.query_params.get("key") or (keys[0] if keys else "")
    context = {"viewer": viewer, "keys": keys, "key": key, "q": request.query_params.get("q", "")}
    context["where"] = request.query_params.get("where", "")
    if not key:
        return render(request, "groups.html", {**context, "results": [], "error": ""})
    try:
        results = await reads.find_profiles(viewer.project.id, _search(request, key))
    except BadRequest as exc:
        return render(request, "groups.html", {**context, "results": [], "error": exc.message}, 400)
    return render(request, "groups.html", {**context, "results": results, "error": ""})


@console_page()
async def group_page(request: Request, viewer: Viewer) -> Response:
    reads = analytics_for(services_of(request).store)
    key = request.query_params.get("key", "")
    group_id = request.query_params.get("id", "")
    properties = await services_of(request).store.profile(viewer.project.id, (key, group_id))
    events = await reads.group_events(viewer.project.id, key, group_id, RECENT_EVENTS)
    context = {"viewer": viewer, "key": key, "group_id": group_id}
    return render(request, "group.html", {**context, "properties": properties, "events": events})
