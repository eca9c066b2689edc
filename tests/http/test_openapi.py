"""trackyard's OpenAPI document: valid OpenAPI 3.1, listing exactly the routes
the app serves, and true of what the app answers."""

from __future__ import annotations

import base64
import gzip
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from openapi_spec_validator import validate as validate_openapi
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import NOW_MS, Harness
from trackyard.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    StoreUnavailable,
    TrackyardError,
    Unauthorized,
)
from trackyard.http.app import create_app
from trackyard.http.openapi import openapi_document
from trackyard.http.responses import Family, error_response
from trackyard.service.projects import NewProject
from trackyard.settings import Settings

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PREFIX = "/mixpanel"


def documented_operations(doc: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in doc["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def served_operations(app: Starlette) -> set[tuple[str, str]]:
    # HEAD comes free with every GET route; CORS preflights are middleware, not routes.
    # The web console's pages (/console...) are a browser UI, not an API: the
    # document says so once and docs/console.md lists them.
    return {
        (route.path, method)
        for route in app.routes
        if isinstance(route, Route) and not is_console(route.path)
        for method in route.methods or ()
        if method != "HEAD"
    }


def is_console(path: str) -> bool:
    return path == "/console" or path.startswith("/console/")


def test_the_console_is_served_but_not_documented(tmp_path: Path) -> None:
    app = create_app(Settings(db=str(tmp_path / "t.db")))
    console = {r.path for r in app.routes if isinstance(r, Route) and is_console(r.path)}
    assert {"/console", "/console/login", "/console/insights"} <= console
    assert not any(is_console(path) for path in openapi_document()["paths"])


# The document itself ----------------------------------------------------------


def test_openapi_json_serves_a_valid_openapi_31_document(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = response.json()
    assert doc["openapi"].startswith("3.1.")
    validate_openapi(doc)
    assert doc == openapi_document()


def test_operation_ids_are_unique() -> None:
    doc = openapi_document()
    ids = [
        item[method]["operationId"]
        for item in doc["paths"].values()
        for method in item
        if method in HTTP_METHODS
    ]
    assert len(ids) == len(set(ids))


def test_every_served_route_is_documented_and_nothing_else(tmp_path: Path) -> None:
    app = create_app(Settings(db=str(tmp_path / "t.db")))
    assert served_operations(app) == documented_operations(openapi_document())


def test_trailing_slash_spellings_are_documented_for_every_ingestion_path() -> None:
    paths = openapi_document()["paths"]
    for name in ("track", "engage", "groups", "import"):
        assert paths[f"/{name}/"].keys() == paths[f"/{name}"].keys()


def test_path_prefix_serves_exactly_the_paths_marked_for_it(tmp_path: Path) -> None:
    doc = openapi_document()
    app = create_app(Settings(db=str(tmp_path / "t.db"), path_prefix=PREFIX))
    served = served_operations(app)
    under_prefix = {(p.removeprefix(PREFIX), m) for p, m in served if p.startswith(PREFIX + "/")}
    marked = {
        (p, m)
        for p, m in documented_operations(doc)
        if doc["paths"][p].get("x-trackyard-path-prefix")
    }
    assert marked, "no path is marked x-trackyard-path-prefix"
    assert under_prefix == marked
    assert {(p, m) for p, m in served if not p.startswith(PREFIX + "/")} == (
        documented_operations(doc)
    )


# Live answers against their documented schemas ---------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def resolve(doc: Mapping[str, Any], obj: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in obj:
        node: Any = doc
        for part in obj["$ref"].removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def validate_against(doc: Mapping[str, Any], schema: Mapping[str, Any], instance: Any) -> None:
    # Local `#/components/...` references resolve against the root, so give it the components.
    root = {**schema, "components": doc["components"]}
    jsonschema.Draft202012Validator(root).validate(instance)


def assert_documented(template: str, method: str, answer: Answer) -> None:
    """The answer's status, media type, headers and body are what the document says."""
    doc = openapi_document()
    responses = doc["paths"][template][method.lower()]["responses"]
    where = f"{method} {template} -> {answer.status} {answer.media_type}"
    assert str(answer.status) in responses, f"{where}: status not documented"
    documented = resolve(doc, responses[str(answer.status)])
    assert answer.media_type in documented.get("content", {}), f"{where}: type not documented"
    for header, spec in documented.get("headers", {}).items():
        assert header.lower() in {h.lower() for h in answer.headers}, f"{where}: no {header}"
        validate_against(doc, resolve(doc, spec)["schema"], int(answer.headers[header]))
    schema = documented["content"][answer.media_type].get("schema", {})
    if answer.media_type == "application/json":
        validate_against(doc, schema, orjson.loads(answer.body))
    elif answer.media_type == "image/gif":
        assert answer.body.startswith(b"GIF8")
    else:
        validate_against(doc, schema, answer.body.decode())


def b64(records: Any) -> str:
    return base64.b64encode(orjson.dumps(records)).decode()


def event(token: str, name: str = "signup", **props: Any) -> dict[str, Any]:
    base = {"token": token, "distinct_id": "u1", "time": NOW_MS // 1000, "$insert_id": "i1"}
    return {"event": name, "properties": {**base, **props}}


def basic(username: str, password: str = "") -> dict[str, str]:
    pair = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


@dataclass(frozen=True)
class Case:
    """A request, the route template it hits, and (when fixed) what it must get back."""

    id: str
    method: str
    template: str
    url: str
    request: Callable[[NewProject], dict[str, Any]] = lambda p: {}
    expect: tuple[int, str] | None = None
    extra: Callable[[Any, NewProject], None] = field(default=lambda body, p: None)


def _expect_strict_failure(body: Any, project: NewProject) -> None:
    assert body["status"] == 0
    assert body["num_good_events"] == 1
    assert [r["index"] for r in body["failed_records"]] == [1]


def _expect_import_failure(body: Any, project: NewProject) -> None:
    assert body["num_records_imported"] == 1
    assert body["failed_records"][0]["field"] == "properties.time"


LOOKUP_ID = str(uuid.uuid4())
JSON = "application/json"
CASES = [
    Case("welcome", "GET", "/", "/", expect=(200, JSON)),
    Case("healthz", "GET", "/healthz", "/healthz", expect=(200, JSON)),
    Case("readyz", "GET", "/readyz", "/readyz", expect=(200, JSON)),
    Case("openapi", "GET", "/openapi.json", "/openapi.json", expect=(200, JSON)),
    Case(
        "track-form-plain",
        "POST",
        "/track",
        "/track",
        lambda p: {"data": {"data": orjson.dumps(event(p.token)).decode()}},
        (200, "text/plain"),
    ),
    Case(
        "track-slash-verbose",
        "POST",
        "/track/",
        "/track/?verbose=1",
        lambda p: {"data": {"data": b64([event(p.token)])}},
        (200, JSON),
    ),
    Case(
        "track-beacon",
        "POST",
        "/track/",
        "/track/?verbose=1&_=1795694400000",
        lambda p: {
            "content": f"data={b64([event(p.token)])}",
            "headers": {"Content-Type": "text/plain;charset=UTF-8"},
        },
        (200, JSON),
    ),
    Case(
        "track-get-pixel",
        "GET",
        "/track",
        "/track",
        lambda p: {"params": {"data": b64(event(p.token)), "img": "1"}},
        (200, "image/gif"),
    ),
    Case(
        "track-get-jsonp",
        "GET",
        "/track/",
        "/track/",
        lambda p: {
            "params": {"data": b64(event(p.token)), "verbose": "1", "callback": "mixpanel._jsc[12]"}
        },
        (200, "text/javascript"),
    ),
    Case(
        "track-verbose-2-failure",
        "POST",
        "/track",
        "/track?verbose=2",
        lambda p: {"json": [{"event": "no token", "properties": {}}]},
        (400, JSON),
    ),
    Case(
        "track-strict-partial",
        "POST",
        "/track",
        "/track?strict=1",
        lambda p: {"json": [event(p.token), {"event": "x", "properties": {}}]},
        (200, JSON),
        _expect_strict_failure,
    ),
    Case(
        "track-gzip-json",
        "POST",
        "/track",
        "/track?verbose=1",
        lambda p: {
            "content": gzip.compress(orjson.dumps([event(p.token)])),
            "headers": {"Content-Type": JSON, "Content-Encoding": "gzip"},
        },
        (200, JSON),
    ),
    Case(
        "engage-json-verbose",
        "POST",
        "/engage",
        "/engage?verbose=1",
        lambda p: {
            "json": [
                {"$token": p.token, "$distinct_id": "u1", "$set": {"plan": "pro"}},
                {"$token": p.token, "$distinct_id": "u1", "$union": {"tags": ["a"]}},
            ]
        },
        (200, JSON),
    ),
    Case(
        "engage-get",
        "GET",
        "/engage/",
        "/engage/",
        lambda p: {
            "params": {"data": b64({"$token": p.token, "$distinct_id": "u1", "$delete": ""})}
        },
        (200, "text/plain"),
    ),
    Case(
        "groups-ndjson",
        "POST",
        "/groups",
        "/groups",
        lambda p: {
            "content": orjson.dumps(
                {"$token": p.token, "$group_key": "company", "$group_id": "c1", "$set": {"a": 1}}
            )
            + b"\n",
            "headers": {"Content-Type": "application/x-ndjson"},
        },
        (200, "text/plain"),
    ),
    Case(
        "import-json",
        "POST",
        "/import",
        "/import?strict=1",
        lambda p: {"json": [event(p.token)], "headers": basic(p.token)},
        (200, JSON),
    ),
    Case(
        "import-service-account-slash",
        "POST",
        "/import/",
        "/import/",
        lambda p: {
            "json": [event(p.token)],
            "params": {"project_id": str(p.project_id)},
            "headers": basic(p.service_account.username, p.service_account.secret),
        },
        (200, JSON),
    ),
    Case(
        "import-partial-failure",
        "POST",
        "/import",
        "/import?strict=1",
        lambda p: {
            "json": [event(p.token), event(p.token, **{"time": 10**15, "$insert_id": "i2"})],
            "headers": basic(p.token),
        },
        (400, JSON),
        _expect_import_failure,
    ),
    Case(
        "import-unreadable-json",
        "POST",
        "/import",
        "/import",
        lambda p: {
            "content": b"[{",
            "headers": {"Content-Type": JSON, **basic(p.token)},
        },
        (400, JSON),
    ),
    Case(
        "import-no-credentials",
        "POST",
        "/import",
        "/import",
        lambda p: {"json": [event(p.token)]},
        (401, JSON),
    ),
    Case(
        "import-form-legacy",
        "POST",
        "/import",
        "/import",
        lambda p: {
            "data": {"data": b64([event(p.token)]), "verbose": "1", "api_key": p.api_secret}
        },
        (200, JSON),
    ),
    Case(
        "import-form-no-credentials",
        "POST",
        "/import",
        "/import",
        lambda p: {"data": {"data": b64([event(p.token)]), "verbose": "1"}},
        (401, JSON),
    ),
    Case(
        "import-get-legacy",
        "GET",
        "/import",
        "/import",
        lambda p: {"params": {"data": b64(event(p.token))}, "headers": basic(p.api_secret)},
        (200, "text/plain"),
    ),
    # Lookup tables are answered by whatever their routes do today; the answer
    # must still be one the document lists.
    Case(
        "lookup-list",
        "GET",
        "/lookup-tables",
        "/lookup-tables",
        lambda p: {"headers": basic(p.token)},
    ),
    Case(
        "lookup-replace-unknown",
        "PUT",
        "/lookup-tables/{table_id}",
        f"/lookup-tables/{LOOKUP_ID}",
        lambda p: {
            "content": b"id,name\n1,a\n",
            "headers": {"Content-Type": "text/csv", **basic(p.token)},
        },
    ),
    Case(
        "lookup-delete-unknown",
        "DELETE",
        "/lookup-tables/{table_id}",
        f"/lookup-tables/{LOOKUP_ID}",
        lambda p: {"headers": basic(p.token)},
    ),
    Case("lookup-list-no-credentials", "GET", "/lookup-tables", "/lookup-tables"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_live_answer_matches_the_document(
    harness: Harness, project: NewProject, case: Case
) -> None:
    response = harness.client.request(case.method, case.url, **case.request(project))
    answer = Answer(response.status_code, response.headers, response.content)
    if case.expect is not None:
        assert (answer.status, answer.media_type) == case.expect, response.text
    assert_documented(case.template, case.method, answer)
    if answer.media_type == JSON:
        case.extra(response.json(), project)


def test_lookup_table_lifecycle_answers_match_the_document(
    harness: Harness, project: NewProject
) -> None:
    harness.run(harness.store.create_lookup_table, project.project_id, LOOKUP_ID, "Accounts")
    auth = basic(project.service_account.username, project.service_account.secret)
    table = f"/lookup-tables/{LOOKUP_ID}"
    csv = {"headers": {**auth, "Content-Type": "text/csv"}}
    steps = [
        ("PUT", table, {**csv, "content": b"id,plan\n1,free\n2,paid\n"}, 200),
        ("PUT", table, {**csv, "content": b"id,plan\n,free\n"}, 400),
        ("GET", "/lookup-tables", {"headers": auth}, 200),
        ("DELETE", table, {"headers": auth}, 200),
        ("DELETE", table, {"headers": auth}, 404),
    ]
    for method, url, kwargs, status in steps:
        response = harness.client.request(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.text)
        template = "/lookup-tables" if url == "/lookup-tables" else "/lookup-tables/{table_id}"
        assert_documented(template, method, Answer(status, response.headers, response.content))
        if method == "GET":
            assert response.json()["results"][0]["rowCount"] == 2


@pytest.mark.parametrize(
    ("template", "request_kwargs"),
    [
        ("/track", {"data": {"data": "x" * 200}}),
        ("/import", {"json": [{"event": "x" * 200}], "headers": {"Authorization": "Bearer x"}}),
        ("/import", {"data": {"data": "x" * 200}}),
    ],
)
def test_too_large_bodies_get_the_documented_413(
    tmp_path: Path, template: str, request_kwargs: dict[str, Any]
) -> None:
    settings = Settings(db=str(tmp_path / "t.db"), max_body_bytes=100)
    with TestClient(create_app(settings)) as client:
        response = client.post(template, **request_kwargs)
    assert response.status_code == 413
    assert_documented(template, "POST", Answer(413, response.headers, response.content))


def test_too_many_records_get_the_documented_413(harness: Harness, project: NewProject) -> None:
    limit = harness.services.settings.max_records_per_request
    events = [event(project.token, **{"$insert_id": f"i{i}"}) for i in range(limit + 1)]
    response = harness.client.post("/track", json=events)
    assert response.status_code == 413
    assert_documented("/track", "POST", Answer(413, response.headers, response.content))


# Answers that are hard to provoke live, rendered by the one place that builds them.
FAMILY_ROUTES: dict[Family, tuple[str, str]] = {
    "classic": ("/track", "POST"),
    "import": ("/import", "POST"),
    "api": ("/lookup-tables/{table_id}", "PUT"),
}
ERRORS: list[tuple[Family, TrackyardError]] = [
    *[
        (family, exc)
        for family in ("classic", "import", "api")
        for exc in (
            BadRequest("bad"),
            PayloadTooLarge("too large", 10),
            RateLimited("slow down"),
            RateLimited("slow down", retry_after=17),
            RequestTimeout("too slow"),
            StoreUnavailable("busy"),
        )
    ],
    ("import", Unauthorized("Invalid credentials")),
    ("api", Unauthorized("Invalid credentials")),
    ("api", NotFound("Lookup table with id 'x' was not found.")),
    ("api", Conflict("already exists")),
]


@pytest.mark.parametrize(
    ("family", "exc"), ERRORS, ids=[f"{f}-{type(e).__name__}" for f, e in ERRORS]
)
@pytest.mark.parametrize("verbose", ["0", "2"])
def test_error_answers_match_the_document(
    family: Family, exc: TrackyardError, verbose: str
) -> None:
    response = error_response(exc, family, {"verbose": verbose}, retry_after=2)
    template, method = FAMILY_ROUTES[family]
    assert_documented(
        template, method, Answer(response.status_code, response.headers, response.body)
    )


def test_the_document_would_catch_a_wrong_answer() -> None:
    wrong = Answer(200, {"content-type": JSON}, orjson.dumps({"status": "1", "error": None}))
    with pytest.raises(jsonschema.ValidationError):
        assert_documented("/track", "POST", wrong)
    with pytest.raises(AssertionError, match="status not documented"):
        assert_documented("/track", "POST", Answer(401, {"content-type": JSON}, b"{}"))
