"""How long the console's pages and `/api/query/segmentation` take on a big database.

Run against a database from make_events_db.py (which prints the credentials):

    .venv/bin/python benchmarks/insights_query.py --db /tmp/10m.db \
        --username USER --secret SECRET

Signs in to the console in-process, then times the Insights page (query and
rendering, as a browser would load it) and the segmentation API for 30 days
ending at `--end`, in several shapes, then the other pages; each figure is
the median of `--runs` runs.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from urllib.parse import urlencode

from starlette.testclient import TestClient

from trackyard.http.app import create_app
from trackyard.settings import Settings

SHAPES: list[tuple[str, dict[str, str | list[str]]]] = [
    ("1 event, per day (hourly counts table)", {"event": ["Page Viewed"]}),
    (
        "3 events, per day",
        {"event": ["Page Viewed", "Purchase", "Signed Up"]},
    ),
    ("1 event, per hour", {"event": ["Purchase"], "unit": "hour"}),
    ("1 event, unique users per day", {"event": ["Purchase"], "type": "unique"}),
    (
        "1 event, breakdown by $browser",
        {"event": ["Purchase"], "on": 'properties["$browser"]'},
    ),
    (
        "1 event, where plan == pro",
        {"event": ["Purchase"], "where": 'properties["plan"] == "pro"'},
    ),
    (
        "busiest event (40%), breakdown by $browser",
        {"event": ["Page Viewed"], "on": 'properties["$browser"]'},
    ),
]


OTHER_PAGES = [
    ("live view", "/console/live"),
    ("live view, one event name", "/console/live?event=Purchase"),
    ("live view, one user", "/console/live?distinct_id=u4242"),
    ("live poll (nothing new)", "/console/live/feed?after={position}"),
    ("profile page with recent events", "/console/profile?distinct_id=u4242"),
    ("profiles: distinct_id prefix", "/console/profiles?q=u4242"),
    (
        "profiles: where plan == pro",
        "/console/profiles?where=properties%5B%22plan%22%5D%3D%3D%22pro%22",
    ),
]


def sign_in(client: TestClient, username: str, secret: str) -> None:
    page = client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, "no sign-in form"
    answer = client.post(
        "/console/login", data={"csrf": csrf[1], "username": username, "secret": secret}
    )
    assert answer.url.path == "/console/live", "sign-in failed"


def median_ms(call: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--project", default="1")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 26))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    dates = {"from_date": str(args.end - timedelta(days=29)), "to_date": str(args.end)}
    auth = (args.username, args.secret)
    with TestClient(create_app(Settings(db=args.db))) as client:
        sign_in(client, args.username, args.secret)
        print(f"30 days ({dates['from_date']} .. {dates['to_date']}), median of {args.runs}:")
        for label, params in SHAPES:
            page = f"/console/insights?{urlencode({**dates, **params}, doseq=True)}"
            assert client.get(page).status_code == 200, page
            page_ms = median_ms(lambda page=page: client.get(page), args.runs)
            line = f"  {label:<44} page {page_ms:8.0f} ms"
            events = params["event"]
            if len(events) == 1:
                api = {**dates, **params, "event": events[0], "project_id": args.project}
                url = f"/api/query/segmentation?{urlencode(api)}"
                assert client.get(url, auth=auth).status_code == 200, url
                api_ms = median_ms(lambda url=url: client.get(url, auth=auth), args.runs)
                line += f"   API {api_ms:8.0f} ms"
            print(line, flush=True)
        time_other_pages(client, args.runs)


def time_other_pages(client: TestClient, runs: int) -> None:
    live = client.get("/console/live").text
    position = re.search(r'"position": ?(\d+)', live)
    assert position, "no live position"
    print("Other pages:")
    for label, url in OTHER_PAGES:
        page = url.format(position=position[1])
        assert client.get(page).status_code == 200, page
        print(f"  {label:<44} page {median_ms(lambda page=page: client.get(page), runs):8.0f} ms")


if __name__ == "__main__":
    main()
