"""/lookup-tables: list, replace from CSV, delete (§13)."""

from __future__ import annotations

from starlette.responses import Response

from trackyard.errors import NotFound
from trackyard.http.endpoint import Call, endpoint


@endpoint("api")
async def list_tables(call: Call) -> Response:
    raise NotFound("not implemented yet")


@endpoint("api")
async def replace_table(call: Call) -> Response:
    raise NotFound("not implemented yet")


@endpoint("api")
async def delete_table(call: Call) -> Response:
    raise NotFound("not implemented yet")
