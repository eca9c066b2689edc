"""The unmodified npm `mixpanel` client against a live trackyard over HTTPS.

Node sends single calls as `GET ?data=<base64>` and batches as form POSTs whose
base64 is not percent-encoded, so `+` arrives as a space (mixpanel-behavior.md
§2.1, §17). It refuses to send an API secret over plain HTTP, hence TLS with a
throwaway CA. `node/drive_node_sdk.js` makes the calls and fails on any callback
error (Node accepts only a body of exactly `1`, or verbose `status == 1`); this
module checks what reached the database.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.tls import loopback_tls
from tests.live_server import LiveServer, live_server

pytestmark = pytest.mark.e2e

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "drive_node_sdk.js"
SDK_PACKAGE = NODE_DIR / "node_modules" / "mixpanel" / "package.json"
HEX32 = re.compile(r"[0-9a-f]{32}")
PLUS_MAKER = ">>>>>> ~~~~~~ Zoë 東京"  # the same string as in drive_node_sdk.js
# 2020-01-01T00:00:00Z: far outside /track's 5-day window; fine for /import.
IMPORT_MS = 1_577_836_800_000


@dataclass(frozen=True)
class NodeRun:
    """What one run of drive_node_sdk.js left in a live server's database."""

    server: LiveServer
    summary: dict[str, Any]
    sdk_version: str
    base_ms: int  # /track events were placed after this
    start_ms: int  # the run's wall-clock span, for times the server took from its clock
    end_ms: int

    def events(self) -> dict[str, list[dict[str, Any]]]:
        grouped: dict[str, list[dict[str, Any]]] = {}
        for event in self.server.events():
            grouped.setdefault(event["event"], []).append(event["properties"])
        return grouped

    def sent(self, props: dict[str, Any], *, batch: bool, imported: bool = False) -> dict[str, Any]:
        """`props` without what the SDK and server add to every event, after checking it.

        Single calls add `mp_lib` and `$lib_version`; batch calls add only the token.
        """
        props = dict(props)
        if not batch:
            assert props.pop("mp_lib") == "node"
            assert props.pop("$lib_version") == self.sdk_version
        assert "mp_lib" not in props
        # Node sends no $insert_id: the server generates one (outside dedup, §12).
        assert HEX32.fullmatch(props.pop("$insert_id"))
        received = props.pop("$mp_api_timestamp_ms")
        assert props.pop("mp_processing_time_ms") == received
        assert self.start_ms <= received <= self.end_ms
        assert props.pop("$import", False) is imported
        return props

    def profile(self, *profile_id: str) -> dict[str, Any] | None:
        """A user (one id) or group (key, id) profile without `$last_seen`, after checking it.

        Node sends no `$time`, so `$last_seen` is the server's receive time.
        """
        if len(profile_id) == 1:
            props = self.server.profile(profile_id[0])
        else:
            props = self.server.group(*profile_id)
        if props is None:
            return None
        props = dict(props)
        assert _profile_date(self.start_ms) <= props.pop("$last_seen") <= _profile_date(self.end_ms)
        return props


