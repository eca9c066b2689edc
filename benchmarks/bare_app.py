"""Ceiling (a): a bare ASGI app that decodes ingestion bodies exactly as
trackyard does (gzip inflated under the limit, form/JSON/NDJSON/base64 via
`trackyard.decode`) and discards them. Served like trackyard:

    uvicorn benchmarks.bare_app:app --loop uvloop --http httptools --workers 2
"""

from __future__ import annotations

from typing import Any

from trackyard.decode.body import inflate_bytes
from trackyard.decode.payload import decode_request

LIMIT = 10 * 1024 * 1024


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    headers = dict(scope["headers"])
    encoding = headers.get(b"content-encoding", b"").decode()
    body = inflate_bytes(b"".join(chunks), encoding, LIMIT)
    content_type = headers.get(b"content-type", b"").decode().lower()
    records = decode_request(scope["query_string"], body, content_type).records
    if scope["path"].startswith("/import"):
        answer = b'{"code":200,"num_records_imported":%d,"status":"OK"}' % len(records)
    else:
        answer = b"1"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": answer})
