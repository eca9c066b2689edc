"""Lookup tables: list, create, upload a CSV, preview rows.

An upload goes through the same parser as `PUT /lookup-tables/{id}`
(validate/lookup_csv.py) and, when rows fail, shows the very body the API
would answer, rendered by the same function (http/responses.py).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from trackyard.console.auth import Viewer, services_of
from trackyard.console.render import console_page, form_of, redirect, render
from trackyard.errors import BadRequest, NotFound, TrackyardError
from trackyard.http.responses import error_response
from trackyard.validate.lookup_csv import parse_lookup_csv

PREVIEW_ROWS = 50
MAX_NAME_CHARS = 255
MULTIPART_SLACK = 64 * 1024  # the form's boundaries and headers around the file


def upload_limit(request: Request) -> int:
    return services_of(request).settings.lookup_table_max_bytes + MULTIPART_SLACK


@console_page()
async def tables_page(request: Request, viewer: Viewer) -> Response:
    tables = await services_of(request).store.list_lookup_tables(viewer.project.id)
    return render(request, "lookup_tables.html", {"viewer": viewer, "tables": tables, "error": ""})


@console_page()
async def create_table(request: Request, viewer: Viewer) -> Response:
    store = services_of(request).store
    name = str((await form_of(request)).get("name", "")).strip()
    if not name or len(name) > MAX_NAME_CHARS:
        tables = await store.list_lookup_tables(viewer.project.id)
        context = {"viewer": viewer, "tables": tables, "error": "A table needs a name."}
        return render(request, "lookup_tables.html", context, 400)
    table_id = str(uuid.uuid4())
    await store.create_lookup_table(viewer.project.id, table_id, name)
    return redirect(f"/console/lookup-tables/{table_id}")


async def _table_context(request: Request, viewer: Viewer) -> dict[str, Any]:
    store = services_of(request).store
    table_id = request.path_params["table_id"]
    table = await store.lookup_table(viewer.project.id, table_id)
    if table is None:
        raise NotFound(f"Lookup table with id '{table_id}' was not found.")
    rows = await store.lookup_table_rows(viewer.project.id, table_id, PREVIEW_ROWS)
    header = list(rows[0][1]) if rows else []
    return {"viewer": viewer, "table": table, "rows": rows, "header": header, "report": None}


@console_page()
async def table_page(request: Request, viewer: Viewer) -> Response:
    context = await _table_context(request, viewer)
    context["uploaded"] = request.query_params.get("uploaded") == "1"
    return render(request, "lookup_table.html", context)


@console_page(max_body=upload_limit)
async def upload_csv(request: Request, viewer: Viewer) -> Response:
    context = await _table_context(request, viewer)
    upload = (await form_of(request)).get("csv")
    if not isinstance(upload, UploadFile):
        raise BadRequest("choose a CSV file to upload")
    body = await upload.read()
    try:
        content = await asyncio.to_thread(parse_lookup_csv, body)
    except BadRequest as exc:
        context |= {"report": _api_report(request, exc), "uploaded": False}
        return render(request, "lookup_table.html", context, 400)
    table = context["table"]
    await services_of(request).store.replace_lookup_table(viewer.project.id, table.id, content)
    return redirect(f"/console/lookup-tables/{table.id}?uploaded=1")


def _api_report(request: Request, exc: TrackyardError) -> dict[str, Any]:
    """What `PUT /lookup-tables/{id}` would have answered for this CSV."""
    retry_after = services_of(request).settings.retry_after_seconds
    answer = error_response(exc, "api", {}, retry_after)
    report: dict[str, Any] = orjson.loads(answer.body)
    return report
