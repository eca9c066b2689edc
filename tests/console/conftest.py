"""The console and segmentation reads exist for the SQLite store only, so far
(trackyard.storage.analytics): under TRACKYARD_TEST_STORE=postgres these
suites are skipped, with that reason."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.conftest import Harness
from trackyard.service.projects import NewProject


@pytest.fixture(autouse=True)
def _sqlite_only() -> None:
    if os.environ.get("TRACKYARD_TEST_STORE") == "postgres":
        pytest.skip("the console's reads are implemented for the SQLite store only")


def at(moment: str) -> int:
    """Unix seconds of a UTC time written `2026-11-23T10:15:00`."""
    return int(datetime.fromisoformat(moment).replace(tzinfo=UTC).timestamp())


def event(name: str, moment: str, distinct_id: str, **props: Any) -> dict[str, Any]:
    insert_id = f"{name}-{moment}-{distinct_id}".replace(":", "-").replace(" ", "-")
    insert_id = "".join(c for c in insert_id if c.isalnum() or c == "-")[-36:]
    base = {"time": at(moment), "distinct_id": distinct_id, "$insert_id": insert_id}
    return {"event": name, "properties": {**base, **props}}


def import_events(harness: Harness, project: NewProject, *events: dict[str, Any]) -> None:
    auth = "Basic " + base64.b64encode(f"{project.token}:".encode()).decode()
    response = harness.client.post(
        "/import?strict=1",
        content=orjson.dumps(list(events)),
        headers={"content-type": "application/json", "authorization": auth},
    )
    assert response.status_code == 200, response.text
