"""From a decoded body and a query string to parameters and raw records.

Real clients put `data` in every carrier there is (mixpanel-behavior.md §2.1):
the query string, a form body (base64 or plain JSON, sometimes with `+`
un-percent-encoded), a `text/plain` form body from `sendBeacon`, a JSON body
(object or array) and NDJSON. This module tells them apart by looking at the
bytes, not only at the Content-Type, because clients mislabel them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson

from trackyard.errors import BadRequest

_JSON_STARTS = (b"{", b"[")
_FORM_START = re.compile(rb"[\w$.%\[\]-]+=")


@dataclass(frozen=True)
class DecodedRequest:
    """Parameters from the query string and the form body, and the raw records."""

    params: Mapping[str, str]
    records: list[Any] = field(default_factory=list)
    # True when the records came in the legacy `data=` parameter (query or form).
    via_data_param: bool = False


def parse_query(query_string: str | bytes) -> dict[str, str]:
    if not query_string:
        return {}
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    return dict(parse_qsl(query_string, keep_blank_values=True))


def parse_form(body: bytes) -> dict[str, str]:
    if b"&" in body or not body.isascii():
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    # One ASCII field, as every SDK's `data=...`: what parse_qsl gives, in a
    # third of its time (tests/unit/test_decode.py compares them).
    if not body:
        return {}
    name, _, value = body.partition(b"=")
    return {_unquote_plus(name): _unquote_plus(value)}


def _unquote_plus(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")


def decode_json(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        repaired = _join_surrogate_pairs(raw) if isinstance(raw, bytes) else None
        if repaired is None:
            raise BadRequest(f"invalid JSON: {exc}") from exc
        return decode_json(repaired)


def _join_surrogate_pairs(raw: bytes) -> str | None:
    """Text from CESU-8 bytes: each half of a surrogate pair encoded on its own.

    mixpanel-browser's `utf8Encode` sends emoji this way (mixpanel-js#385);
    refusing it would drop the whole batch while the SDK counts it delivered.
    """
    try:
        text = raw.decode("utf-8", "surrogatepass")
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeError:
        return None


def decode_data_param(value: str) -> list[Any]:
    """The records in a `data` parameter: JSON, or base64 of JSON; object or array."""
    text = value.strip()
    if text.startswith(("{", "[")):
        return as_records(decode_json(text))
    return as_records(decode_json(_b64decode(text)))


def _b64decode(text: str) -> bytes:
    # Node and PHP send base64 without percent-encoding it, so a form parser
    # turns every `+` into a space (§2.1); padding is often missing.
    text = text.replace(" ", "+").replace("\n", "").replace("\r", "")
    text += "=" * (-len(text) % 4)
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        return base64.b64decode(text, altchars=altchars, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("data is neither JSON nor base64-encoded JSON") from exc


def as_records(decoded: Any) -> list[Any]:
    return decoded if isinstance(decoded, list) else [decoded]


def decode_ndjson(body: bytes) -> list[Any]:
    records = []
    for line_no, line in enumerate(body.splitlines(), start=1):
        if line.strip():
            try:
                records.append(decode_json(line))
            except BadRequest as exc:
                raise BadRequest(f"line {line_no}: {exc.message}") from exc
    return records


def request_params(query_string: str | bytes, body: bytes, content_type: str) -> dict[str, str]:
    """Query parameters merged with form fields: clients put `verbose`, `ip`,
    `api_key` and `data` in either place (§2.3). The query string wins."""
    return with_form_fields(parse_query(query_string), body, content_type)


def with_form_fields(
    query_params: dict[str, str], body: bytes, content_type: str
) -> dict[str, str]:
    """`request_params` for a query string already parsed."""
    if body.strip() and not _is_json_body(body, content_type):
        # Form fields, also for text/plain (sendBeacon) and unlabeled bodies.
        return {**parse_form(body), **query_params}
    return query_params


def _is_json_body(body: bytes, content_type: str) -> bool:
    """JSON or NDJSON: by its first character, or by its label whatever it starts
    with (an NDJSON body may open with a line that is not an object), unless
    it plainly is a mislabeled form (`name=...`)."""
    stripped = body.lstrip()
    if stripped.startswith(_JSON_STARTS):
        return True
    return "json" in content_type and not _FORM_START.match(stripped)


def decode_records(params: Mapping[str, str], body: bytes, content_type: str) -> DecodedRequest:
    """The raw records of a request whose parameters are already known."""
    stripped = body.lstrip()
    if stripped and _is_json_body(stripped, content_type):
        return DecodedRequest(params, _decode_json_body(stripped, content_type))
    if "data" not in params:
        return DecodedRequest(params, [])
    return DecodedRequest(params, decode_data_param(params["data"]), via_data_param=True)


def decode_request(query_string: str | bytes, body: bytes, content_type: str) -> DecodedRequest:
    """Parameters and raw records of a request."""
    return decode_records(request_params(query_string, body, content_type), body, content_type)


def _decode_json_body(body: bytes, content_type: str) -> list[Any]:
    if "ndjson" in content_type or "jsonlines" in content_type:
        return decode_ndjson(body)
    try:
        decoded = decode_json(body)
    except BadRequest:
        if body.startswith(b"{") and b"\n" in body.strip():
            # NDJSON sent without its content type.
            return decode_ndjson(body)
        raise
    return as_records(_unwrap_data_object(decoded))


def _unwrap_data_object(decoded: Any) -> Any:
    # The seed OpenAPI describes /track's JSON body as {"data": <event or list>}.
    if isinstance(decoded, dict) and set(decoded) == {"data"}:
        inner = decoded["data"]
        return decode_data_param(inner) if isinstance(inner, str) else inner
    return decoded
