"""/lookup-tables: list, replace from CSV, delete (mixpanel-behavior.md §13).

Auth is a service account or the project's API secret (§4). The project
token is refused: it is public (it ships in web pages), and it must not be
enough to read, overwrite or delete a project's tables. mixpanel-import's
extra parameters (`ip`, `verbose`, `strict`) are ignored.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from trackyard.errors import NotFound
from trackyard.http.endpoint import Call, endpoint
from trackyard.http.responses import json_response
from trackyard.storage.base import LookupTable
from trackyard.validate.lookup_csv import parse_lookup_csv

OK = {"code": 200, "status": "OK"}


@endpoint("api")
async def list_tables(call: Call) -> Response:
    project = await call.project(allow_token=False)
    tables = await call.services.store.list_lookup_tables(project.id)
    return json_response({**OK, "results": [_summary(table) for table in tables]})


@endpoint("api")
async def replace_table(call: Call) -> Response:
    project = await call.project(allow_token=False)
    table_id = call.request.path_params["table_id"]
    # Answer 404 before reading up to 100 MB of CSV for a table that is not there.
    if await call.services.store.lookup_table(project.id, table_id) is None:
        raise NotFound(f"Lookup table with id '{table_id}' was not found.")
    body = await call.body(call.services.settings.lookup_table_max_bytes)
    # Parsing a large CSV takes seconds: keep it off the event loop.
    content = await asyncio.to_thread(parse_lookup_csv, body)
    await call.services.store.replace_lookup_table(project.id, table_id, content)
    return json_response(OK)


@endpoint("api")
async def delete_table(call: Call) -> Response:
    project = await call.project(allow_token=False)
    await call.services.store.delete_lookup_table(project.id, call.request.path_params["table_id"])
    return json_response(OK)


def _summary(table: LookupTable) -> dict[str, Any]:
    """The seed OpenAPI's LookupTable schema; Mixpanel itself sends only id and name."""
    return {
        "id": table.id,
        "name": table.name,
        "rowCount": table.row_count,
        "columnCount": table.column_count,
        "createdAt": _rfc3339(table.created_ms),
        "lastModified": _rfc3339(table.updated_ms),
    }


def _rfc3339(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
