"""Projects are isolated: no credential of project A writes to, reads from or
manages project B, whichever way it is presented. Complements the credential
tests of tests/http/test_import.py and tests/http/test_lookup_tables.py."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import NOW_MS, Harness
from trackyard.service.projects import NewProject, create_service_account

Credentials = Callable[[NewProject, NewProject], tuple[dict[str, str], dict[str, str]]]


def basic(username: str, password: str = "") -> dict[str, str]:
    return {
        "authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    }


def event(token: str, insert_id: str = "i1") -> dict[str, Any]:
    props = {"token": token, "distinct_id": "u", "time": NOW_MS // 1000, "$insert_id": insert_id}
    return {"event": "e", "properties": props}


@pytest.fixture
def other(harness: Harness) -> NewProject:
    return harness.new_project("B")


# Every way A's credentials could be pointed at B: (headers, parameters).
A_AIMED_AT_B: dict[str, Credentials] = {
    "api-secret-basic+project_id": lambda a, b: (
        basic(a.api_secret),
        {"project_id": str(b.project_id)},
    ),
    "bearer-secret+project_id": lambda a, b: (
        {"authorization": f"Bearer {a.api_secret}"},
        {"project_id": str(b.project_id)},
    ),
    "api_key-token+project_id": lambda a, b: (
        {},
        {"api_key": a.token, "project_id": str(b.project_id)},
    ),
    "api_key-secret+project_id": lambda a, b: (
        {},
        {"api_key": a.api_secret, "project_id": str(b.project_id)},
    ),
    "plain-basic-account+project_id": lambda a, b: (
        {"authorization": f"Basic {a.service_account.username}:{a.service_account.secret}"},
        {"project_id": str(b.project_id)},
    ),
    "a-username-b-secret": lambda a, b: (
        basic(a.service_account.username, b.service_account.secret),
        {"project_id": str(b.project_id)},
    ),
    "b-username-a-secret": lambda a, b: (
        basic(b.service_account.username, a.service_account.secret),
        {"project_id": str(b.project_id)},
    ),
    "token-with-a-password": lambda a, b: (basic(a.token, a.api_secret), {}),
    "b-token-as-password": lambda a, b: (basic(a.service_account.username, b.token), {}),
}


@pytest.mark.parametrize("credentials", A_AIMED_AT_B.values(), ids=A_AIMED_AT_B.keys())
def test_import_with_a_credentials_cannot_write_to_b(
    harness: Harness, project: NewProject, other: NewProject, credentials: Credentials
) -> None:
    headers, params = credentials(project, other)
    response = harness.client.post(
        "/import", json=[event(other.token)], headers=headers, params=params
    )
    assert response.status_code == 401
    assert harness.events(other.project_id) == harness.events(project.project_id) == []


@pytest.mark.parametrize("credentials", A_AIMED_AT_B.values(), ids=A_AIMED_AT_B.keys())
def test_lookup_tables_and_read_apis_with_a_credentials_cannot_reach_b(
    harness: Harness, project: NewProject, other: NewProject, credentials: Credentials
) -> None:
    harness.run(harness.store.create_lookup_table, other.project_id, "b-table", "B")
    headers, params = credentials(project, other)
    dates = {"from_date": "2026-11-19", "to_date": "2026-11-20"}
    for method, path in [
        ("GET", "/lookup-tables"),
        ("PUT", "/lookup-tables/b-table"),
        ("DELETE", "/lookup-tables/b-table"),
        ("GET", "/api/2.0/export"),
        ("GET", "/api/2.0/engage"),
        ("GET", "/api/query/engage"),
    ]:
        response = harness.client.request(
            method, path, content=b"id,x\n1,2\n", headers=headers, params={**dates, **params}
        )
        assert response.status_code == 401, (method, path)
    assert harness.run(harness.store.lookup_table, other.project_id, "b-table") is not None


def test_an_account_of_two_projects_must_name_one_and_reaches_no_third(
    harness: Harness, project: NewProject, other: NewProject
) -> None:
    third = harness.new_project("C")
    account = harness.run(
        create_service_account, harness.store, [project.project_id, third.project_id], "two.sa"
    )
    auth = (account.username, account.secret)

    def post(**params: Any) -> int:
        response = harness.client.post("/import", json=[event("x")], auth=auth, params=params)
        return response.status_code

    assert post() == 401  # which of its two projects is not said
    assert post(project_id=other.project_id) == 401
    assert post(project_id=third.project_id) == 200
    assert harness.events(other.project_id) == []


def test_track_stores_by_the_events_token_whatever_else_the_request_says(
    harness: Harness, project: NewProject, other: NewProject
) -> None:
    response = harness.client.post(
        "/track",
        json=[event(project.token)],
        params={"project_id": str(other.project_id), "api_key": other.api_secret},
        headers=basic(other.service_account.username, other.service_account.secret),
    )
    assert response.text == "1"
    assert len(harness.events(project.project_id)) == 1
    assert harness.events(other.project_id) == []


def test_engage_updates_the_tokens_project_only(
    harness: Harness, project: NewProject, other: NewProject
) -> None:
    update = {"$token": project.token, "$distinct_id": "u", "$set": {"plan": "pro"}}
    response = harness.client.post(
        "/engage", json=[update], params={"project_id": str(other.project_id)}
    )
    assert response.text == "1"
    assert harness.profile(project.project_id, "u") is not None
    assert harness.profile(other.project_id, "u") is None


def test_a_token_that_names_no_project_writes_nowhere(
    harness: Harness, project: NewProject
) -> None:
    response = harness.client.post("/track", json=[event("not-" + project.token)])
    assert response.text == "0"
    assert harness.events(project.project_id) == []
