"""Replays the golden corpus of real clients' request shapes (tests/golden/requests.jsonl).

Each line is one request as a real client sends it (mixpanel-behavior.md §2, §3, §17)
and the exact answer that client needs. Every compatibility bug fixed adds a line.
The line format is described in tests/golden/README.md.
"""

from __future__ import annotations

import base64
import gzip
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import orjson

from tests.conftest import Harness
from trackyard.service.projects import NewProject
from trackyard.settings import Settings

GOLDEN = Path(__file__).parent.parent / "golden" / "requests.jsonl"


def load_golden() -> list[dict[str, Any]]:
    lines = GOLDEN.read_text(encoding="utf-8").splitlines()
    return [orjson.loads(line) for line in lines if line.strip()]


def placeholders(project: NewProject) -> dict[str, str]:
    account = project.service_account
    return {
        "{{token}}": project.token,
        "{{api_secret}}": project.api_secret,
        "{{project_id}}": str(project.project_id),
        "{{sa_basic}}": _b64(f"{account.username}:{account.secret}"),
        "{{secret_basic}}": _b64(f"{project.api_secret}:"),
        "{{token_basic}}": _b64(f"{project.token}:"),
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(name, value)
    return text


def fill_json(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return fill(value, values)
    if isinstance(value, list):
        return [fill_json(item, values) for item in value]
    if isinstance(value, dict):
        return {fill(k, values): fill_json(v, values) for k, v in value.items()}
    return value


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


def _base64(value: Any) -> str:
    return base64.b64encode(orjson.dumps(value)).decode()


# How `{{data}}` is written, by the clients that write it so (§2.1).
DATA_ENCODINGS: dict[str, Callable[[Any], str]] = {
    "json": _compact,
    "ndjson": lambda records: "\n".join(_compact(r) for r in records) + "\n",
    "json-urlencoded": lambda value: quote_plus(_compact(value)),
    "base64-urlencoded": lambda value: quote_plus(_base64(value)),
    # Node and PHP: base64 without percent-encoding; a form parser reads `+` as space.
    "base64-raw": _base64,
}


def render_request(
    line: dict[str, Any], values: dict[str, str]
) -> tuple[str, dict[str, str], bytes]:
    """Path, headers and body bytes of a golden line, with credentials filled in."""
    data = ""
    if "data" in line:
        data = DATA_ENCODINGS[line["data_encoding"]](fill_json(line["data"], values))
        if line["data_encoding"] == "base64-raw":
            assert "+" in data, f"{line['client']}: payload should exercise `+` as space"
    values = {**values, "{{data}}": data}
    headers = {name: fill(value, values) for name, value in line.get("headers", {}).items()}
    body = fill(line.get("body", ""), values).encode()
    if headers.get("content-encoding") == "gzip":
        body = gzip.compress(body, mtime=0)
    return fill(line["path"], values), headers, body


def check_answer(line: dict[str, Any], status: int, headers: Any, body: bytes) -> None:
    expect = line["expect"]
    answer = {"status": status, "content_type": headers.get("content-type"), "body": body}
    wanted = {
        "status": expect["status"],
        "content_type": expect["content_type"],
        "body": base64.b64decode(expect["body_b64"])
        if "body_b64" in expect
        else expect["body"].encode(),
    }
    assert answer == wanted, line["client"]


def new_events(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """{event, time} of the events stored by one request (each has a unique $insert_id)."""
    seen = {e["properties"]["$insert_id"] for e in before}
    return [
        {"event": e["event"], "time": e["properties"]["time"]}
        for e in after
        if e["properties"]["$insert_id"] not in seen
    ]


def count_rows(settings: Settings, table: str) -> int:
    if settings.store:  # TRACKYARD_TEST_STORE=postgres
        from tests.postgres import query

        return int(query(settings.store, f"SELECT count(*) FROM {table}")[0][0])
    with closing(sqlite3.connect(f"file:{settings.db}?mode=ro", uri=True)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_golden_requests_replay(harness: Harness, project: NewProject, settings: Settings) -> None:
    values = placeholders(project)
    golden = load_golden()
    for line in golden:
        path, headers, body = render_request(line, values)
        before = harness.events(project.project_id)

        response = harness.client.request(line["method"], path, headers=headers, content=body)

        check_answer(line, response.status_code, response.headers, response.content)
        stored = new_events(before, harness.events(project.project_id))
        assert stored == line["expect"]["stored"], line["client"]

    events = harness.events(project.project_id)
    assert len(events) == sum(len(line["expect"]["stored"]) for line in golden) == 32
    # python $set, node $add, swift $set_once (plan kept), mixpanel-utils $union with
    # $ignore_time; $last_seen from the last timed update (swift's $time = NOW_MS).
    assert harness.profile(project.project_id, "golden-user") == {
        "$name": "Golden",
        "plan": "free",
        "logins": 3,
        "first_seen": "swift",
        "tags": ["a", "b"],
        "$last_seen": "2026-11-26T12:00:00",
    }
    # python group_set, then mixpanel-utils $set_once (size kept) with $ignore_time.
    assert harness.profile(project.project_id, "company", "golden-co") == {
        "$name": "Golden Co",
        "size": 10,
        "region": "eu",
        "$last_seen": "2026-11-26T11:59:59",
    }
    assert count_rows(settings, "profiles") == count_rows(settings, "group_profiles") == 1
