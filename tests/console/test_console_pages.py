"""The console's pages, in-process: what each shows for data sent through the APIs."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import NOW_MS, Harness
from tests.console.conftest import event, import_events
from tests.console.pages import post_form, signed_in
from trackyard.service.projects import NewProject

NOW_S = NOW_MS // 1000  # 2026-11-26T12:00:00Z


def send_profile(client: TestClient, path: str, record: dict[str, Any]) -> None:
    answer = client.post(f"{path}?verbose=1", data={"data": json.dumps([record])})
    assert answer.json() == {"error": None, "status": 1}, answer.text


def json_block(html: str, element_id: str) -> Any:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html)
    assert found, f"no #{element_id}"
    return json.loads(found[1])


def test_live_shows_the_newest_events_and_then_what_arrives(
    harness: Harness, project: NewProject
) -> None:
    client = signed_in(harness, project)
    import_events(harness, project, event("Old", "2026-11-20T10:00:00", "u1", colour="blue"))
    page = client.get("/console/live").text
    assert "Old" in page and "&#34;colour&#34;: &#34;blue&#34;" in page
    position = json_block(page, "live-state")["position"]
    assert client.get(f"/console/live/feed?after={position}").json()["events"] == []
    recent = [
        {
            "event": "Clicked",
            "properties": {"time": NOW_S - 30, "distinct_id": "u2", "$insert_id": f"c{i}"},
        }
        for i in range(3)
    ]
    import_events(harness, project, *recent, event("Backfill", "2026-01-01T00:00:00", "u3"))
    feed = client.get(f"/console/live/feed?after={position}").json()
    # Newest arrival first, whatever its event time; three in the last minute.
    assert [e["event"] for e in feed["events"]] == ["Backfill", "Clicked", "Clicked", "Clicked"]
    assert feed["per_minute"] == 3 and feed["position"] > position
    assert client.get(f"/console/live/feed?after={feed['position']}").json()["events"] == []


def test_live_filters_by_event_name_and_merged_user(harness: Harness, project: NewProject) -> None:
    client = signed_in(harness, project)
    import_events(
        harness,
        project,
        event("Viewed", "2026-11-24T08:00:00", "$device:d1"),
        event(
            "Viewed", "2026-11-24T08:01:00", "carol", **{"$device_id": "d1", "$user_id": "carol"}
        ),
        event("Bought", "2026-11-24T08:02:00", "carol"),
        event("Viewed", "2026-11-24T08:03:00", "dan"),
    )
    feed = client.get("/console/live/feed?after=0&distinct_id=carol").json()
    assert [(e["event"], e["distinct_id"]) for e in feed["events"]] == [
        ("Bought", "carol"),
        ("Viewed", "carol"),
        ("Viewed", "carol"),  # sent as $device:d1, shown as the user it merged into
    ]
    viewed = client.get("/console/live/feed?after=0&event=Viewed").json()["events"]
    assert len(viewed) == 3
    page = client.get("/console/live?event=Bought").text
    assert page.count('class="event-name"') == 1


def test_insights_shows_the_same_numbers_as_the_api(harness: Harness, project: NewProject) -> None:
    client = signed_in(harness, project)
    import_events(
        harness,
        project,
        event("Signed Up", "2026-11-23T10:00:00", "a", plan="pro"),
        event("Signed Up", "2026-11-23T11:00:00", "b", plan="free"),
        event("Signed Up", "2026-11-25T11:00:00", "c", plan="pro"),
        event("Purchase", "2026-11-25T12:00:00", "a", plan="pro"),
    )
    url = (
        "/console/insights?event=Signed+Up&event=Purchase&from_date=2026-11-22&to_date=2026-11-26"
        "&unit=day&on=properties%5B%22plan%22%5D"
    )
    page = client.get(url).text
    chart = json_block(page, "chart-data")
    assert chart["labels"] == [f"2026-11-{d}" for d in range(22, 27)]
    assert {d["label"]: d["data"] for d in chart["datasets"]} == {
        "Signed Up · pro": [0, 1, 0, 1, 0],
        "Signed Up · free": [0, 1, 0, 0, 0],
        "Purchase · pro": [0, 0, 0, 1, 0],
    }
    totals = re.findall(r'<td class="num">(\d+)</td></tr>', page.split('id="totals"')[1])
    assert totals[:3] == ["2", "1", "1"]
    api = client.get(
        "/api/query/segmentation",
        params={
            "event": "Signed Up",
            "from_date": "2026-11-22",
            "to_date": "2026-11-26",
            "on": 'properties["plan"]',
            "project_id": project.project_id,
        },
        auth=(project.service_account.username, project.service_account.secret),
    ).json()
    assert list(api["data"]["values"]["pro"].values()) == [0, 1, 0, 1, 0]


def test_insights_defaults_to_the_last_30_days_of_the_busiest_event(
    harness: Harness, project: NewProject
) -> None:
    client = signed_in(harness, project)
    import_events(harness, project, event("Seen", "2026-11-26T09:00:00", "a"))
    page = client.get("/console/insights").text
    assert 'value="2026-10-28"' in page and 'value="2026-11-26"' in page
    assert json_block(page, "chart-data")["datasets"][0]["data"][-1] == 1


def test_insights_explains_a_bad_where(harness: Harness, project: NewProject) -> None:
    client = signed_in(harness, project)
    answer = client.get("/console/insights?event=X&where=properties%5B")
    assert answer.status_code == 400
    assert 'id="query-error"' in answer.text and "where: invalid expression" in answer.text


def test_profiles_search_and_page_with_merged_events(harness: Harness, project: NewProject) -> None:
    client = signed_in(harness, project)
    send_profile(
        client,
        "/engage",
        {
            "$token": project.token,
            "$distinct_id": "carol",
            "$set": {"$name": "Carol", "plan": "pro"},
        },
    )
    send_profile(
        client,
        "/engage",
        {"$token": project.token, "$distinct_id": "dave", "$set": {"plan": "free"}},
    )
    import_events(
        harness,
        project,
        event("Viewed", "2026-11-24T08:00:00", "$device:d1"),
        event(
            "Signed In", "2026-11-24T08:01:00", "carol", **{"$device_id": "d1", "$user_id": "carol"}
        ),
    )
    by_id = client.get("/console/profiles?q=car").text
    assert "Carol" in by_id and "dave" not in by_id
    by_property = client.get(
        "/console/profiles", params={"where": 'properties["plan"] == "free"'}
    ).text
    assert "dave" in by_property and "carol" not in by_property
    profile = client.get("/console/profile?distinct_id=carol").text
    assert "Carol" in profile and "Viewed" in profile and "Signed In" in profile
    bad = client.get("/console/profiles", params={"where": "properties["})
    assert bad.status_code == 400


def test_groups_search_and_page(harness: Harness, project: NewProject) -> None:
    client = signed_in(harness, project)
    group = {"$token": project.token, "$group_key": "company", "$group_id": "acme"}
    send_profile(client, "/groups", {**group, "$set": {"name": "Acme", "seats": 10}})
    import_events(
        harness,
        project,
        event("Invoice Paid", "2026-11-25T08:00:00", "u1", company="acme"),
        event("Invoice Paid", "2026-11-25T09:00:00", "u2", company=["beta", "acme"]),
        event("Invoice Paid", "2026-11-25T10:00:00", "u3", company="beta"),
    )
    listing = client.get("/console/groups").text
    assert "acme" in listing and "Acme" in listing
    page = client.get("/console/group?key=company&id=acme").text
    assert page.count('class="event-name"') == 2 and "&#34;seats&#34;" not in page
    assert "seats" in page


def test_lookup_upload_reports_errors_as_the_api_does(
    harness: Harness, project: NewProject
) -> None:
    client = signed_in(harness, project)
    made = post_form(client, "/console/lookup-tables", "/console/lookup-tables", name="Accounts")
    table_page = made.headers["location"]
    table_id = table_page.rsplit("/", 1)[1]
    bad_csv = b"account_id,plan\na1,Free\n,Paid\n"
    token = re.search(r'name="csrf" value="([^"]+)"', client.get(table_page).text)
    assert token
    answer = client.post(
        f"{table_page}/upload",
        data={"csrf": token[1]},
        files={"csv": ("accounts.csv", bad_csv, "text/csv")},
    )
    assert answer.status_code == 400
    api = client.put(
        f"/lookup-tables/{table_id}",
        params={"project_id": project.project_id},
        content=bad_csv,
        headers={"Content-Type": "text/csv"},
        auth=(project.service_account.username, project.service_account.secret),
    ).json()
    assert api["failed_records"] == [{"index": 2, "message": api["failed_records"][0]["message"]}]
    shown = answer.text.split('id="upload-errors"')[1]
    assert '<td class="num">2</td>' in shown and api["failed_records"][0]["message"] in shown
    good = client.post(
        f"{table_page}/upload",
        data={"csrf": token[1]},
        files={"csv": ("accounts.csv", b"account_id,plan\na1,Free\na2,Paid\n", "text/csv")},
        follow_redirects=False,
    )
    assert good.headers["location"].endswith("?uploaded=1")
    preview = client.get(good.headers["location"]).text
    assert 'id="upload-ok"' in preview and "Paid" in preview and "a2" in preview


def test_lookup_upload_over_the_limit_is_refused_before_reading(
    harness: Harness, project: NewProject
) -> None:
    client = signed_in(harness, project)
    made = post_form(client, "/console/lookup-tables", "/console/lookup-tables", name="Big")
    limit = harness.services.settings.lookup_table_max_bytes
    answer = client.post(
        f"{made.headers['location']}/upload",
        content=b"x",
        headers={
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(limit * 2),
        },
    )
    assert answer.status_code == 413


def test_chart_library_and_own_files_are_served(harness: Harness) -> None:
    chart = harness.client.get("/console/assets/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart" in chart.text[:2000]
    assert harness.client.get("/console/static/console.css").status_code == 200
    assert harness.client.get("/console/static/../templates/base.html").status_code == 404
