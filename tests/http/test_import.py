"""/import: JSON, NDJSON, gzip, legacy form, strict answers, and every credential (§4, §6)."""

from __future__ import annotations

import base64
import gzip
from typing import Any

import orjson
import pytest

from tests.conftest import NOW_MS, Harness
from trackyard.service.projects import NewProject

JSON = {"content-type": "application/json"}


def event(i: int = 0, **props: Any) -> dict[str, Any]:
    base = {"time": 1_600_000_000 + i, "distinct_id": f"u{i}", "$insert_id": f"id-{i}"}
    return {"event": "Imported", "properties": {**base, **props}}


def basic(username: str, password: str = "") -> dict[str, str]:
    return {
        "authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    }


def sa(project: NewProject) -> dict[str, str]:
    return basic(project.service_account.username, project.service_account.secret)


def post(harness: Harness, body: bytes, headers: dict[str, str], **params: str) -> Any:
    return harness.client.post("/import", params=params, content=body, headers=headers)


def test_json_array_with_service_account(harness: Harness, project: NewProject) -> None:
    body = orjson.dumps([event(i) for i in range(5)])
    response = post(
        harness, body, {**JSON, **sa(project)}, strict="1", project_id=str(project.project_id)
    )
    assert response.status_code == 200
    assert response.json() == {"code": 200, "num_records_imported": 5, "status": "OK"}
    stored = harness.events(project.project_id)
    assert len(stored) == 5
    assert stored[0]["properties"]["$import"] is True
    assert stored[0]["properties"]["time"] == 1_600_000_000_000
    assert stored[0]["properties"]["$mp_api_timestamp_ms"] == NOW_MS


@pytest.mark.parametrize("project_id", ["¹", "x", "999"])
def test_a_project_id_the_account_cannot_use_is_401(
    harness: Harness, project: NewProject, project_id: str
) -> None:
    # "¹" passes str.isdigit() but not int(): it was a 500 (found by schemathesis).
    body = orjson.dumps([event(0)])
    response = post(harness, body, {**JSON, **sa(project)}, strict="1", project_id=project_id)
    assert response.status_code == 401
    assert harness.events(project.project_id) == []


def test_ndjson_gzip_with_token_auth(harness: Harness, project: NewProject) -> None:
    body = gzip.compress(b"\n".join(orjson.dumps(event(i)) for i in range(3)))
    headers = {
        "content-type": "application/x-ndjson",
        "content-encoding": "gzip",
        **basic(project.token),
    }
    assert post(harness, body, headers, strict="1").json()["num_records_imported"] == 3


def test_duplicates_count_as_imported_but_are_stored_once(
    harness: Harness, project: NewProject
) -> None:
    body = orjson.dumps([event(1), event(1), event(2)])
    for _ in range(2):
        assert (
            post(harness, body, {**JSON, **basic(project.token)}).json()["num_records_imported"]
            == 3
        )
    assert len(harness.events(project.project_id)) == 2


def test_partial_success_reports_failed_records(harness: Harness, project: NewProject) -> None:
    bad_time = event(1, time=NOW_MS / 1000 + 7200)
    body = orjson.dumps([event(0), bad_time, event(2), {"event": "x"}])
    response = post(harness, body, {**JSON, **basic(project.token)}, strict="1")
    assert response.status_code == 400
    body_json = response.json()
    assert body_json["code"] == 400 and body_json["status"] == "Bad Request"
    assert body_json["error"] == "some data points in the request failed validation"
    assert body_json["num_records_imported"] == 2
    first = body_json["failed_records"][0]
    assert first == {
        "index": 1,
        "$insert_id": "id-1",
        "insert_id": "id-1",
        "field": "properties.time",
        "message": "'properties.time' is invalid: must not be more than 1 hour in the future",
    }
    assert [r["index"] for r in body_json["failed_records"]] == [1, 3]
    assert len(harness.events(project.project_id)) == 2  # the valid ones are kept


def test_strict_0_answers_like_track(harness: Harness, project: NewProject) -> None:
    body = orjson.dumps([event(0), {"event": ""}])
    response = post(harness, body, {**JSON, **basic(project.token)}, strict="0")
    assert response.text == "1"


def test_legacy_form_with_api_secret_answers_like_track(
    harness: Harness, project: NewProject
) -> None:
    # Python's import_data with an api_secret: Basic secret: plus api_key form field (§17).
    data = orjson.dumps([event(0)]).decode()
    response = harness.client.post(
        "/import",
        data={"data": data, "verbose": "1", "api_key": project.api_secret},
        headers=basic(project.api_secret),
    )
    assert response.json() == {"error": None, "status": 1}
    assert len(harness.events(project.project_id)) == 1


@pytest.mark.parametrize(
    "credentials",
    [
        lambda p: ({**sa(p)}, {"project_id": str(p.project_id)}),
        lambda p: ({**sa(p)}, {}),  # the account has one project
        lambda p: (basic(p.token), {}),
        lambda p: (basic(p.token), {"project_id": str(p.project_id)}),  # mixpanel-import
        lambda p: (basic(p.api_secret), {}),
        lambda p: ({"authorization": f"Basic {p.token}"}, {}),  # plain text, docs' curl
        lambda p: (
            {"authorization": f"Basic {p.service_account.username}:{p.service_account.secret}"},
            {},
        ),
        lambda p: ({"authorization": f"Bearer {p.api_secret}"}, {}),
        lambda p: ({}, {"api_key": p.api_secret}),
        lambda p: ({}, {"api_key": p.token}),
    ],
)
def test_accepted_credentials(harness: Harness, project: NewProject, credentials: Any) -> None:
    headers, params = credentials(project)
    response = post(harness, orjson.dumps([event()]), {**JSON, **headers}, **params)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "credentials",
    [
        lambda p, o: ({}, {}),
        lambda p, o: (basic("nobody", "nothing"), {}),
        lambda p, o: (basic(p.service_account.username, "wrong"), {}),
        lambda p, o: (sa(p), {"project_id": str(o.project_id)}),  # another project's id
        lambda p, o: (basic(p.token), {"project_id": str(o.project_id)}),
        lambda p, o: (sa(p), {"project_id": "not-a-number"}),
        lambda p, o: ({"authorization": "Bearer nope"}, {}),
        lambda p, o: ({"authorization": "Basic %%%"}, {}),
    ],
)
def test_refused_credentials(harness: Harness, project: NewProject, credentials: Any) -> None:
    other = harness.new_project("Other")
    headers, params = credentials(project, other)
    response = post(harness, orjson.dumps([event()]), {**JSON, **headers}, **params)
    assert response.status_code == 401
    assert response.json() == {
        "code": 401,
        "error": "Invalid credentials",
        "status": "Unauthorized",
    }
    assert harness.events(project.project_id) == harness.events(other.project_id) == []


