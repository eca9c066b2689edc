"""The traffic `ingest_bench.py` sends: 2000-event /import bodies written to
files (JSON array, gzip, NDJSON), and the templates /track and /engage bodies
are made from, one distinct `$insert_id` or profile per request.

Each event looks like a web SDK's: ten properties, a URL, a float and a list.
"""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

EVENT_NAMES = ("Page View", "Button Clicked", "Search", "Purchase")
# wrk fills a 12-digit id in; base64 of digits never needs percent-encoding.
ID_DIGITS = 12


def event(tag: str, i: int, now_s: int, token: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "time": now_s - i % 3600,
        "distinct_id": f"user-{i % 5000}",
        "$insert_id": f"{tag}-{i}",
        "$browser": "Chrome",
        "$os": "Mac OS X",
        "$current_url": "https://example.com/pricing?utm_source=newsletter",
        "$screen_width": 1440,
        "plan": "pro",
        "amount": i * 1.25,
        "items": ["a", "b"],
    }
    if token is not None:
        props["token"] = token
    return {"event": EVENT_NAMES[i % len(EVENT_NAMES)], "properties": props}


def batch(tag: str, size: int, now_s: int) -> list[dict[str, Any]]:
    return [event(tag, i, now_s) for i in range(size)]


def encode_body(events: list[dict[str, Any]], variant: str) -> bytes:
    """One /import body: `json` (array), `gzip` (gzipped array) or `ndjson`."""
    if variant == "ndjson":
        return b"\n".join(orjson.dumps(e) for e in events) + b"\n"
    body = orjson.dumps(events)
    return gzip.compress(body, compresslevel=6) if variant == "gzip" else body


def write_import_bodies(directory: Path, variant: str, count: int, size: int, now_s: int) -> None:
    """`count` files `00000.body`...; every event of every file has its own $insert_id."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        events = batch(f"{variant}{n:05d}", size, now_s)
        (directory / f"{n:05d}.body").write_bytes(encode_body(events, variant))


def split_template(record: dict[str, Any], marker: str) -> tuple[str, str]:
    """`data=` form body halves around a 12-digit id, as percent-encoded base64.

    The JSON before the id is padded to a multiple of 3 bytes, so base64 of
    the whole is base64(prefix) + base64(id) + base64(suffix): wrk encodes only
    the id per request.
    """
    text = orjson.dumps(record).decode()
    head, tail = text.split(marker)
    head = " " * (-len(head) % 3) + head
    encode = lambda s: quote(base64.b64encode(s.encode()).decode(), safe="")  # noqa: E731
    return encode(head), encode(tail)


def track_template(token: str, now_s: int) -> tuple[str, str]:
    record = event("T", 7, now_s, token)
    record["properties"]["$insert_id"] = "@ID@"
    return split_template(record, "@ID@")


def engage_template(token: str) -> tuple[str, str]:
    record = {
        "$token": token,
        "$distinct_id": "@ID@",
        "$set": {"$email": "someone@example.com", "plan": "pro", "seats": 3},
    }
    return split_template(record, "@ID@")
