"""Per-record limits over HTTP (§11): each refused record is reported while its
neighbours are stored, and each limit is a setting defaulting to Mixpanel's value."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import NOW_MS, Harness
from trackyard.service.projects import NewProject
from trackyard.settings import Settings


def event(i: int, **props: Any) -> dict[str, Any]:
    base = {"time": NOW_MS // 1000, "distinct_id": "u", "$insert_id": f"i{i}"}
    return {"event": "e", "properties": {**base, **props}}


def import_(harness: Harness, project: NewProject, events: list[Any]) -> Any:
    auth = "Basic " + base64.b64encode(f"{project.token}:".encode()).decode()
    return harness.client.post("/import", json=events, headers={"authorization": auth})


def test_defaults_are_mixpanels_limits() -> None:
    s = Settings()
    assert (s.max_body_bytes, s.max_records_per_request) == (10 * 1024 * 1024, 2000)
    assert (s.max_record_bytes, s.max_properties, s.max_nesting_depth) == (1024 * 1024, 255, 3)
    assert (s.max_collection_items, s.max_string_chars) == (255, 255)
    assert (s.max_url_bytes, s.rate_limit_bytes_per_minute) == (64 * 1024, 2 * 1024**3)


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({f"p{i}": i for i in range(256)}, "more than 255 keys"),
        ({"deep": {"a": {"b": {"c": {"d": 1}}}}}, "nested deeper than 3"),
        ({"list": list(range(256))}, "more than 255 items"),
        (
            {"blob": "x" * 255, "many": ["y" * 255] * 250, "more": ["z" * 255] * 250}
            | {f"k{i}": ["w" * 255] * 200 for i in range(20)},
            "larger than 1048576 bytes",
        ),
    ],
    ids=["properties", "depth", "list", "size"],
)
def test_an_event_over_a_limit_is_reported_and_its_neighbours_stored(
    harness: Harness, project: NewProject, props: dict[str, Any], message: str
) -> None:
    response = import_(harness, project, [event(0), event(1, **props), event(2)])
    assert response.status_code == 400
    body = response.json()
    assert body["num_records_imported"] == 2
    [failed] = body["failed_records"]
    assert failed["index"] == 1 and message in failed["message"]
    assert len(harness.events(project.project_id)) == 2


def test_a_profile_update_over_1_mb_is_refused_and_its_neighbours_apply(
    harness: Harness, project: NewProject
) -> None:
    big = {"$token": project.token, "$distinct_id": "big", "$set": {"blob": ["x" * 250] * 4500}}
    small = {"$token": project.token, "$distinct_id": "small", "$set": {"a": 1}}
    response = harness.client.post("/engage", json=[big, small], params={"strict": "1"})
    body = response.json()
    assert body["num_good_events"] == 1
    assert "larger than 1048576 bytes" in body["failed_records"][0]["message"]
    assert harness.profile(project.project_id, "big") is None
    small_profile = harness.profile(project.project_id, "small")
    assert small_profile is not None and small_profile["a"] == 1
