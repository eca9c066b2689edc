"""`/api/query/segmentation`: Mixpanel's segmentation query (service/segmentation.py).

Like the other read APIs it needs a service account or the API secret; the
public project token never reads data back.
"""

from __future__ import annotations

from starlette.responses import Response

from trackyard.http.endpoint import Call, endpoint
from trackyard.http.responses import json_response
from trackyard.service.segmentation import api_query, mixpanel_answer, tabulate
from trackyard.storage.analytics import analytics_for


@endpoint("query")
async def segmentation(call: Call) -> Response:
    project = await call.project(allow_token=False)
    query = api_query(call.params)
    found = await analytics_for(call.services.store).segmentation(project.id, query)
    return json_response(mixpanel_answer(tabulate(query, found)))
