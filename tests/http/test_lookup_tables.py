"""/lookup-tables over HTTP: list, replace from CSV, delete (mixpanel-behavior.md §13)."""

from __future__ import annotations

import dataclasses
import gzip
from typing import Any

import httpx
import pytest

from tests.conftest import Harness
from trackyard.service.projects import NewProject
from trackyard.settings import Settings

# Small, so the 413 tests send a few kilobytes; every other CSV here is far below it.
CSV_LIMIT = 4096
TABLE_ID = "6f1c1a52-3c0e-4f8e-9a57-2b9d1d6c0a11"
ACCOUNTS_CSV = b'account_id,plan,seats,tags\na1,Free,3,"[""beta""]"\na2,Paid,10,\n'
ACCOUNTS_ROWS = [
    ("a1", {"plan": "Free", "seats": 3, "tags": ["beta"]}),
    ("a2", {"plan": "Paid", "seats": 10}),
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The conftest's settings (SQLite or PostgreSQL), with a small CSV limit.
    return dataclasses.replace(settings, lookup_table_max_bytes=CSV_LIMIT)


@pytest.fixture
def table_id(harness: Harness, project: NewProject) -> str:
    harness.run(harness.store.create_lookup_table, project.project_id, TABLE_ID, "Accounts")
    return TABLE_ID


@pytest.fixture
def other(harness: Harness) -> NewProject:
    return harness.new_project("B")


def service_account(project: NewProject) -> tuple[str, str]:
    return (project.service_account.username, project.service_account.secret)


def put_csv(
    harness: Harness,
    project: NewProject,
    table_id: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    **request: Any,
) -> httpx.Response:
    request.setdefault("auth", service_account(project))
    request.setdefault("params", {"project_id": project.project_id})
    return harness.client.put(
        f"/lookup-tables/{table_id}",
        content=body,
        headers={"Content-Type": "text/csv", **(headers or {})},
        **request,
    )


def stored_rows(harness: Harness, project: NewProject, table_id: str) -> list[Any]:
    return harness.run(harness.store.lookup_table_rows, project.project_id, table_id, 1000)  # type: ignore[no-any-return]


def not_found(table_id: str) -> dict[str, Any]:
    return {
        "code": 404,
        "error": f"Lookup table with id '{table_id}' was not found.",
        "status": "Not Found",
    }


# List --------------------------------------------------------------------------


def test_list_without_tables(harness: Harness, project: NewProject) -> None:
    response = harness.client.get(
        "/lookup-tables",
        params={"project_id": project.project_id},
        auth=service_account(project),
    )
    assert response.status_code == 200
    assert response.json() == {"code": 200, "status": "OK", "results": []}


def test_list_shows_only_this_projects_tables(
    harness: Harness, project: NewProject, other: NewProject, table_id: str
) -> None:
    harness.run(harness.store.create_lookup_table, other.project_id, "b-table", "Other")
    put_csv(harness, project, table_id, ACCOUNTS_CSV)
    response = harness.client.get(
        "/lookup-tables",
        params={"project_id": project.project_id},
        auth=service_account(project),
    )
    [table] = response.json()["results"]
    assert table["id"] == table_id
    assert table["name"] == "Accounts"
    assert (table["rowCount"], table["columnCount"]) == (2, 4)
    assert table["createdAt"].endswith("Z")
    assert table["lastModified"] >= table["createdAt"]


# Replace -----------------------------------------------------------------------


def test_put_csv_stores_typed_rows(harness: Harness, project: NewProject, table_id: str) -> None:
    response = put_csv(harness, project, table_id, ACCOUNTS_CSV)
    assert response.status_code == 200
    assert response.json() == {"code": 200, "status": "OK"}
    assert stored_rows(harness, project, table_id) == ACCOUNTS_ROWS


@pytest.mark.parametrize("headers", [{"Content-Encoding": "gzip"}, {}], ids=["header", "magic"])
def test_put_gzip_csv(
    harness: Harness, project: NewProject, table_id: str, headers: dict[str, str]
) -> None:
    response = put_csv(harness, project, table_id, gzip.compress(ACCOUNTS_CSV), headers)
    assert response.status_code == 200
    assert stored_rows(harness, project, table_id) == ACCOUNTS_ROWS


def test_put_replaces_every_row(harness: Harness, project: NewProject, table_id: str) -> None:
    put_csv(harness, project, table_id, ACCOUNTS_CSV)
    response = put_csv(harness, project, table_id, b"id,region\na3,EU\n")
    assert response.status_code == 200
    assert stored_rows(harness, project, table_id) == [("a3", {"region": "EU"})]


def test_invalid_csv_is_refused_and_keeps_the_old_rows(
    harness: Harness, project: NewProject, table_id: str
) -> None:
    put_csv(harness, project, table_id, ACCOUNTS_CSV)
    response = put_csv(harness, project, table_id, b"id,plan\na1,Free\na1,Paid\n,Free\nx\n")
    assert response.status_code == 400
    assert response.json() == {
        "code": 400,
        "error": "Some data points in the request failed validation.",
        "status": "Bad Request",
        "failed_records": [
            {"index": 2, "message": "invalid row: row indexes 1 and 2 have the same primary key"},
            {"index": 3, "message": "primary key is required and cannot be blank"},
            {"index": 4, "message": "invalid row: wrong number of fields"},
        ],
    }
    assert stored_rows(harness, project, table_id) == ACCOUNTS_ROWS


def test_non_utf8_csv_is_a_bad_request(
    harness: Harness, project: NewProject, table_id: str
) -> None:
    response = put_csv(harness, project, table_id, "id,city\na1,Zürich\n".encode("latin-1"))
    assert response.status_code == 400
    assert response.json()["status"] == "Bad Request"


def test_csv_at_the_limit_is_accepted(harness: Harness, project: NewProject, table_id: str) -> None:
    body = pad_to(CSV_LIMIT)
    assert put_csv(harness, project, table_id, body).status_code == 200


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_csv_over_the_limit_is_413(
    harness: Harness, project: NewProject, table_id: str, compress: bool
) -> None:
    put_csv(harness, project, table_id, ACCOUNTS_CSV)
    body = pad_to(CSV_LIMIT + 1)
    # The limit is on the inflated size: a small gzip body can still be too large.
    response = put_csv(harness, project, table_id, gzip.compress(body) if compress else body)
    assert response.status_code == 413
    assert response.json() == {
        "code": 413,
        "error": f"request exceeds max limit of {CSV_LIMIT} bytes",
        "status": "Request Entity Too Large",
    }
    assert stored_rows(harness, project, table_id) == ACCOUNTS_ROWS


def pad_to(size: int) -> bytes:
    head = b"id,note\na1,"
    return head + b"x" * (size - len(head) - 1) + b"\n"


# Credentials (§4) ---------------------------------------------------------------


def test_api_secret_as_basic_username(harness: Harness, project: NewProject, table_id: str) -> None:
    response = put_csv(
        harness, project, table_id, ACCOUNTS_CSV, auth=(project.api_secret, ""), params={}
    )
    assert response.status_code == 200


def test_mixpanel_import_extra_parameters_are_tolerated(
    harness: Harness, project: NewProject, table_id: str
) -> None:
    params = {"ip": "0", "verbose": "1", "strict": "1", "project_id": project.project_id}
    response = put_csv(harness, project, table_id, ACCOUNTS_CSV, params=params)
    assert response.status_code == 200
    assert stored_rows(harness, project, table_id) == ACCOUNTS_ROWS


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_the_public_project_token_is_not_enough(
    harness: Harness, project: NewProject, table_id: str, method: str
) -> None:
    path = "/lookup-tables" if method == "GET" else f"/lookup-tables/{table_id}"
    response = harness.client.request(
        method,
        path,
        content=ACCOUNTS_CSV,
        auth=(project.token, ""),
        params={"project_id": project.project_id},
    )
    assert response.status_code == 401
    assert stored_rows(harness, project, table_id) == []


@pytest.mark.parametrize(
    "auth",
    [None, ("nobody", "wrong"), ("wrong-secret", "")],
    ids=["none", "unknown-account", "unknown-secret"],
)
def test_missing_or_wrong_credentials_are_401(
    harness: Harness, project: NewProject, table_id: str, auth: tuple[str, str] | None
) -> None:
    response = put_csv(harness, project, table_id, ACCOUNTS_CSV, auth=auth)
    assert response.status_code == 401
    assert response.json()["status"] == "Unauthorized"
    assert stored_rows(harness, project, table_id) == []


def test_wrong_service_account_secret_is_401(harness: Harness, project: NewProject) -> None:
    response = harness.client.get(
        "/lookup-tables",
        params={"project_id": project.project_id},
        auth=(project.service_account.username, "not-the-secret"),
    )
    assert response.status_code == 401


def test_service_account_naming_another_project_is_401(
    harness: Harness, project: NewProject, other: NewProject
) -> None:
    harness.run(harness.store.create_lookup_table, other.project_id, "b-table", "Other")
    response = put_csv(
        harness, project, "b-table", ACCOUNTS_CSV, params={"project_id": other.project_id}
    )
    assert response.status_code == 401
    assert stored_rows(harness, other, "b-table") == []


def test_another_projects_table_is_not_found(
    harness: Harness, project: NewProject, other: NewProject
) -> None:
    harness.run(harness.store.create_lookup_table, other.project_id, "b-table", "Other")
    put_csv(harness, other, "b-table", ACCOUNTS_CSV)
    put_response = put_csv(harness, project, "b-table", b"id,x\nz,1\n")
    delete_response = harness.client.delete(
        "/lookup-tables/b-table",
        params={"project_id": project.project_id},
        auth=service_account(project),
    )
    assert (put_response.status_code, put_response.json()) == (404, not_found("b-table"))
    assert (delete_response.status_code, delete_response.json()) == (404, not_found("b-table"))
    assert stored_rows(harness, other, "b-table") == ACCOUNTS_ROWS


def test_unknown_table_is_not_found(harness: Harness, project: NewProject) -> None:
    response = put_csv(harness, project, "no-such-table", ACCOUNTS_CSV)
    assert response.status_code == 404
    assert response.json() == not_found("no-such-table")


# Delete ------------------------------------------------------------------------


def test_delete_then_the_table_is_gone(
    harness: Harness, project: NewProject, table_id: str
) -> None:
    put_csv(harness, project, table_id, ACCOUNTS_CSV)
    url, params = f"/lookup-tables/{table_id}", {"project_id": project.project_id}
    response = harness.client.delete(url, params=params, auth=service_account(project))
    assert response.status_code == 200
    assert response.json() == {"code": 200, "status": "OK"}
    assert stored_rows(harness, project, table_id) == []
    listing = harness.client.get("/lookup-tables", params=params, auth=service_account(project))
    assert listing.json()["results"] == []
    again = harness.client.delete(url, params=params, auth=service_account(project))
    assert (again.status_code, again.json()) == (404, not_found(table_id))
    assert put_csv(harness, project, table_id, ACCOUNTS_CSV).status_code == 404
