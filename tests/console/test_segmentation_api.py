"""GET /api/query/segmentation: counts and uniques per unit, breakdowns, where
filters, checked against numbers worked out by hand from the events below."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Harness
from tests.console.conftest import event, import_events
from tests.http.test_openapi import Answer, assert_documented
from trackyard.service.projects import NewProject

# "now" is 2026-11-26T12:00:00Z (tests/conftest.py). 2026-11-01 is a Sunday.
EVENTS = [
    event("Signed Up", "2026-10-31T23:59:59", "erin", plan="free"),  # S1
    event("Signed Up", "2026-11-01T00:00:00", "erin", plan="free"),  # S2
    event("Signed Up", "2026-11-16T08:00:00", "dave"),  # S3: no plan
    event("Signed Up", "2026-11-23T10:15:00", "alice", plan="pro", tags=["a"]),  # S4
    event("Signed Up", "2026-11-23T10:45:00", "bob", plan="free", tags=["b"]),  # S5
    event("Signed Up", "2026-11-23T11:05:00", "alice", plan="pro"),  # S6
    # carol signs up anonymously, then identified: one user after the merge.
    event("Signed Up", "2026-11-24T08:00:00", "$device:dev-c", plan="pro"),  # S7
    event(
        "Signed Up",
        "2026-11-24T09:30:00",
        "carol",
        plan="pro",
        **{"$device_id": "dev-c", "$user_id": "carol"},
    ),  # S8
    event("Signed Up", "2026-11-25T15:00:00", "bob", plan="free"),  # S9
    event("Purchase", "2026-11-24T12:00:00", "bob", plan="free", amount=5),  # P1
    event("Purchase", "2026-11-25T12:00:00", "alice", plan="pro", amount=20),  # P2
]
WEEK = {"from_date": "2026-11-20", "to_date": "2026-11-26"}
DAYS = [f"2026-11-{d}" for d in range(20, 27)]


def days(**counts: int) -> dict[str, int]:
    """A value for each day of WEEK: `d23=3` is 3 on 2026-11-23, the rest 0."""
    return {day: counts.get(f"d{day[-2:]}", 0) for day in DAYS}


@pytest.fixture
def loaded(harness: Harness, project: NewProject) -> NewProject:
    import_events(harness, project, *EVENTS)
    return project


def query(harness: Harness, project: NewProject, **params: Any) -> dict[str, Any]:
    response = harness.client.get(
        "/api/query/segmentation",
        params={"project_id": str(project.project_id), **params},
        auth=(project.service_account.username, project.service_account.secret),
    )
    assert response.status_code == 200, response.text
    assert_documented(
        "/api/query/segmentation",
        "GET",
        Answer(response.status_code, response.headers, response.content),
    )
    body: dict[str, Any] = response.json()
    return body


def test_counts_per_day_with_every_day_listed(harness: Harness, loaded: NewProject) -> None:
    answer = query(harness, loaded, event="Signed Up", **WEEK)
    assert answer == {
        "data": {"series": DAYS, "values": {"Signed Up": days(d23=3, d24=2, d25=1)}},
        "legend_size": 1,
    }


def test_unique_users_count_merged_identities_once(harness: Harness, loaded: NewProject) -> None:
    answer = query(harness, loaded, event="Signed Up", type="unique", **WEEK)
    # 11-23: alice, bob. 11-24: carol twice, once as her device before the merge.
    assert answer["data"]["values"] == {"Signed Up": days(d23=2, d24=1, d25=1)}


def test_average_is_events_per_user(harness: Harness, loaded: NewProject) -> None:
    answer = query(harness, loaded, event="Signed Up", type="average", **WEEK)
    assert answer["data"]["values"] == {"Signed Up": days(d23=1.5, d24=2, d25=1)}


def test_hours_are_keyed_with_their_time(harness: Harness, loaded: NewProject) -> None:
    one_day = {"from_date": "2026-11-23", "to_date": "2026-11-23"}
    answer = query(harness, loaded, event="Signed Up", unit="hour", **one_day)
    series = answer["data"]["series"]
    assert len(series) == 24
    assert series[0] == "2026-11-23 00:00:00" and series[-1] == "2026-11-23 23:00:00"
    values = answer["data"]["values"]["Signed Up"]
    assert {k: v for k, v in values.items() if v} == {
        "2026-11-23 10:00:00": 2,
        "2026-11-23 11:00:00": 1,
    }
    uniques = query(harness, loaded, event="Signed Up", unit="hour", type="unique", **one_day)
    assert uniques["data"]["values"]["Signed Up"]["2026-11-23 10:00:00"] == 2


def test_weeks_start_on_monday_and_count_only_the_range(
    harness: Harness, loaded: NewProject
) -> None:
    answer = query(
        harness,
        loaded,
        event="Signed Up",
        unit="week",
        from_date="2026-11-01",
        to_date="2026-11-26",
    )
    # The range starts on a Sunday: its week is named by Monday 10-26, and holds
    # S2 only (S1, on 10-31, is before from_date).
    assert answer["data"]["values"] == {
        "Signed Up": {
            "2026-10-26": 1,
            "2026-11-02": 0,
            "2026-11-09": 0,
            "2026-11-16": 1,
            "2026-11-23": 6,
        }
    }


def test_months(harness: Harness, loaded: NewProject) -> None:
    answer = query(
        harness,
        loaded,
        event="Signed Up",
        unit="month",
        from_date="2026-10-01",
        to_date="2026-11-26",
    )
    assert answer["data"] == {
        "series": ["2026-10-01", "2026-11-01"],
        "values": {"Signed Up": {"2026-10-01": 1, "2026-11-01": 8}},
    }


def test_breakdown_by_a_property_keeps_the_top_values(harness: Harness, loaded: NewProject) -> None:
    since_16 = {"from_date": "2026-11-16", "to_date": "2026-11-26"}
    every = query(harness, loaded, event="Signed Up", on='properties["plan"]', **since_16)
    values = every["data"]["values"]
    assert every["legend_size"] == 3
    assert {name: sum(v.values()) for name, v in values.items()} == {
        "pro": 4,
        "free": 2,
        "undefined": 1,  # S3 has no plan
    }
    assert values["pro"]["2026-11-23"] == 2 and values["pro"]["2026-11-24"] == 2
    assert values["undefined"]["2026-11-16"] == 1
    top = query(harness, loaded, event="Signed Up", on='properties["plan"]', limit="2", **since_16)
    assert set(top["data"]["values"]) == {"pro", "free"} and top["legend_size"] == 2


def test_breakdown_of_unique_users(harness: Harness, loaded: NewProject) -> None:
    answer = query(
        harness, loaded, event="Signed Up", on='properties["plan"]', type="unique", **WEEK
    )
    assert answer["data"]["values"] == {"pro": days(d23=1, d24=1), "free": days(d23=1, d25=1)}


def test_breakdown_by_an_expression(harness: Harness, loaded: NewProject) -> None:
    answer = query(harness, loaded, event="Purchase", on='properties["amount"] >= 10', **WEEK)
    assert answer["data"]["values"] == {"false": days(d24=1), "true": days(d25=1)}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('properties["plan"] == "pro"', days(d23=2, d24=2)),
        ('properties["plan"] == "pro" and event["name"] == "Signed Up"', days(d23=2, d24=2)),
        ('not defined(properties["plan"]) or properties["plan"] == "free"', days(d23=1, d25=1)),
        # Deep list equality has no SQL form: checked per row in Python.
        ('properties["tags"] == ["a"]', days(d23=1)),
        ('properties["tags"] == ["a"] or properties["plan"] == "free"', days(d23=2, d25=1)),
    ],
)
def test_where_filters(harness: Harness, loaded: NewProject, where: str, expected: Any) -> None:
    answer = query(harness, loaded, event="Signed Up", where=where, **WEEK)
    assert answer["data"]["values"] == {"Signed Up": expected}


def test_pre_aggregated_and_raw_counts_agree(harness: Harness, loaded: NewProject) -> None:
    # No where: the hourly counts table. `where=true`: the events themselves.
    for unit in ("hour", "day", "week", "month"):
        plain = query(harness, loaded, event="Signed Up", unit=unit, **WEEK)
        raw = query(harness, loaded, event="Signed Up", unit=unit, where="true", **WEEK)
        assert plain == raw, unit


def test_retried_imports_are_not_counted_twice(harness: Harness, loaded: NewProject) -> None:
    import_events(harness, loaded, *EVENTS)
    answer = query(harness, loaded, event="Signed Up", **WEEK)
    assert answer["data"]["values"] == {"Signed Up": days(d23=3, d24=2, d25=1)}


def test_an_event_that_never_happened_is_all_zeros(harness: Harness, loaded: NewProject) -> None:
    answer = query(harness, loaded, event="Churned", **WEEK)
    assert answer["data"]["values"] == {"Churned": days()}


def test_other_projects_events_do_not_count(harness: Harness, loaded: NewProject) -> None:
    other = harness.new_project("Other")
    import_events(harness, other, event("Signed Up", "2026-11-23T10:00:00", "zed"))
    answer = query(harness, loaded, event="Signed Up", **WEEK)
    assert answer["data"]["values"]["Signed Up"]["2026-11-23"] == 3
    assert (
        query(harness, other, event="Signed Up", **WEEK)["data"]["values"]["Signed Up"][
            "2026-11-23"
        ]
        == 1
    )


def test_the_project_token_cannot_read(harness: Harness, loaded: NewProject) -> None:
    response = harness.client.get(
        "/api/query/segmentation",
        params={"event": "Signed Up", **WEEK},
        auth=(loaded.token, ""),
    )
    assert response.status_code == 401
    assert response.json() == {"request": "/api/query/segmentation", "error": "Invalid credentials"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (WEEK, "event is a required parameter"),
        ({"event": "A", "from_date": "2026-11-20"}, "to_date is a required parameter"),
        ({"event": "A", "from_date": "2026-11-26", "to_date": "2026-11-20"}, "to_date must not"),
        ({"event": "A", **WEEK, "unit": "minute"}, "unit must be one of hour, day, week, month"),
        ({"event": "A", **WEEK, "type": "sum"}, "type must be one of general, unique, average"),
        ({"event": "A", **WEEK, "limit": "0"}, "limit must be a whole number"),
        ({"event": "A", **WEEK, "where": 'properties["x" =='}, "where"),
        (
            {"event": "A", "from_date": "2000-01-01", "to_date": "2026-11-26", "unit": "hour"},
            "more than 5000 hours",
        ),
        # Refused before a single bucket is made: no time spent, no overflow.
        (
            {"event": "A", "from_date": "0001-01-01", "to_date": "9999-12-30", "unit": "month"},
            "more than 5000 months",
        ),
        ({"event": "A", "from_date": "9999-12-31", "to_date": "9999-12-31"}, "before 9999-12-31"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    harness: Harness, project: NewProject, params: dict[str, str], message: str
) -> None:
    response = harness.client.get(
        "/api/query/segmentation",
        params=params,
        auth=(project.service_account.username, project.service_account.secret),
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
