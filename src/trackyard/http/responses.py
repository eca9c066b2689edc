"""Every answer trackyard sends, in the dialect of the endpoint family.

* `classic`: /track, /engage, /groups and legacy form-mode /import (§3):
  `1`/`0`, verbose JSON, verbose=2 errors as 400, `img=1` pixel, `callback` JSONP.
* `import`: JSON-mode /import (§6.3): `{code, num_records_imported, status}`.
* `api`: lookup tables and other JSON APIs: `{code, error, status}`, plus
  `failed_records` when rows of a lookup-table CSV are refused (§13).

`error_response` is the only place where an error becomes an HTTP status.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from starlette.responses import Response

from trackyard.errors import (
    BadRequest,
    BatchRejected,
    Conflict,
    LookupValidationError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    StoreUnavailable,
    TrackyardError,
    Unauthorized,
)
from trackyard.service.ingest import BatchOutcome
from trackyard.validate.common import RecordError

Family = Literal["classic", "import", "api", "query"]

# A transparent 1x1 GIF for `img=1` (§2.4).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Names the JS SDK passes (`mixpanel._jsc[12345678]`, `(function(){})`); nothing else runs.
_CALLBACK_RE = re.compile(r"[\w$.\[\]()'\"{}]{1,256}")
_STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Request Entity Too Large",
    414: "URI Too Long",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
RATE_LIMITED = "Project exceeded rate limits. Please retry the request with exponential backoff."
FAILED_VALIDATION = "some data points in the request failed validation"


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


# Classic ---------------------------------------------------------------------


def classic_response(
    params: Mapping[str, str], ok: bool, error: str | None, extra: Mapping[str, Any] | None = None
) -> Response:
    """`1`/`0` in the form the client asked for (verbose, img, callback)."""
    verbose = params.get("verbose", "0")
    if params.get("img") == "1":
        return Response(PIXEL_GIF, media_type="image/gif", headers={"Cache-Control": "no-cache"})
    body: Any = 1 if ok else 0
    if verbose in ("1", "2") or extra:
        body = {"error": None if ok else error, "status": body, **(extra or {})}
    callback = params.get("callback", "")
    if callback and _CALLBACK_RE.fullmatch(callback):
        payload = orjson.dumps(body).decode()
        return Response(f"{callback}({payload})", media_type="text/javascript")
    if isinstance(body, int):
        return Response(str(body), media_type="text/plain")
    # verbose=2 turns a failure into an HTTP 400 (§2.4).
    return json_response(body, 400 if verbose == "2" and not ok else 200)


def classic_outcome(params: Mapping[str, str], outcome: BatchOutcome) -> Response:
    """`1` when at least one record was valid (§3); with strict=1, only when all were."""
    strict = params.get("strict") == "1"
    ok = outcome.accepted > 0 and not (strict and outcome.errors)
    error = outcome.errors[0].message if outcome.errors else "data, missing or empty"
    extra = None
    if strict:
        extra = {
            "num_good_events": outcome.accepted,
            "failed_records": [_failed_record(e) for e in outcome.errors],
        }
    return classic_response(params, ok, error, extra)


# /import ---------------------------------------------------------------------


def import_outcome(outcome: BatchOutcome) -> Response:
    if not outcome.errors:
        return json_response(
            {"code": 200, "num_records_imported": outcome.accepted, "status": "OK"}
        )
    return json_response(
        {
            "code": 400,
            "error": FAILED_VALIDATION,
            "status": "Bad Request",
            "num_records_imported": outcome.accepted,
            "failed_records": [_failed_record(e) for e in outcome.errors],
        },
        400,
    )


def _failed_record(error: RecordError) -> dict[str, Any]:
    # Mixpanel's docs disagree on the key name; both are sent (§6.3).
    return {
        "index": error.index,
        "$insert_id": error.insert_id,
        "insert_id": error.insert_id,
        "field": error.field,
        "message": error.message,
    }


# Errors ----------------------------------------------------------------------


def _status_of(exc: TrackyardError) -> int:
    for kind, status in (
        (BadRequest, 400),
        (Unauthorized, 401),
        (NotFound, 404),
        (RequestTimeout, 408),
        (Conflict, 409),
        (PayloadTooLarge, 413),
        (RateLimited, 429),
        (StoreUnavailable, 503),
    ):
        if isinstance(exc, kind):
            return status
    return 400


def error_status(exc: TrackyardError) -> int:
    """The status of an error, for answers rendered elsewhere (the console's pages)."""
    return _status_of(exc)


def api_error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": status, "error": message, "status": _STATUS_TEXT.get(status, "Error")}


def _error_headers(exc: TrackyardError, status: int, retry_after: int) -> dict[str, str] | None:
    if status in (429, 503):
        # SDKs that honour Retry-After (JS, Android, Swift) wait this long (§16).
        own = exc.retry_after if isinstance(exc, RateLimited) else None
        return {"Retry-After": str(own or retry_after)}
    if status == 408:
        # The client is too slow to finish its request: free the connection.
        return {"Connection": "close"}
    return None


def protocol_refusal(status: int, message: str) -> bytes:
    """A whole HTTP/1.1 answer for a request refused before routing (URL or
    headers too long, head too slow), when its endpoint family is not known yet:
    the `{code, error, status}` shape, and the connection is closed."""
    body = orjson.dumps(api_error_body(status, message))
    head = (
        f"HTTP/1.1 {status} {_STATUS_TEXT.get(status, 'Error')}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


def error_response(
    exc: TrackyardError,
    family: Family,
    params: Mapping[str, str],
    retry_after: int,
    request_target: str = "",
) -> Response:
    status = _status_of(exc)
    message = RATE_LIMITED if isinstance(exc, RateLimited) else exc.message
    headers = _error_headers(exc, status, retry_after)
    if family == "query":
        # Mixpanel's /api/2.0 errors name the request (§15, RMixpanel#7).
        return json_response({"request": request_target, "error": message}, status, headers)
    if family == "classic":
        if status == 400:
            # Bad data on these endpoints is a 200 with status 0: mobile SDKs
            # retry any non-2xx for hours (§0.3, §17).
            return classic_response(params, ok=False, error=message)
        return json_response({"error": message, "status": 0}, status, headers)
    body = api_error_body(status, message)
    if isinstance(exc, BatchRejected):
        body |= {"num_records_imported": 0, "failed_records": list(exc.failed_records)}
    if isinstance(exc, LookupValidationError):
        body["failed_records"] = [{"index": r.index, "message": r.message} for r in exc.failed_rows]
    return json_response(body, status, headers)
