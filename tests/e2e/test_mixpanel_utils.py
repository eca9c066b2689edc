"""Mixpanel's own export tooling (PyPI `mixpanel-utils`) reads back, through
/api/2.0/export and /api/2.0/engage, what the official Python SDK wrote.

mixpanel-utils derives its hosts from `residency` (mixpanel-behavior.md §1);
its instance attributes `raw_api`, `formatted_api` and `import_api` are set to
the live server, and nothing of the library itself is changed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from mixpanel import BufferedConsumer, Consumer, Mixpanel
from mixpanel_utils import MixpanelUtils

from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.e2e
PROFILES = 2345  # three pages of 1000, fetched concurrently by mixpanel-utils


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with live_server(tmp_path_factory.mktemp("utils")) as live:
        yield live


def sdk(server: LiveServer, buffered: bool = False) -> Mixpanel:
    urls = {
        "events_url": f"{server.url}/track",
        "people_url": f"{server.url}/engage",
        "groups_url": f"{server.url}/groups",
        "import_url": f"{server.url}/import",
    }
    consumer = BufferedConsumer(**urls) if buffered else Consumer(**urls)
    return Mixpanel(server.project["token"], consumer=consumer)


def utils(server: LiveServer) -> MixpanelUtils:
    account = server.project["service_account"]
    client = MixpanelUtils(
        account["secret"],
        token=server.project["token"],
        service_account_username=account["username"],
        project_id=server.project["project_id"],
    )
    client.raw_api = client.formatted_api = f"{server.url}/api"
    client.import_api = server.url
    return client


def test_events_written_by_the_sdk_come_back_through_export(
    server: LiveServer, tmp_path: Path
) -> None:
    mp = sdk(server)
    sent_at = time.time()
    mp.track("alice", "Signed Up", {"plan": "pro", "tags": ["a", "b"], "nested": {"k": 1}})
    mp.track("bob", "Played", {"song": "Zoë ✓", "seconds": 12.5})
    mp.people_set("alice", {"$email": "alice@example.com"})
    today = time.strftime("%Y-%m-%d", time.gmtime(sent_at))

    out = tmp_path / "events.json"
    utils(server).export_events(str(out), {"from_date": today, "to_date": today})
    events = {e["event"]: e["properties"] for e in json.loads(out.read_text())}
    assert set(events) == {"Signed Up", "Played"}
    alice = events["Signed Up"]
    assert (alice["distinct_id"], alice["plan"], alice["tags"], alice["nested"]) == (
        "alice",
        "pro",
        ["a", "b"],
        {"k": 1},
    )
    assert alice["mp_lib"] == "python" and len(alice["$insert_id"]) == 32
    assert abs(alice["time"] - sent_at) < 60 and isinstance(alice["time"], int)
    assert "token" not in alice
    assert (events["Played"]["song"], events["Played"]["seconds"]) == ("Zoë ✓", 12.5)

    gz = utils(server).query_export({"from_date": today, "to_date": today}, add_gzip_header=True)
    assert sorted(e["event"] for e in gz) == ["Played", "Signed Up"]


def test_profiles_come_back_through_engage_paged_concurrently(
    server: LiveServer, tmp_path: Path
) -> None:
    mp = sdk(server, buffered=True)
    for i in range(PROFILES):
        mp.people_set(f"user-{i:05}", {"n": i, "$name": f"User {i}"}, meta={"$ignore_time": True})
    mp._consumer.flush()
    mp.people_increment("user-00007", {"visits": 2})
    mp.people_union("user-00007", {"tags": ["x", "y"]})
    mp._consumer.flush()

    out = tmp_path / "people.json"
    utils(server).export_people(str(out))
    profiles = {p["$distinct_id"]: p["$properties"] for p in json.loads(out.read_text())}
    mine = {k: v for k, v in profiles.items() if k.startswith("user-")}
    assert len(mine) == PROFILES
    assert mine["user-00042"] == {"n": 42, "$name": "User 42"}
    seventh = mine["user-00007"]
    assert (seventh["visits"], seventh["tags"], seventh["n"]) == (2, ["x", "y"], 7)
