"""/track over every carrier, and every answer form of §3."""

from __future__ import annotations

import base64
import gzip
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from tests.conftest import NOW_MS, Harness
from trackyard.service.projects import NewProject


def ev(project: NewProject, name: str = "Played", **props: Any) -> dict[str, Any]:
    return {"event": name, "properties": {"token": project.token, "distinct_id": "u1", **props}}


def b64(records: Any) -> str:
    return base64.b64encode(orjson.dumps(records)).decode()


def names(harness: Harness, project: NewProject) -> list[str]:
    return [e["event"] for e in harness.events(project.project_id)]


@pytest.mark.parametrize("path", ["/track", "/track/"])
def test_get_with_base64_query(harness: Harness, project: NewProject, path: str) -> None:
    response = harness.client.get(path, params={"data": b64(ev(project)), "ip": "0"})
    assert (response.status_code, response.text) == (200, "1")
    assert response.headers["content-type"].startswith("text/plain")
    assert names(harness, project) == ["Played"]


def test_form_post_with_unencoded_base64(harness: Harness, project: NewProject) -> None:
    # Node and PHP: "data=" + base64 without percent-encoding; `+` arrives as space (§2.1).
    records = [ev(project, "a>b?", note="~~~ ✓")] * 3
    payload = b64(records)
    assert "+" in payload
    response = harness.client.post(
        "/track",
        content=f"data={payload}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.text == "1"
    assert names(harness, project) == ["a>b?"] * 3


def test_form_post_with_plain_json_and_verbose_in_body(
    harness: Harness, project: NewProject
) -> None:
    # Python: data=<JSON>, verbose=1 and ip=0 as form fields (§2.3).
    body = {"data": orjson.dumps(ev(project)).decode(), "verbose": "1", "ip": "0"}
    response = harness.client.post("/track", data=body)
    assert response.json() == {"error": None, "status": 1}
    assert response.headers["content-type"] == "application/json"


def test_json_array_body(harness: Harness, project: NewProject) -> None:
    response = harness.client.post(
        "/track/?ip=1",
        content=orjson.dumps([ev(project, "x"), ev(project, "y")]),
        headers={"content-type": "application/json"},
    )
    assert response.text == "1"
    assert sorted(names(harness, project)) == ["x", "y"]


def test_sendbeacon_text_plain_form(harness: Harness, project: NewProject) -> None:
    body = f"data={quote(b64([ev(project, 'unload')]))}".encode()
    response = harness.client.post(
        "/track/?verbose=1&ip=1&_=1700000000000",
        content=body,
        headers={"content-type": "text/plain;charset=UTF-8"},
    )
    assert response.json() == {"error": None, "status": 1}
    assert names(harness, project) == ["unload"]


@pytest.mark.parametrize("encoding", ["gzip", ""])
def test_gzip_form_body(harness: Harness, project: NewProject, encoding: str) -> None:
    # Java and Android gzip the whole form body (§2.1); some send an empty header.
    body = gzip.compress(f"data={quote(b64([ev(project)]))}".encode())
    response = harness.client.post(
        "/track",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded", "content-encoding": encoding},
    )
    assert response.text == "1"
    assert names(harness, project) == ["Played"]


def test_verbose_failure_is_200_with_status_0(harness: Harness, project: NewProject) -> None:
    response = harness.client.post("/track", data={"data": "{broken", "verbose": "1"})
    assert response.status_code == 200
    assert response.json()["status"] == 0
    assert "invalid JSON" in response.json()["error"]


def test_verbose_2_failure_is_400(harness: Harness) -> None:
    response = harness.client.post("/track?verbose=2", data={"data": "{broken"})
    assert response.status_code == 400
    assert response.json()["status"] == 0


def test_plain_failure_is_0(harness: Harness) -> None:
    response = harness.client.post("/track", data={"data": "{broken"})
    assert (response.status_code, response.text) == (200, "0")


def test_missing_token_message(harness: Harness) -> None:
    response = harness.client.get(
        "/track", params={"data": b64({"event": "e", "properties": {}}), "verbose": "1"}
    )
    assert response.json() == {"error": "token, missing or empty", "status": 0}


def test_unknown_token_is_refused_not_stored(harness: Harness, project: NewProject) -> None:
    bad = {"event": "e", "properties": {"token": "nope", "distinct_id": "u"}}
    response = harness.client.get("/track", params={"data": b64(bad), "verbose": "1"})
    assert response.json()["status"] == 0
    assert harness.events(project.project_id) == []


def test_one_valid_record_is_enough_for_1(harness: Harness, project: NewProject) -> None:
    response = harness.client.get("/track", params={"data": b64([ev(project), {"event": ""}])})
    assert response.text == "1"
    assert names(harness, project) == ["Played"]


def test_strict_reports_each_failed_record(harness: Harness, project: NewProject) -> None:
    records = [ev(project), {"event": "", "properties": {"token": project.token}}]
    response = harness.client.get("/track", params={"data": b64(records), "strict": "1"})
    body = response.json()
    assert body["status"] == 0 and body["num_good_events"] == 1
    assert [r["index"] for r in body["failed_records"]] == [1]


def test_img_answers_a_gif(harness: Harness, project: NewProject) -> None:
    response = harness.client.get("/track", params={"data": b64(ev(project)), "img": "1"})
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert names(harness, project) == ["Played"]


def test_callback_answers_javascript(harness: Harness, project: NewProject) -> None:
    params = {"data": b64(ev(project)), "callback": "mixpanel._jsc[12345678]"}
    response = harness.client.get("/track", params=params)
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.text == "mixpanel._jsc[12345678](1)"
    verbose = harness.client.get("/track", params={**params, "verbose": "1"})
    assert verbose.text == 'mixpanel._jsc[12345678]({"error":null,"status":1})'


def test_unsafe_callback_is_not_echoed(harness: Harness, project: NewProject) -> None:
    params = {"data": b64(ev(project)), "callback": "alert(1);</script><script>x"}
    assert harness.client.get("/track", params=params).text == "1"


def test_authorization_header_is_ignored(harness: Harness, project: NewProject) -> None:
    response = harness.client.get(
        "/track", params={"data": b64(ev(project))}, headers={"authorization": "Basic bm9wZTo="}
    )
    assert response.text == "1"


def test_retried_event_is_stored_once(harness: Harness, project: NewProject) -> None:
    event = ev(project, time=NOW_MS / 1000, **{"$insert_id": "retry-1"})
    for _ in range(3):
        assert harness.client.get("/track", params={"data": b64(event)}).text == "1"
    assert names(harness, project) == ["Played"]


def test_same_insert_id_other_event_is_kept(harness: Harness, project: NewProject) -> None:
    common = {"time": NOW_MS / 1000, "$insert_id": "same"}
    harness.client.get(
        "/track", params={"data": b64([ev(project, "a", **common), ev(project, "b", **common)])}
    )
    assert sorted(names(harness, project)) == ["a", "b"]


def test_old_events_dropped_silently(harness: Harness, project: NewProject) -> None:
    old = ev(project, time=NOW_MS / 1000 - 6 * 86400)
    assert (
        harness.client.get("/track", params={"data": b64(old), "verbose": "1"}).json()["status"]
        == 1
    )
    assert harness.events(project.project_id) == []


def test_events_route_to_their_own_projects(harness: Harness, project: NewProject) -> None:
    other = harness.new_project("Other")
    harness.client.get("/track", params={"data": b64([ev(project, "mine"), ev(other, "theirs")])})
    assert names(harness, project) == ["mine"]
    assert names(harness, other) == ["theirs"]


def test_too_many_records_is_413(harness: Harness, project: NewProject) -> None:
    response = harness.client.post(
        "/track?verbose=1",
        content=orjson.dumps([ev(project)] * 2001),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["status"] == 0
    assert harness.events(project.project_id) == []


def test_empty_request(harness: Harness) -> None:
    assert harness.client.post("/track?verbose=1").json() == {
        "error": "data, missing or empty",
        "status": 0,
    }


def test_root_welcome(harness: Harness) -> None:
    assert "Welcome" in harness.client.get("/").json()["error"]
