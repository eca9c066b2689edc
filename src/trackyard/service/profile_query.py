"""The engage query (mixpanel-behavior.md §15): profiles by id or expression, in pages.

Page 0 pins the result in a session; later pages, requested with that
`session_id` in any order or concurrently (mixpanel-utils fetches pages
1..N in parallel), read the same pinned result. `total` is the full match
count, as mixpanel-utils computes its page count from it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from trackyard.errors import BadRequest
from trackyard.service.params import expression, string_list
from trackyard.storage.base import ProfileQuery, Store
from trackyard.whole_numbers import whole_number

PAGE_SIZE = 1000


def profile_query(params: Mapping[str, str]) -> ProfileQuery:
    if params.get("filter_by_cohort") or params.get("behaviors"):
        raise BadRequest("cohorts and behaviors are not supported by trackyard")
    ids = string_list(params, "distinct_ids")
    if params.get("distinct_id"):
        ids = (*(ids or ()), params["distinct_id"])
    return ProfileQuery(
        # Mixpanel names a group type by a numeric id; trackyard by its group key.
        group_key=params.get("data_group_id") or None,
        distinct_ids=ids,
        where=expression(params),
    )


async def engage_page(store: Store, project_id: int, params: Mapping[str, str]) -> dict[str, Any]:
    page = _page(params)
    session_id = params.get("session_id") or ""
    if not session_id:
        if page:
            raise BadRequest("a page after the first needs the session_id of page 0")
        session_id = new_session_id()
        await store.snapshot_profiles(project_id, profile_query(params), session_id)
    found = await store.profile_page(project_id, session_id, page * PAGE_SIZE, PAGE_SIZE)
    if found is None:
        raise BadRequest(f"session_id {session_id!r} is unknown or has expired; start at page 0")
    wanted = string_list(params, "output_properties")
    return {
        "page": page,
        "page_size": PAGE_SIZE,
        "session_id": session_id,
        "status": "ok",
        "total": found.total,
        "results": [
            {"$distinct_id": distinct_id, "$properties": _select(props, wanted)}
            for distinct_id, props in found.rows
        ],
    }


def _page(params: Mapping[str, str]) -> int:
    raw = params.get("page") or "0"
    page = whole_number(raw)
    if page is None:
        raise BadRequest(f"page must be a whole number, not {raw!r}")
    # The row offset must fit SQLite's 64-bit integers (found by schemathesis).
    if page * PAGE_SIZE >= 2**63:
        raise BadRequest(f"page {page} is past any result")
    return page


def _select(props: dict[str, Any], wanted: tuple[str, ...] | None) -> dict[str, Any]:
    return props if wanted is None else {k: props[k] for k in wanted if k in props}


def new_session_id() -> str:
    return secrets.token_hex(12)
