"""The unmodified PyPI `mixpanel` 5.x client against a live trackyard, checked in the database.

The SDK posts form `data=<JSON>` with `verbose=1` and `ip=0` as form fields and raises
MixpanelException unless the answer is JSON with `status == 1` (mixpanel-behavior.md §17),
so every call below that returns is also a check of the server's answer.
"""

from __future__ import annotations

import datetime
import functools
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mixpanel
import pytest
from mixpanel import BufferedConsumer, Consumer, Mixpanel, MixpanelException
from mixpanel import ServiceAccountCredentials as Credentials

from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.e2e

HEX32 = re.compile(r"[0-9a-f]{32}")
LIB = {"mp_lib": "python", "$lib_version": mixpanel.__version__}
# Old enough that /track would drop it; /import keeps it (§6).
IMPORT_TIME_S = 1_600_000_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as live:
        yield live


class Window:
    """Wall-clock span of a test, to check times the client or server took from its clock."""

    def __init__(self) -> None:
        self.start_ms = int(time.time() * 1000) - 1

    def check_ms(self, value: int) -> None:
        assert self.start_ms <= value <= time.time() * 1000 + 1

    def check_last_seen(self, value: str) -> None:
        # Profiles store `$last_seen` from the update's `$time` as `YYYY-MM-DDTHH:MM:SS` (UTC).
        first = _profile_date(self.start_ms)
        assert first <= value <= _profile_date(time.time() * 1000 + 1000)


def _profile_date(ms: float) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def consumer_kwargs(server: LiveServer) -> dict[str, str]:
    # Plain http works through the *_url overrides (api_host would force https).
    return {
        "events_url": f"{server.url}/track",
        "people_url": f"{server.url}/engage",
        "groups_url": f"{server.url}/groups",
        "import_url": f"{server.url}/import",
    }


def client(server: LiveServer, **consumer_args: Any) -> Mixpanel:
    return Mixpanel(
        server.project["token"], consumer=Consumer(**consumer_kwargs(server), **consumer_args)
    )


def buffered_client(server: LiveServer, **consumer_args: Any) -> tuple[Mixpanel, BufferedConsumer]:
    consumer = BufferedConsumer(**consumer_kwargs(server), **consumer_args)
    return Mixpanel(server.project["token"], consumer=consumer), consumer


def service_account(server: LiveServer) -> Credentials:
    account = server.project["service_account"]
    return Credentials(account["username"], account["secret"], str(server.project["project_id"]))


def events_named(server: LiveServer, name: str) -> list[dict[str, Any]]:
    return [e["properties"] for e in server.events() if e["event"] == name]


def without_receive_stamps(props: dict[str, Any], window: Window) -> dict[str, Any]:
    """`props` without the receive stamps the server adds, after checking them."""
    props = dict(props)
    received = props.pop("$mp_api_timestamp_ms")
    assert props.pop("mp_processing_time_ms") == received
    window.check_ms(received)
    return props


def without_sdk_insert_id(props: dict[str, Any]) -> dict[str, Any]:
    """`props` without `$insert_id`, after checking it is the SDK's uuid4().hex."""
    props = dict(props)
    assert HEX32.fullmatch(props.pop("$insert_id"))
    return props


def without_import_stamps(props: dict[str, Any], window: Window) -> dict[str, Any]:
    """`props` without the receive stamps and the `$import` flag /import adds."""
    props = without_receive_stamps(props, window)
    assert props.pop("$import") is True
    return props


def without_generated_id_and_time(props: dict[str, Any]) -> dict[str, Any]:
    """`props` without the `$insert_id` the server generated and `time`."""
    props = dict(props)
    assert HEX32.fullmatch(props.pop("$insert_id"))
    props.pop("time")
    return props


def profile_props(server: LiveServer, distinct_id: str, window: Window) -> dict[str, Any] | None:
    """A user profile without `$last_seen`, after checking it came from the SDK's `$time`."""
    return _without_last_seen(server.profile(distinct_id), window)


def group_props(
    server: LiveServer, key: str, group_id: str, window: Window
) -> dict[str, Any] | None:
    """A group profile without `$last_seen`, after checking it came from the SDK's `$time`."""
    return _without_last_seen(server.group(key, group_id), window)


def _without_last_seen(props: dict[str, Any] | None, window: Window) -> dict[str, Any] | None:
    if props is None:
        return None
    props = dict(props)
    window.check_last_seen(props.pop("$last_seen"))
    return props


