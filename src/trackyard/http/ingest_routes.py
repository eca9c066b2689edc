"""/track, /engage, /groups and /import."""

from __future__ import annotations

from starlette.responses import Response

from trackyard.http.endpoint import Call, endpoint
from trackyard.http.monitoring import count_outcome
from trackyard.http.responses import classic_outcome, import_outcome
from trackyard.validate.profiles import Kind


@endpoint("classic")
async def track(call: Call) -> Response:
    decoded = await call.decoded()
    # Authorization is ignored here: the token in each event decides (§4).
    outcome = await call.services.ingest.track(decoded.records, size=call.received_bytes)
    count_outcome(call.request, "events", outcome)
    return classic_outcome(call.params, outcome)


@endpoint("classic")
async def engage(call: Call) -> Response:
    return await _update_profiles(call, "user")


@endpoint("classic")
async def groups(call: Call) -> Response:
    return await _update_profiles(call, "group")


async def _update_profiles(call: Call, kind: Kind) -> Response:
    decoded = await call.decoded()
    size = call.received_bytes
    outcome = await call.services.ingest.update_profiles(kind, decoded.records, size=size)
    count_outcome(call.request, "profiles", outcome)
    return classic_outcome(call.params, outcome)


@endpoint("import")
async def import_events(call: Call) -> Response:
    decoded = await call.decoded()
    # Form `data=` bodies (Python, Ruby, Node, Go $merge) and strict=0 are
    # answered like /track; JSON bodies get the strict dialect (§6.4).
    legacy = decoded.via_data_param or call.params.get("strict") == "0"
    if legacy:
        call.family = "classic"
    project = await call.project()
    outcome = await call.services.ingest.import_events(
        project, decoded.records, strict=not legacy, size=call.received_bytes
    )
    count_outcome(call.request, "events", outcome)
    return classic_outcome(call.params, outcome) if legacy else import_outcome(outcome)
