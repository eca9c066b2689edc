from __future__ import annotations

from pathlib import Path

import httpx2 as httpx
import orjson

from tests.live_server import live_server


def test_live_server_accepts_track(tmp_path: Path) -> None:
    with live_server(tmp_path) as server:
        event = {"event": "e", "properties": {"token": server.project["token"], "distinct_id": "d"}}
        response = httpx.post(f"{server.url}/track", data={"data": orjson.dumps(event).decode()})
        assert response.text == "1"
        assert [e["event"] for e in server.events()] == ["e"]