def test_track_stores_properties_unicode_nested_and_ms_time(server: LiveServer) -> None:
    window = Window()
    mp = client(server)
    sent_at = int(time.time()) - 3600 + 0.25  # float seconds, as the SDK sends; exact in ms
    properties = {
        "time": sent_at,
        "plan": "pro",
        "name": "Zoë ~ 東京 🚀 a>b?",
        "nested": {"level": {"deep": [1, 2.5, {"x": "ü"}]}, "ok": True},
        "tags": ["a", "b"],
        "count": 3,
        "none": None,
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
    }
    mp.track("user-ü", "Signed Up ✓", properties)
    mp.track("user-2", "Page Viewed")

    [signed_up] = events_named(server, "Signed Up ✓")
    assert without_sdk_insert_id(without_receive_stamps(signed_up, window)) == {
        **LIB,
        **properties,
        "time": int(sent_at * 1000),
        "distinct_id": "user-ü",
        "when": "2026-01-02T03:04:05",  # the SDK's DatetimeSerializer
    }
    [viewed] = events_named(server, "Page Viewed")
    window.check_ms(viewed["time"])  # the SDK's time.time(), float seconds -> ms
    assert without_sdk_insert_id(without_receive_stamps(viewed, window)) == {
        **LIB,
        "time": viewed["time"],
        "distinct_id": "user-2",
    }
    assert len(server.events()) == 2


def test_buffered_consumer_flushes_batches_of_fifty(server: LiveServer) -> None:
    window = Window()
    mp, consumer = buffered_client(server)
    base = int(time.time()) - 600
    for seq in range(120):
        mp.track(f"user-{seq % 7}", "Batched", {"seq": seq, "time": base + seq, "q": "~>?ü"})
    for _ in range(60):
        mp.people_increment("counter", {"hits": 1})
    # Two full batches of 50 went out on their own; 20 events wait for flush().
    assert len(server.events()) == 100
    assert profile_props(server, "counter", window) == {"hits": 50}

    consumer.flush()

    stored = events_named(server, "Batched")
    assert [p["seq"] for p in stored] == list(range(120))
    for seq, props in enumerate(stored):
        assert without_sdk_insert_id(without_receive_stamps(props, window)) == {
            **LIB,
            "seq": seq,
            "q": "~>?ü",
            "time": (base + seq) * 1000,
            "distinct_id": f"user-{seq % 7}",
        }
    assert len({p["$insert_id"] for p in stored}) == 120
    assert profile_props(server, "counter", window) == {"hits": 60}


def test_import_data_with_service_account(server: LiveServer) -> None:
    window = Window()
    mp = client(server, credentials=service_account(server))
    mp.import_data(None, "user-1", "Old Purchase", IMPORT_TIME_S, {"amount": 12.5, "city": "Köln"})

    [old] = events_named(server, "Old Purchase")
    assert without_sdk_insert_id(without_import_stamps(old, window)) == {
        **LIB,
        "amount": 12.5,
        "city": "Köln",
        "time": IMPORT_TIME_S * 1000,
        "distinct_id": "user-1",
    }

    buffered, consumer = buffered_client(server, credentials=service_account(server))
    for seq in range(55):
        buffered.import_data(None, f"user-{seq}", "Old Batch", IMPORT_TIME_S + seq, {"seq": seq})
    consumer.flush()
    batch = events_named(server, "Old Batch")
    assert [(p["seq"], p["time"]) for p in batch] == [
        (seq, (IMPORT_TIME_S + seq) * 1000) for seq in range(55)
    ]
    assert all(p["$import"] is True for p in batch)


def test_import_data_with_legacy_api_secret(server: LiveServer) -> None:
    window = Window()
    mp = client(server)
    secret = server.project["api_secret"]
    mp.import_data(None, "user-9", "Legacy Import", IMPORT_TIME_S, {"n": 1}, api_secret=secret)
    # The deprecated api_key rides along as a form field next to Basic `secret:`.
    mp.import_data(
        server.project["token"],
        "user-9",
        "Legacy Import",
        IMPORT_TIME_S + 1,
        {"n": 2},
        api_secret=secret,
    )

    stored = events_named(server, "Legacy Import")
    assert [without_sdk_insert_id(without_import_stamps(p, window)) for p in stored] == [
        {**LIB, "n": n, "time": (IMPORT_TIME_S + n - 1) * 1000, "distinct_id": "user-9"}
        for n in (1, 2)
    ]

    with pytest.raises(MixpanelException):
        mp.import_data(None, "user-9", "Refused", IMPORT_TIME_S, api_secret="not-the-secret")
    assert events_named(server, "Refused") == []


