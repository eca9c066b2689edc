"""The console in headless Chromium against a live `trackyard serve`.

One walk through every page, as a person would: sign in, watch an event sent
by the official Python SDK arrive in the live view, draw an Insights chart
and check its numbers against the events imported for it, find a profile,
look at a group, upload a lookup table with a bad row and see the error,
create a service account. Each page is saved to `test-artifacts/console-<page>.png`.
Chromium is Debian's (`/usr/bin/chromium`), never a downloaded browser.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
import orjson
import pytest
from mixpanel import Consumer, Mixpanel
from playwright.sync_api import Browser, Page, expect

from tests.chromium import ARTIFACTS, chromium
from tests.live_server import LiveServer, live_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHART_JS = (
    Path(__file__).resolve().parents[2]
    / "src/trackyard/console/assets/node_modules/chart.js/dist/chart.umd.min.js"
)
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    needs = (CHART_JS, "The console's Chart.js", "`make e2e-deps` installs it (npm ci)")
    with chromium(needs) as launched:
        yield launched


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as server:
        yield server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def sdk(server: LiveServer) -> Mixpanel:
    """The official Python SDK, unmodified, pointed at the live server."""
    consumer = Consumer(
        events_url=f"{server.url}/track",
        people_url=f"{server.url}/engage",
        groups_url=f"{server.url}/groups",
    )
    return Mixpanel(server.project["token"], consumer=consumer)


def history(days: list[str]) -> list[tuple[str, str, str, str]]:
    """(event, day, distinct_id, plan): a varying number of sign-ups a day,
    half of them as many purchases, plans alternating."""
    rows = []
    for n, day in enumerate(days):
        for k in range(2 + (n * 7) % 9):
            rows.append(("Signed Up", day, f"user-{n}-{k}", ("pro", "free", "free")[k % 3]))
        for k in range(1 + (n * 7) % 9 // 2):
            rows.append(("Purchase", day, f"user-{n}-{k}", ("pro", "free", "free")[k % 3]))
    return rows


def import_history(server: LiveServer, rows: list[tuple[str, str, str, str]]) -> None:
    body = [
        {
            "event": name,
            "properties": {
                "time": int(datetime.fromisoformat(f"{day}T10:00:00+00:00").timestamp()) + i,
                "distinct_id": who,
                "$insert_id": f"h-{i}",
                "plan": plan,
            },
        }
        for i, (name, day, who, plan) in enumerate(rows)
    ]
    account = server.project["service_account"]
    answer = httpx.post(
        f"{server.url}/import?strict=1&project_id={server.project['project_id']}",
        content=orjson.dumps(body),
        headers={"Content-Type": "application/json"},
        auth=(account["username"], account["secret"]),
    )
    assert answer.status_code == 200, answer.text


def expected_series(
    rows: list[tuple[str, str, str, str]], days: list[str], split: bool
) -> dict[str, list[int]]:
    """What the chart must draw, counted from the events sent."""
    counts = Counter((f"{name} · {plan}" if split else name, day) for name, day, _, plan in rows)
    return {label: [counts[label, day] for day in days] for label, _ in counts}


def sign_in(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/console")
    expect(page).to_have_url(re.compile(r"/console/login"))
    account = server.project["service_account"]
    page.get_by_label("Service account").fill(account["username"])
    page.get_by_label("Secret").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong secret")
    page.get_by_label("Secret").fill(account["secret"])
    screenshot(page, "signin")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/live$"))


def see_sdk_event_arrive(page: Page, server: LiveServer) -> None:
    rows = page.locator("#live-events tr[data-position]")
    before = rows.count()
    mp = sdk(server)
    mp.track("sdk-user", "Browser Test Event", {"plan": "pro", "source": "python-sdk"})
    mp.people_set("sdk-user", {"$name": "SDK User", "plan": "pro"})
    mp.group_set("company", "acme", {"name": "Acme Corp", "seats": 12})
    row = page.locator("#live-events tr", has_text="Browser Test Event").first
    expect(row).to_be_visible()  # arrives by polling, without a reload
    assert rows.count() == before + 1
    expect(page.locator("#per-minute")).to_have_text("1")
    row.locator("summary").click()
    expect(row.locator("pre")).to_contain_text('"source": "python-sdk"')
    expect(row).to_contain_text("sdk-user")
    screenshot(page, "live")


def draw_insights(page: Page, server: LiveServer) -> None:
    today = datetime.now(UTC).date()
    days = [str(today - timedelta(days=d)) for d in range(13, -1, -1)]
    rows = history(days[:-1])
    import_history(server, rows)
    query = {"event": ["Signed Up", "Purchase"], "from_date": days[0], "to_date": days[-1]}
    page.goto(f"{server.url}/console/insights?{urlencode(query, doseq=True)}")
    page.wait_for_function("window.trackyardChart !== undefined")
    assert page.evaluate("() => window.trackyardChart.data.labels") == days
    assert drawn_series(page) == expected_series(rows, days, split=False)
    totals = page.locator("#totals tbody tr")
    for n, name in enumerate(("Signed Up", "Purchase")):
        expect(totals.nth(n).locator("td").first).to_have_text(name)
        total = str(sum(1 for row in rows if row[0] == name))
        expect(totals.nth(n).locator("td.num")).to_have_text(total)
    screenshot(page, "insights")
    # Split by plan through the form: the URL keeps the view.
    page.get_by_label("Breakdown by").fill('properties["plan"]')
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"on=properties"))
    page.wait_for_function("window.trackyardChart !== undefined")
    assert drawn_series(page) == expected_series(rows, days, split=True)
    screenshot(page, "insights-breakdown")


def drawn_series(page: Page) -> dict[str, list[int]]:
    drawn: dict[str, list[int]] = page.evaluate(
        """() => Object.fromEntries(window.trackyardChart.data.datasets.map(
               d => [d.label, d.data]))"""
    )
    return drawn


def find_profile(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/console/profiles")
    page.get_by_label("distinct_id").fill("sdk")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#profile-results tbody tr")).to_have_count(1)
    screenshot(page, "profiles")
    page.get_by_role("link", name="sdk-user").click()
    expect(page.locator("table.properties")).to_contain_text("SDK User")
    expect(page.locator("table.events")).to_contain_text("Browser Test Event")
    screenshot(page, "profile")
    page.goto(f"{server.url}/console/groups")
    expect(page.locator("#group-results")).to_contain_text("Acme Corp")
    screenshot(page, "groups")
    page.get_by_role("link", name="acme").click()
    expect(page.locator("table.properties")).to_contain_text("12")  # seats
    screenshot(page, "group")


def upload_lookup_table(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/console/lookup-tables")
    page.get_by_label("Name").fill("Accounts")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    bad = b"account_id,plan,seats\na1,Free,1\n,Paid,5\na3,Paid,9\n"
    page.set_input_files('input[name="csv"]', files=[_csv("bad.csv", bad)])
    page.get_by_role("button", name="Upload").click()
    report = page.locator("#upload-errors")
    expect(report).to_contain_text("failed validation")
    expect(report.locator("tbody tr")).to_have_count(1)
    expect(report.locator("tbody td.num")).to_have_text("2")
    expect(report).to_contain_text("primary key")
    screenshot(page, "lookup-error")
    good = b"account_id,plan,seats\na1,Free,1\na2,Paid,5\n"
    page.set_input_files('input[name="csv"]', files=[_csv("good.csv", good)])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-ok")).to_be_visible()
    expect(page.locator("#lookup-rows tbody tr")).to_have_count(2)
    screenshot(page, "lookup-table")


def _csv(name: str, content: bytes) -> Any:
    return {"name": name, "mimeType": "text/csv", "buffer": content}


def manage_settings(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/console/settings")
    expect(page.locator("#project-token")).to_have_text(server.project["token"])
    page.get_by_placeholder("generated if empty").fill("browser-bot")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.locator("#revealed-username")).to_have_text("browser-bot")
    secret = page.locator("#revealed-value").inner_text()
    assert re.fullmatch(r"[0-9a-f]{32}", secret)
    screenshot(page, "settings")
    page.reload()
    expect(page.locator("#revealed-value")).to_have_count(0)  # shown once


def test_every_console_page_in_chromium(page: Page, server: LiveServer) -> None:
    sign_in(page, server)
    see_sdk_event_arrive(page, server)
    draw_insights(page, server)
    find_profile(page, server)
    upload_lookup_table(page, server)
    manage_settings(page, server)