def test_legacy_form_with_bad_credentials_is_401_status_0(harness: Harness) -> None:
    response = harness.client.post("/import", data={"data": "[]", "verbose": "1"})
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid credentials", "status": 0}


def test_too_large_body_is_413(harness: Harness, project: NewProject) -> None:
    huge = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    response = post(
        harness, gzip.compress(huge), {**JSON, "content-encoding": "gzip", **basic(project.token)}
    )
    assert response.status_code == 413
    assert response.json() == {
        "code": 413,
        "error": "request exceeds max limit of 10485760 bytes",
        "status": "Request Entity Too Large",
    }


def test_malformed_json_is_400(harness: Harness, project: NewProject) -> None:
    response = post(harness, b"[{", {**JSON, **basic(project.token)})
    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_import_keeps_old_events_and_ignores_event_tokens(
    harness: Harness, project: NewProject
) -> None:
    other = harness.new_project("Other")
    old = event(0, time=40_000_000, token=other.token)  # 1971, another project's token
    assert post(harness, orjson.dumps([old]), {**JSON, **basic(project.token)}).status_code == 200
    [stored] = harness.events(project.project_id)
    assert "token" not in stored["properties"]
    assert harness.events(other.project_id) == []


def test_identity_events_refused_whole_batch_in_simplified_projects(
    harness: Harness, project: NewProject
) -> None:
    merge = {
        "event": "$merge",
        "properties": {"$distinct_ids": ["a", "b"], **event(9)["properties"]},
    }
    body = orjson.dumps([event(0), merge])
    response = post(harness, body, {**JSON, **basic(project.token)}, strict="1")
    message = "identity events are not allowed when project is using simplified identity management"
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "error": message,
        "status": "Bad Request",
        "num_records_imported": 0,
        "failed_records": [message],
    }
    assert harness.events(project.project_id) == []