def test_people_operations(server: LiveServer) -> None:
    window = Window()
    mp = client(server)
    mp.people_set("u1", {"$name": "Zoë", "plan": "free", "tags": ["a"]})
    mp.people_set_once("u1", {"plan": "pro", "source": "python"})
    mp.people_increment("u1", {"logins": 1, "credits": 2.5})
    mp.people_increment("u1", {"logins": 2, "credits": -1})
    mp.people_append("u1", {"pages": "home"})
    mp.people_append("u1", {"pages": "home"})
    mp.people_union("u1", {"tags": ["a", "b", "c"]})
    mp.people_remove("u1", {"tags": "a"})
    mp.people_unset("u1", ["source"])
    mp.people_update({"$distinct_id": "u1", "$set": {"via_update": True}})
    after_updates = {
        "$name": "Zoë",
        "plan": "free",  # $set_once did not overwrite
        "logins": 3,
        "credits": 1.5,
        "pages": ["home", "home"],  # $append keeps duplicates
        "tags": ["b", "c"],  # $union deduplicated, $remove took "a"
        "via_update": True,
    }
    assert profile_props(server, "u1", window) == after_updates

    mp.people_track_charge("u1", 9.99, {"$time": datetime.datetime(2026, 3, 4, 5, 6, 7)})
    mp.people_track_charge("u1", 20)
    assert profile_props(server, "u1", window) == {
        **after_updates,
        "$transactions": [{"$time": "2026-03-04T05:06:07", "$amount": 9.99}, {"$amount": 20}],
    }
    mp.people_clear_charges("u1")  # Python unsets the list
    assert profile_props(server, "u1", window) == after_updates

    mp.people_set("u2", {"temporary": True})
    assert profile_props(server, "u2", window) == {"temporary": True}
    mp.people_delete("u2")
    assert server.profile("u2") is None
    assert server.rows("SELECT distinct_id FROM profiles") == [("u1",)]


def test_group_operations(server: LiveServer) -> None:
    window = Window()
    mp = client(server)
    mp.group_set("company", "Acme ü", {"$name": "Acme", "industry": "widgets", "items": ["anvil"]})
    mp.group_set_once("company", "Acme ü", {"industry": "rockets", "founded": 1949})
    mp.group_union("company", "Acme ü", {"items": ["anvil", "rocket", "magnet"]})
    mp.group_remove("company", "Acme ü", {"items": "magnet"})
    mp.group_unset("company", "Acme ü", ["founded"])
    mp.group_update({"$group_key": "company", "$group_id": "Acme ü", "$set": {"size": 120}})
    assert group_props(server, "company", "Acme ü", window) == {
        "$name": "Acme",
        "industry": "widgets",
        "items": ["anvil", "rocket"],
        "size": 120,
    }

    mp.group_set("company", "Gone Inc", {"x": 1})
    assert group_props(server, "company", "Gone Inc", window) == {"x": 1}
    mp.group_delete("company", "Gone Inc")
    assert server.group("company", "Gone Inc") is None
    assert server.rows("SELECT group_key, group_id FROM group_profiles") == [("company", "Acme ü")]


def test_alias_and_merge(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    window = Window()
    # alias() always posts through a fresh default `Consumer()` aimed at api.mixpanel.com;
    # give that one call the live server's URLs so nothing leaves the machine.
    monkeypatch.setattr(
        mixpanel, "Consumer", functools.partial(Consumer, **consumer_kwargs(server))
    )
    mp = client(server, credentials=service_account(server))
    mp.alias("new-id", "anon-1")
    mp.merge(None, "anon-1", "user-1")

    # Neither call sends `time` or `$insert_id`: the server uses its receive time
    # and generates an id.
    [alias] = events_named(server, "$create_alias")
    assert alias["time"] == alias["$mp_api_timestamp_ms"]
    assert without_generated_id_and_time(without_receive_stamps(alias, window)) == {
        "distinct_id": "anon-1",
        "alias": "new-id",
    }
    [merge] = events_named(server, "$merge")
    assert merge["time"] == merge["$mp_api_timestamp_ms"]
    assert without_generated_id_and_time(without_import_stamps(merge, window)) == {
        "$distinct_ids": ["anon-1", "user-1"],
        "distinct_id": "",
    }
