"""Mixpanel's read APIs: raw export (§14) and the engage query (§15).

Both need a service account or the API secret: the public project token
never reads data back.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

from trackyard.http.endpoint import Call, endpoint
from trackyard.http.responses import json_response
from trackyard.service.export import export_lines, export_query
from trackyard.service.profile_query import engage_page


@endpoint("query")
async def export(call: Call) -> Response:
    project = await call.project(allow_token=False)
    query = export_query(call.params)
    lines = export_lines(call.services.store, project.id, query)
    headers = {}
    if "gzip" in call.request.headers.get("accept-encoding", "").lower():
        lines, headers = _gzip(lines), {"Content-Encoding": "gzip"}
    return StreamingResponse(lines, media_type="text/plain; charset=utf-8", headers=headers)


@endpoint("query")
async def engage(call: Call) -> Response:
    # mixpanel-import POSTs a form with `where` in the body and `page`/`session_id`
    # in the query string; mixpanel-utils sends a GET (§2.3, §15).
    await call.decoded()
    project = await call.project(allow_token=False)
    return json_response(await engage_page(call.services.store, project.id, call.params))


async def _gzip(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    async for chunk in chunks:
        if compressed := compressor.compress(chunk):
            yield compressed
    yield compressor.flush()
