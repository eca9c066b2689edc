"""Reading a body that comes in several ASGI messages, or never comes whole:
what a client on a slow or broken connection is answered (§3, operations.md)."""

from __future__ import annotations

import asyncio
import base64
import gzip
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import NOW_MS
from trackyard.clock import FixedClock
from trackyard.http.app import create_app
from trackyard.service.projects import create_project
from trackyard.settings import Settings

Message = dict[str, Any]


def form_body(token: str, name: str) -> bytes:
    event = {"event": name, "properties": {"token": token, "distinct_id": "u1"}}
    return b"data=" + quote(base64.b64encode(orjson.dumps(event)).decode(), safe="").encode()


async def post_track(
    app: Any, messages: list[Message], headers: list[tuple[bytes, bytes]], then_wait: bool
) -> tuple[int, dict[str, str], bytes]:
    """POST /track?verbose=1 whose body comes as `messages`; after them, the
    client says nothing more (`then_wait`) or goes away."""
    queue = list(messages)
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> Message:
        if queue:
            await asyncio.sleep(0.01)
            return queue.pop(0)
        if then_wait:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/track",
        "raw_path": b"/track",
        "query_string": b"verbose=1",
        "root_path": "",
        "headers": [(b"host", b"t"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return answer["status"], answer["headers"], answer["body"]


def with_app(tmp_path: Path, test: Callable[[Any, str], Awaitable[None]]) -> None:
    settings = Settings(db=str(tmp_path / "trackyard.db"), read_timeout_seconds=1)
    app = create_app(settings, clock=FixedClock(NOW_MS))

    async def run() -> None:
        async with app.router.lifespan_context(app):
            project = await create_project(app.state.services.store, "Body")
            await test(app, project.token)

    asyncio.run(run())


def chunks(body: bytes, size: int) -> list[Message]:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    messages = [{"type": "http.request", "body": p, "more_body": True} for p in parts]
    return [*messages, {"type": "http.request", "body": b"", "more_body": False}]


def test_a_body_in_many_messages_is_read_whole(tmp_path: Path) -> None:
    async def test(app: Any, token: str) -> None:
        form = [(b"content-type", b"application/x-www-form-urlencoded")]
        gzipped = [(b"content-encoding", b"gzip")]
        for name, body, headers in [
            ("plain", form_body(token, "plain"), form),
            ("gzip", gzip.compress(form_body(token, "gzip")), form + gzipped),
            ("magic", gzip.compress(form_body(token, "magic")), form),  # no header: magic bytes
        ]:
            status, _, answer = await post_track(app, chunks(body, 7), headers, then_wait=True)
            assert (status, orjson.loads(answer)) == (200, {"error": None, "status": 1}), name
        project = (await app.state.services.store.list_projects())[0]
        events = await app.state.services.store.events(project.id)
        assert sorted(e["event"] for e in events) == ["gzip", "magic", "plain"]

    with_app(tmp_path, test)


def test_a_body_whose_rest_never_comes_gets_408_at_the_deadline(tmp_path: Path) -> None:
    async def test(app: Any, token: str) -> None:
        started = time.monotonic()
        first = chunks(form_body(token, "stalled"), 20)[:1]
        status, headers, answer = await post_track(app, first, [], then_wait=True)
        assert (status, orjson.loads(answer)) == (
            408,
            {"error": "request body not received within 1 seconds", "status": 0},
        )
        assert headers["connection"] == "close"
        assert 1 <= time.monotonic() - started < 2
        # Nothing of it is held any more.
        assert app.state.services.budget.held == 0

    with_app(tmp_path, test)


async def inflight_body_bytes(app: Any) -> float:
    """trackyard_inflight_body_bytes, as GET /metrics reports it now."""
    answer = b""

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal answer
        answer += message.get("body", b"")

    scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": []}
    await app({**scope, "query_string": b"", "root_path": ""}, receive, send)
    for family in text_string_to_metric_families(answer.decode()):
        if family.name == "trackyard_inflight_body_bytes":
            return float(family.samples[0].value)
    raise AssertionError("no trackyard_inflight_body_bytes")


def test_metrics_report_the_bytes_of_a_body_being_read(tmp_path: Path) -> None:
    async def test(app: Any, token: str) -> None:
        first = chunks(form_body(token, "slow"), 20)[:1]
        reading = asyncio.create_task(post_track(app, first, [], then_wait=True))
        await asyncio.sleep(0.2)
        assert await inflight_body_bytes(app) == 20
        assert (await reading)[0] == 408
        assert await inflight_body_bytes(app) == 0

    with_app(tmp_path, test)


def test_a_body_that_never_starts_gets_408(tmp_path: Path) -> None:
    async def test(app: Any, token: str) -> None:
        status, _, answer = await post_track(app, [], [], then_wait=True)
        assert (status, orjson.loads(answer)["status"]) == (408, 0)

    with_app(tmp_path, test)


def test_a_client_gone_mid_body_is_answered_as_bad_data(tmp_path: Path) -> None:
    async def test(app: Any, token: str) -> None:
        first = chunks(form_body(token, "gone"), 20)[:1]
        status, _, answer = await post_track(app, first, [], then_wait=False)
        assert (status, orjson.loads(answer)) == (
            200,
            {"error": "the client disconnected before sending its whole body", "status": 0},
        )

    with_app(tmp_path, test)
