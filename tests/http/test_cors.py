"""The browser SDK's credentialed requests (§3, CORS): every answer echoes the
page's Origin with credentials allowed, never `*`. The ingestion endpoints
answer through trackyard's fast path (http/fast_ingest.py), everything else
and every preflight through Starlette's CORSMiddleware: both must agree."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from tests.conftest import Harness
from tests.http.test_track import b64, ev, names
from trackyard.service.projects import NewProject

SITE = "https://shop.example.com"


def assert_echoes_origin(headers: Mapping[str, str]) -> None:
    assert headers["access-control-allow-origin"] == SITE
    assert headers["access-control-allow-credentials"] == "true"
    assert "Origin" in headers["vary"]


@pytest.mark.parametrize("path", ["/track", "/track/", "/engage", "/groups/", "/import"])
def test_ingestion_answers_echo_the_origin(
    harness: Harness, project: NewProject, path: str
) -> None:
    response = harness.client.post(path, data={"data": b64(ev(project))}, headers={"Origin": SITE})
    assert response.status_code in (200, 401)  # /import without credentials is refused
    assert_echoes_origin(response.headers)


def test_a_track_that_stores_nothing_still_echoes_the_origin(harness: Harness) -> None:
    response = harness.client.post(
        "/track", data={"data": "not base64 json"}, headers={"Origin": SITE}
    )
    assert response.text == "0"
    assert_echoes_origin(response.headers)


def test_without_an_origin_no_cors_headers(harness: Harness, project: NewProject) -> None:
    response = harness.client.post("/track", data={"data": b64(ev(project))})
    assert response.text == "1"
    assert "access-control-allow-origin" not in response.headers
    assert names(harness, project) == ["Played"]


def test_other_routes_echo_the_origin_too(harness: Harness) -> None:
    response = harness.client.get("/healthz", headers={"Origin": SITE})
    assert_echoes_origin(response.headers)


def test_preflight_of_an_ingestion_route(harness: Harness) -> None:
    response = harness.client.options(
        "/track/",
        headers={
            "Origin": SITE,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SITE
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
