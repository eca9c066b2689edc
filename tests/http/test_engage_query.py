"""/api/2.0/engage and /api/query/engage: pages pinned by session_id (§15)."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest

from tests.conftest import Harness
from trackyard.service.projects import NewProject


def update(harness: Harness, project: NewProject, path: str, records: list[dict[str, Any]]) -> None:
    for start in range(0, len(records), 2000):
        data = base64.b64encode(orjson.dumps(records[start : start + 2000])).decode()
        assert harness.client.post(path, data={"data": data}).text == "1"


def users(harness: Harness, project: NewProject, count: int) -> None:
    update(
        harness,
        project,
        "/engage",
        [
            {
                "$token": project.token,
                "$distinct_id": f"user-{i:05}",
                "$ignore_time": True,
                "$set": {"n": i, "plan": "pro" if i % 2 else "free"},
            }
            for i in range(count)
        ],
    )


def query(
    harness: Harness, project: NewProject, path: str = "/api/2.0/engage", **params: Any
) -> Any:
    response = harness.client.get(
        path,
        params={"project_id": project.project_id, **params},
        auth=(project.service_account.username, project.service_account.secret),
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_pages_of_1000_with_total(harness: Harness, project: NewProject) -> None:
    users(harness, project, 2500)
    first = query(harness, project)
    assert (first["page"], first["page_size"], first["total"], first["status"]) == (
        0,
        1000,
        2500,
        "ok",
    )
    assert len(first["results"]) == 1000
    assert first["results"][0] == {
        "$distinct_id": "user-00000",
        "$properties": {"n": 0, "plan": "free"},
    }
    last = query(harness, project, page=2, session_id=first["session_id"])
    assert [r["$distinct_id"] for r in last["results"]] == [
        f"user-{i:05}" for i in range(2000, 2500)
    ]


def test_pages_fetched_concurrently_come_from_one_snapshot(
    harness: Harness, project: NewProject
) -> None:
    users(harness, project, 3500)
    first = query(harness, project, path="/api/query/engage")
    # A profile written after page 0 does not shift or join the pinned result.
    update(
        harness,
        project,
        "/engage",
        [{"$token": project.token, "$distinct_id": "user-00000a", "$set": {}}],
    )
    with ThreadPoolExecutor(3) as pool:
        pages = list(
            pool.map(
                lambda p: query(harness, project, page=p, session_id=first["session_id"]), [1, 2, 3]
            )
        )
    ids = [r["$distinct_id"] for page in [first, *pages] for r in page["results"]]
    assert ids == [f"user-{i:05}" for i in range(3500)]
    assert {p["total"] for p in pages} == {3500}


def test_lookup_by_ids_and_output_properties(harness: Harness, project: NewProject) -> None:
    users(harness, project, 10)
    found = query(
        harness,
        project,
        distinct_ids='["user-00003","user-00007","nobody"]',
        output_properties='["n"]',
    )
    assert found["results"] == [
        {"$distinct_id": "user-00003", "$properties": {"n": 3}},
        {"$distinct_id": "user-00007", "$properties": {"n": 7}},
    ]
    assert query(harness, project, distinct_id="user-00001")["total"] == 1


def test_post_form_like_mixpanel_import(harness: Harness, project: NewProject) -> None:
    users(harness, project, 3)
    response = harness.client.post(
        "/api/query/engage",
        params={"project_id": project.project_id, "page": "0"},
        data={"distinct_ids": '["user-00001"]'},
        auth=(project.api_secret, ""),
    )
    assert [r["$distinct_id"] for r in response.json()["results"]] == ["user-00001"]


def test_group_profiles_by_group_key(harness: Harness, project: NewProject) -> None:
    update(
        harness,
        project,
        "/groups",
        [
            {"$token": project.token, "$group_key": "company", "$group_id": g, "$set": {"name": g}}
            for g in ("acme", "globex")
        ],
    )
    found = query(harness, project, data_group_id="company")
    assert [(r["$distinct_id"], r["$properties"]["name"]) for r in found["results"]] == [
        ("acme", "acme"),
        ("globex", "globex"),
    ]
    assert query(harness, project, data_group_id="team")["total"] == 0


def test_profiles_show_the_canonical_id(harness: Harness, project: NewProject) -> None:
    auth = "Basic " + base64.b64encode(f"{project.token}:".encode()).decode()
    event = {
        "event": "login",
        "properties": {
            "time": 1_700_000_000,
            "distinct_id": "alice",
            "$device_id": "d1",
            "$insert_id": "l1",
        },
    }
    harness.client.post(
        "/import",
        content=orjson.dumps([event]),
        headers={"content-type": "application/json", "authorization": auth},
    )
    update(
        harness,
        project,
        "/engage",
        [
            {"$token": project.token, "$distinct_id": "$device:d1", "$set": {"seen": "anon"}},
        ],
    )
    [only] = query(harness, project)["results"]
    assert only["$distinct_id"] == "alice"
    update(
        harness,
        project,
        "/engage",
        [{"$token": project.token, "$distinct_id": "alice", "$set": {"seen": "user"}}],
    )
    [only] = query(harness, project)["results"]
    assert (only["$distinct_id"], only["$properties"]["seen"]) == ("alice", "user")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"page": "1"}, "session_id"),
        ({"page": "1", "session_id": "nope"}, "unknown"),
        ({"page": "x"}, "whole number"),
        ({"distinct_ids": "user-1"}, "JSON array"),
        ({"filter_by_cohort": '{"id": 1}'}, "not supported"),
    ],
)
def test_bad_requests(
    harness: Harness, project: NewProject, params: dict[str, str], message: str
) -> None:
    response = harness.client.get("/api/2.0/engage", params=params, auth=(project.api_secret, ""))
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_sessions_belong_to_their_project(harness: Harness, project: NewProject) -> None:
    other = harness.new_project("Other")
    users(harness, project, 1)
    session = query(harness, project)["session_id"]
    response = harness.client.get(
        "/api/2.0/engage", params={"page": "0", "session_id": session}, auth=(other.api_secret, "")
    )
    assert response.status_code == 400
    assert harness.client.get("/api/2.0/engage", auth=(project.token, "")).status_code == 401


def test_where_over_profile_properties(harness: Harness, project: NewProject) -> None:
    users(harness, project, 30)
    found = query(harness, project, where='properties["plan"] == "pro" and properties["n"] < 10')
    assert [r["$properties"]["n"] for r in found["results"]] == [1, 3, 5, 7, 9]
    assert found["total"] == 5
