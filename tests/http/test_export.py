"""GET /api/2.0/export: NDJSON, date ranges, filters, identity merge, gzip (§14)."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from tests.conftest import NOW_MS, Harness
from trackyard.service.projects import NewProject

DAY_S = 86_400
# 2023-11-14T22:13:20Z
T0 = 1_700_000_000


def imported(name: str, t: float, distinct_id: str = "u1", **props: Any) -> dict[str, Any]:
    insert_id = f"{name}-{t}".replace(".", "-").replace(" ", "-").replace("$", "").replace("_", "-")
    base = {"time": t, "distinct_id": distinct_id, "$insert_id": insert_id}
    return {"event": name, "properties": {**base, **props}}


def load(harness: Harness, project: NewProject, *events: dict[str, Any]) -> None:
    auth = "Basic " + base64.b64encode(f"{project.token}:".encode()).decode()
    response = harness.client.post(
        "/import",
        content=orjson.dumps(list(events)),
        headers={"content-type": "application/json", "authorization": auth},
    )
    assert response.status_code == 200, response.text


def export(harness: Harness, project: NewProject, **params: str) -> list[dict[str, Any]]:
    response = harness.client.get(
        "/api/2.0/export",
        params={"project_id": str(project.project_id), **params},
        auth=(project.service_account.username, project.service_account.secret),
    )
    assert response.status_code == 200, response.text
    return [orjson.loads(line) for line in response.text.splitlines()]


def test_inclusive_utc_dates_and_seconds(harness: Harness, project: NewProject) -> None:
    load(
        harness,
        project,
        imported("before", 1_699_919_999),  # 2023-11-13T23:59:59Z
        imported("first", 1_699_920_000.5),  # 2023-11-14T00:00:00.5Z
        imported("last", 1_700_006_399),  # 2023-11-14T23:59:59Z
        imported("after", 1_700_006_400),
    )
    rows = export(harness, project, from_date="2023-11-14", to_date="2023-11-14")
    assert [r["event"] for r in rows] == ["first", "last"]
    first = rows[0]["properties"]
    assert first["time"] == 1_699_920_000
    assert first["distinct_id"] == "u1" and first["$insert_id"] == "first-1699920000-5"
    assert first["$import"] is True and first["mp_processing_time_ms"] == NOW_MS
    in_ms = export(
        harness, project, from_date="2023-11-14", to_date="2023-11-14", time_in_ms="true"
    )
    assert in_ms[0]["properties"]["time"] == 1_699_920_000_500


def test_event_filter_and_limit(harness: Harness, project: NewProject) -> None:
    load(harness, project, *(imported(n, T0 + i) for i, n in enumerate("abcab")))
    day = {"from_date": "2023-11-14", "to_date": "2023-11-15"}
    assert [r["event"] for r in export(harness, project, event='["a","b"]', **day)] == list("abab")
    assert [r["event"] for r in export(harness, project, limit="2", **day)] == ["a", "b"]


def test_empty_range_is_an_empty_body(harness: Harness, project: NewProject) -> None:
    assert export(harness, project, from_date="2020-01-01", to_date="2020-01-02") == []


def test_gzip_when_asked(harness: Harness, project: NewProject) -> None:
    load(harness, project, *(imported("e", T0 + i) for i in range(500)))
    response = harness.client.get(
        "/api/2.0/export",
        params={"from_date": "2023-11-14", "to_date": "2023-11-14"},
        headers={"accept-encoding": "gzip"},
        auth=(project.api_secret, ""),
    )
    assert response.headers["content-encoding"] == "gzip"
    assert len(response.text.splitlines()) == 500  # the client inflated it


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"to_date": "2023-11-14"}, "from_date is a required parameter"),
        ({"from_date": "2023/11/14", "to_date": "2023-11-14"}, "yyyy-mm-dd"),
        ({"from_date": "2023-11-15", "to_date": "2023-11-14"}, "before"),
        ({"from_date": "2023-11-14", "to_date": "2023-11-14", "event": "a"}, "JSON array"),
        ({"from_date": "2023-11-14", "to_date": "2023-11-14", "limit": "100001"}, "limit"),
        # str.isdigit() accepts "²", which int() refuses: it was a 500.
        ({"from_date": "2023-11-14", "to_date": "2023-11-14", "limit": "²"}, "limit"),
    ],
)
def test_bad_parameters_are_400(
    harness: Harness, project: NewProject, params: dict[str, str], message: str
) -> None:
    response = harness.client.get("/api/2.0/export", params=params, auth=(project.api_secret, ""))
    assert response.status_code == 400
    assert response.json()["request"] == "/api/2.0/export"
    assert message in response.json()["error"]


def test_token_cannot_read_and_projects_are_isolated(harness: Harness, project: NewProject) -> None:
    other = harness.new_project("Other")
    load(harness, other, imported("secret", T0))
    params = {"from_date": "2023-11-14", "to_date": "2023-11-14"}
    for auth in [(project.token, ""), (other.token, ""), ("nobody", "x")]:
        response = harness.client.get("/api/2.0/export", params=params, auth=auth)
        assert response.status_code == 401
    cross = harness.client.get(
        "/api/2.0/export",
        params={**params, "project_id": str(other.project_id)},
        auth=(project.service_account.username, project.service_account.secret),
    )
    assert cross.status_code == 401
    assert export(harness, project, **params) == []


def test_simplified_identity_rekeys_earlier_events(harness: Harness, project: NewProject) -> None:
    load(
        harness,
        project,
        imported("anon", T0, distinct_id="$device:d1", **{"$device_id": "d1"}),
        imported("login", T0 + 1, distinct_id="alice", **{"$device_id": "d1", "$user_id": "alice"}),
        imported("other device", T0 + 2, distinct_id="$device:d2", **{"$device_id": "d2"}),
    )
    rows = export(harness, project, from_date="2023-11-14", to_date="2023-11-14")
    assert [(r["event"], r["properties"]["distinct_id"]) for r in rows] == [
        ("anon", "alice"),
        ("login", "alice"),
        ("other device", "$device:d2"),
    ]
    assert rows[0]["properties"]["$distinct_id_before_identity"] == "$device:d1"
    assert "$distinct_id_before_identity" not in rows[1]["properties"]


def test_where_filters_in_sql_and_per_row(harness: Harness, project: NewProject) -> None:
    load(
        harness,
        project,
        imported("buy", T0, amount=5, plan="pro"),
        imported("buy", T0 + 1, amount=50, plan="pro"),
        imported("buy", T0 + 2, amount=500, plan="free"),
    )
    day = {"from_date": "2023-11-14", "to_date": "2023-11-14"}

    def amounts(where: str) -> list[int]:
        return [r["properties"]["amount"] for r in export(harness, project, where=where, **day)]

    assert amounts('properties["amount"] > 10 and properties["plan"] == "pro"') == [50]
    assert amounts('defined(properties["plan"]) and properties["amount"] % 2 == 1') == [5]
    assert amounts('"pro" in properties["plan"]') == [5, 50]
    assert amounts('properties["amount"] >= 50') == [50, 500]


def test_malformed_where_is_400_naming_the_position(harness: Harness, project: NewProject) -> None:
    response = harness.client.get(
        "/api/2.0/export",
        params={"from_date": "2023-11-14", "to_date": "2023-11-14", "where": 'properties["a"] == '},
        auth=(project.api_secret, ""),
    )
    assert response.status_code == 400
    assert "column" in response.json()["error"]


@pytest.fixture
def original(harness: Harness) -> NewProject:
    created = harness.new_project("Original")
    harness.run(harness.store.set_identity_mode, created.project_id, "original")
    return created


def ids_by_event(harness: Harness, project: NewProject) -> dict[str, str]:
    rows = export(harness, project, from_date="2023-11-14", to_date="2023-11-14")
    return {r["event"]: r["properties"]["distinct_id"] for r in rows}


def test_original_identify_rekeys_anonymous_events(harness: Harness, original: NewProject) -> None:
    load(
        harness,
        original,
        imported("browse", T0, distinct_id="anon-1"),
        imported(
            "$identify",
            T0 + 1,
            distinct_id="alice",
            **{"$anon_id": "anon-1", "$identified_id": "alice"},
        ),
        imported("buy", T0 + 2, distinct_id="alice"),
    )
    assert set(ids_by_event(harness, original).values()) == {"alice"}


def test_original_alias_chain_and_merge(harness: Harness, original: NewProject) -> None:
    load(
        harness,
        original,
        imported("a", T0, distinct_id="a1"),
        imported("b", T0 + 1, distinct_id="a2"),
        imported("c", T0 + 2, distinct_id="bob"),
        imported("$create_alias", T0 + 3, distinct_id="alice", alias="a1"),
        imported("$create_alias", T0 + 4, distinct_id="a1", alias="a2"),
    )
    ids = ids_by_event(harness, original)
    assert (ids["a"], ids["b"], ids["c"]) == ("alice", "alice", "bob")
    load(
        harness,
        original,
        imported("$merge", T0 + 5, distinct_id="x", **{"$distinct_ids": ["alice", "bob"]}),
    )
    ids = ids_by_event(harness, original)
    assert (ids["a"], ids["b"], ids["c"]) == ("alice", "alice", "alice")


def test_simplified_conflicting_users_keep_their_own_events(
    harness: Harness, project: NewProject
) -> None:
    load(
        harness,
        project,
        imported("a", T0, distinct_id="alice", **{"$device_id": "shared"}),
        imported("b", T0 + 1, distinct_id="bob", **{"$device_id": "shared"}),
        imported("anon", T0 + 2, distinct_id="$device:shared", **{"$device_id": "shared"}),
    )
    assert ids_by_event(harness, project) == {"a": "alice", "b": "bob", "anon": "alice"}


def test_where_on_event_name_and_time(harness: Harness, project: NewProject) -> None:
    load(harness, project, imported("a", T0), imported("b", T0 + 10), imported("a", T0 + 20))
    day = {"from_date": "2023-11-14", "to_date": "2023-11-14"}
    late = f'event["time"] >= datetime({(T0 + 10) * 1000})'
    assert [r["event"] for r in export(harness, project, where=late, **day)] == ["b", "a"]
    # string() of a number runs per row (engines format doubles differently).
    per_row = f'event["name"] == "a" and string(properties["time"]) == "{T0 + 20}"'
    rows = export(harness, project, where=per_row, **day)
    assert [(r["event"], r["properties"]["time"]) for r in rows] == [("a", T0 + 20)]
