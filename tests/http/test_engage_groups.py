"""/engage and /groups: carriers, operations end to end, record errors (§7, §8)."""

from __future__ import annotations

import base64
import gzip
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from tests.conftest import Harness
from trackyard.service.projects import NewProject


def user(project: NewProject, distinct_id: str = "u1", **ops: Any) -> dict[str, Any]:
    return {"$token": project.token, "$distinct_id": distinct_id, "$ignore_time": True, **ops}


def group(project: NewProject, **ops: Any) -> dict[str, Any]:
    return {"$token": project.token, "$group_key": "company", "$group_id": "acme", **ops}


def send(harness: Harness, path: str, records: Any, **params: str) -> Any:
    data = base64.b64encode(orjson.dumps(records)).decode()
    return harness.client.post(path, params={"verbose": "1", **params}, data={"data": data})


def test_operations_in_sequence(harness: Harness, project: NewProject) -> None:
    updates = [
        user(project, **{"$set": {"plan": "free", "tags": ["a"]}}),
        user(project, **{"$set_once": {"plan": "pro", "first": "web"}}),
        user(project, **{"$add": {"logins": 1}}),
        user(project, **{"$add": {"logins": 2}}),
        user(project, **{"$append": {"tags": "a"}}),
        user(project, **{"$union": {"tags": ["b", "a"]}}),
        user(project, **{"$remove": {"tags": "a"}}),
        user(project, **{"$unset": ["first"]}),
    ]
    assert send(harness, "/engage", updates).json() == {"error": None, "status": 1}
    assert harness.profile(project.project_id, "u1") == {"plan": "free", "tags": ["b"], "logins": 3}


def test_delete(harness: Harness, project: NewProject) -> None:
    send(
        harness, "/engage", [user(project, **{"$set": {"a": 1}}), user(project, **{"$delete": ""})]
    )
    assert harness.profile(project.project_id, "u1") is None


def test_last_seen_from_time(harness: Harness, project: NewProject) -> None:
    update = {"$token": project.token, "$distinct_id": "u2", "$time": 1_700_000_000_000, "$set": {}}
    send(harness, "/engage", update)
    assert harness.profile(project.project_id, "u2") == {"$last_seen": "2023-11-14T22:13:20"}


def test_type_conflict_is_a_record_error_and_others_apply(
    harness: Harness, project: NewProject
) -> None:
    updates = [
        user(project, **{"$set": {"name": "Ann"}}),
        user(project, **{"$add": {"name": 1}}),
        user(project, **{"$set": {"ok": True}}),
    ]
    response = send(harness, "/engage", updates, strict="1")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == 0 and body["num_good_events"] == 2
    assert body["failed_records"][0]["index"] == 1
    assert "non-numeric" in body["failed_records"][0]["message"]
    assert harness.profile(project.project_id, "u1") == {"name": "Ann", "ok": True}


def test_missing_distinct_id_message(harness: Harness, project: NewProject) -> None:
    response = send(harness, "/engage", {"$token": project.token, "$set": {"a": 1}})
    assert response.json() == {"error": "$distinct_id, missing or empty", "status": 0}
    response = send(harness, "/engage", {"$token": project.token, "$set": {"a": 1}}, verbose="2")
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/engage/", "/engage"])
def test_json_body_and_get(harness: Harness, project: NewProject, path: str) -> None:
    response = harness.client.post(
        path,
        content=orjson.dumps([user(project, **{"$set": {"via": "json"}})]),
        headers={"content-type": "application/json"},
    )
    assert response.text == "1"
    data = base64.b64encode(orjson.dumps(user(project, "u9", **{"$set": {"via": "get"}})))
    assert harness.client.get(path, params={"data": data.decode(), "ip": "0"}).text == "1"
    assert harness.profile(project.project_id, "u1") == {"via": "json"}
    assert harness.profile(project.project_id, "u9") == {"via": "get"}


def test_gzip_form(harness: Harness, project: NewProject) -> None:
    data = base64.b64encode(orjson.dumps([user(project, **{"$set": {"z": 1}})])).decode()
    response = harness.client.post(
        "/engage",
        content=gzip.compress(f"data={quote(data)}".encode()),
        headers={"content-encoding": "gzip", "content-type": "application/x-www-form-urlencoded"},
    )
    assert response.text == "1"
    assert harness.profile(project.project_id, "u1") == {"z": 1}


def test_groups(harness: Harness, project: NewProject) -> None:
    updates = [
        group(project, **{"$set": {"name": "Acme", "tier": 1}}),
        group(project, **{"$set_once": {"name": "Other", "founded": 1999}}),
        group(project, **{"$union": {"domains": ["acme.com", "acme.com"]}}),
        group(project, **{"$remove": {"domains": "acme.com"}}),
        group(project, **{"$unset": ["tier"]}),
    ]
    assert send(harness, "/groups", updates).json() == {"error": None, "status": 1}
    stored = harness.profile(project.project_id, "company", "acme")
    assert stored is not None
    assert {k: v for k, v in stored.items() if k != "$last_seen"} == {
        "name": "Acme",
        "founded": 1999,
        "domains": [],
    }
    send(harness, "/groups", group(project, **{"$delete": None}))
    assert harness.profile(project.project_id, "company", "acme") is None


def test_group_needs_its_key(harness: Harness, project: NewProject) -> None:
    response = send(harness, "/groups", {"$token": project.token, "$group_id": "x", "$set": {}})
    assert response.json() == {"error": "$group_key, missing or empty", "status": 0}


def test_profiles_are_per_project(harness: Harness, project: NewProject) -> None:
    other = harness.new_project("Other")
    send(
        harness,
        "/engage",
        [user(project, **{"$set": {"p": "A"}}), user(other, **{"$set": {"p": "B"}})],
    )
    assert harness.profile(project.project_id, "u1") == {"p": "A"}
    assert harness.profile(other.project_id, "u1") == {"p": "B"}