def _profile_date(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms // 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture(scope="module")
def node_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeRun]:
    if shutil.which("node") is None or not SDK_PACKAGE.exists():
        pytest.fail("the npm mixpanel client is not installed: run `make e2e-deps`")
    sdk_version = str(json.loads(SDK_PACKAGE.read_text())["version"])
    tmp = tmp_path_factory.mktemp("node_sdk")
    tls = loopback_tls(tmp)
    with live_server(tmp, *tls.serve_args(), scheme="https") as server:
        start_ms = int(time.time() * 1000)
        base_ms = (start_ms // 1000 - 3600) * 1000
        summary = run_node_sdk(server, tls.ca, base_ms)
        end_ms = int(time.time() * 1000)
        yield NodeRun(server, summary, sdk_version, base_ms, start_ms, end_ms)


def run_node_sdk(server: LiveServer, ca: Path, base_ms: int) -> dict[str, Any]:
    project = server.project
    env = {
        **{k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
        "NODE_EXTRA_CA_CERTS": str(ca),
        "TRACKYARD_URL": server.url,
        "TRACKYARD_TOKEN": project["token"],
        "TRACKYARD_SECRET": project["api_secret"],
        "TRACKYARD_PROJECT_ID": str(project["project_id"]),
        "TRACKYARD_SA_USERNAME": project["service_account"]["username"],
        "TRACKYARD_SA_SECRET": project["service_account"]["secret"],
        "TRACKYARD_BASE_MS": str(base_ms),
        "TRACKYARD_IMPORT_MS": str(IMPORT_MS),
    }
    done = subprocess.run(
        ["node", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"node SDK run failed:\n{done.stderr}"
    return dict(json.loads(done.stdout))


def test_every_call_succeeds_and_batches_carry_raw_plus(node_run: NodeRun) -> None:
    # The script exits non-zero on any callback error. 60 tracked and 55 imported events
    # went out as 4 form POSTs of at most 50, every one with `+` in its raw base64.
    assert node_run.summary == {"calls": 35, "batch_requests": 4, "batch_bodies_with_plus": 4}
    assert len(node_run.server.events()) == 3 + 60 + 2 + 55 + 1 + 3 + 1


def test_track_and_track_batch(node_run: NodeRun) -> None:
    events, base_ms = node_run.events(), node_run.base_ms
    [signed_up] = events["Signed Up"]
    assert node_run.sent(signed_up, batch=False) == {
        "distinct_id": "node-user",
        "time": base_ms,  # a Date, sent as ms
        "plan": "pro",
        "name": PLUS_MAKER,
        "nested": {"level": {"deep": [1, 2.5, {"x": "ü"}]}, "ok": True},
        "tags": ["a", "b"],
    }
    [viewed] = events["Page Viewed"]
    assert viewed["time"] == viewed["$mp_api_timestamp_ms"]  # no time sent: arrival time
    [verbose] = events["Verbose"]
    assert node_run.sent(verbose, batch=False) == {"distinct_id": "node-user", "time": base_ms + 1}
    assert [node_run.sent(p, batch=True) for p in events["Batched"]] == [
        {"distinct_id": f"node-{seq % 5}", "seq": seq, "time": base_ms + 10 + seq, "q": PLUS_MAKER}
        for seq in range(60)
    ]


def test_import_and_import_batch(node_run: NodeRun) -> None:
    events = node_run.events()
    [single] = events["Old Import"]  # GET ?data= with Basic `secret:`
    assert node_run.sent(single, batch=False, imported=True) == {
        "distinct_id": "node-user",
        "time": IMPORT_MS,
        "q": PLUS_MAKER,
    }
    [seconds] = events["Old Import Seconds"]
    assert node_run.sent(seconds, batch=False, imported=True) == {
        "distinct_id": "node-user",
        "time": IMPORT_MS,  # sent as seconds, stored as ms
    }
    assert [node_run.sent(p, batch=True, imported=True) for p in events["Old Batch"]] == [
        {"distinct_id": f"node-{seq}", "seq": seq, "time": IMPORT_MS + seq * 1000, "q": PLUS_MAKER}
        for seq in range(55)
    ]
    [by_account] = events["SA Import"]  # Basic service account plus ?project_id=
    assert node_run.sent(by_account, batch=False, imported=True) == {
        "distinct_id": "node-sa",
        "time": IMPORT_MS,
    }
    assert [node_run.sent(p, batch=True, imported=True) for p in events["SA Batch"]] == [
        {"distinct_id": "node-sa", "seq": seq, "time": IMPORT_MS + seq} for seq in range(3)
    ]


def test_alias(node_run: NodeRun) -> None:
    [alias] = node_run.events()["$create_alias"]
    assert alias["time"] == alias["$mp_api_timestamp_ms"]  # no time sent: arrival time
    alias = node_run.sent(alias, batch=False)
    del alias["time"]
    assert alias == {"distinct_id": "node-user", "alias": "node-alias"}


def test_people_operations(node_run: NodeRun) -> None:
    server = node_run.server
    assert node_run.profile("node-user") == {
        "$name": "Zoë",
        "plan": "free",  # $set_once did not overwrite
        "city": "Köln",
        "logins": 3,  # 1 + 2
        "credits": 2.5,
        "pages": ["home", "home"],  # $append keeps duplicates
        "tags": ["b", "c"],  # $union deduplicated, $remove took "a"
        "single": ["x"],  # Node wraps a scalar $union value in a list
        "$transactions": [],  # Node's clear_charges sets an empty list
    }  # `ip` in people.set went out as the top-level `$ip` modifier, not a property
    assert node_run.profile("node-payer") == {
        "$transactions": [
            {"$time": "2026-03-04T05:06:07.000Z", "$amount": 9.99},
            {"$amount": 20},
        ]
    }
    assert server.profile("node-quiet") == {"quiet": True}  # $ignore_time: no $last_seen
    assert server.profile("node-gone") is None  # delete_user
    assert sorted(r[0] for r in server.rows("SELECT distinct_id FROM profiles")) == [
        "node-payer",
        "node-quiet",
        "node-user",
    ]


def test_group_operations(node_run: NodeRun) -> None:
    server = node_run.server
    assert node_run.profile("company", "Acme ü") == {
        "$name": "Acme",
        "industry": "widgets",  # $set_once did not overwrite
        "items": ["anvil", "rocket"],  # $union deduplicated, $remove took "magnet"
    }  # `founded` came by $set_once and went by $unset
    assert server.group("company", "Gone Inc") is None  # delete_group
    assert server.rows("SELECT group_key, group_id FROM group_profiles") == [("company", "Acme ü")]
