from __future__ import annotations

import orjson

from tests.conftest import NOW_MS, Harness
from trackyard.service.projects import NewProject


def test_track_form_json_is_stored(harness: Harness, project: NewProject) -> None:
    event = {"event": "signup", "properties": {"token": project.token, "distinct_id": "u1"}}
    response = harness.client.post(
        "/track", data={"data": orjson.dumps(event).decode(), "verbose": "1"}
    )
    assert response.status_code == 200
    assert response.json() == {"error": None, "status": 1}
    [stored] = harness.events(project.project_id)
    assert stored["event"] == "signup"
    assert stored["properties"]["time"] == NOW_MS
    assert "token" not in stored["properties"]
