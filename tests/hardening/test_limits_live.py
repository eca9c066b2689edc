"""Limits enforced while a request is read, against a real `trackyard serve`:
long URLs, oversized headers, a gzip bomb, and clients too slow to finish."""

from __future__ import annotations

import base64
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import orjson
import pytest

from tests.hardening.servers import ServerProcess, serve, track_event
from tests.live_server import cli

READ_TIMEOUT = 1  # seconds, the server's read_timeout_seconds in this module
# libuv keeps timers to the millisecond of a cached loop clock: a deadline can
# fire a fraction of a millisecond before the client's own clock says it is due.
TIMER_SLACK = 0.005
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    db = tmp_path_factory.getbasetemp() / "limits.db"
    created: dict[str, Any] = cli(db, "projects", "create", "Limits")
    return {**created, "db": db}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, project: dict[str, Any]
) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("limits")
    with serve(tmp, project["db"], "--read-timeout-seconds", str(READ_TIMEOUT)) as running:
        yield running


@pytest.fixture(scope="module")
def token(project: dict[str, Any]) -> str:
    return str(project["token"])


def raw_exchange(port: int, head: bytes, *, wait: float = 10) -> tuple[bytes, float]:
    """Send `head`, read until the server closes; the answer and how long it took."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(wait)
        started = time.monotonic()
        sock.sendall(head)
        return _read_to_close(sock), time.monotonic() - started


def _read_to_close(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def status_and_body(answer: bytes) -> tuple[int, Any]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


def data_url(token: str, total_length: int) -> str:
    """A /track GET URL of about `total_length` bytes holding one event in `data`."""
    pad = "x"
    url = ""
    for _ in range(2):  # grow the padding until the URL has the length asked for
        event = track_event(token, "long-url", int(time.time()), pad=pad)
        url = "/track?verbose=1&data=" + base64.b64encode(orjson.dumps(event)).decode()
        pad += "x" * ((total_length - len(url)) * 3 // 4)
    return url


# URL and header length ------------------------------------------------------------


def test_a_64_kb_get_url_is_served(server: ServerProcess, token: str) -> None:
    url = data_url(token, 64_000)
    assert 63_000 < len(url) <= 65_536
    response = httpx.get(server.url + url)
    assert response.status_code == 200
    assert response.json() == {"error": None, "status": 1}


def test_a_url_past_the_limit_is_414_and_the_server_goes_on(
    server: ServerProcess, token: str
) -> None:
    url = "/track?data=" + "A" * 70_000
    answer, _ = raw_exchange(server.port, f"GET {url} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    assert status_and_body(answer) == (
        414,
        {
            "code": 414,
            "error": "request URL exceeds max limit of 65536 bytes",
            "status": "URI Too Long",
        },
    )
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_a_huge_url_is_refused_without_being_buffered(server: ServerProcess) -> None:
    before = server.peak_rss_bytes()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        sock.sendall(b"GET /track?data=")
        try:
            for _ in range(64):  # 64 MiB of URL, if the server kept reading it
                sock.sendall(b"A" * MIB)
        except OSError:
            pass  # refused and closed while we were still sending: as it should be
        answer = _read_to_close(sock)
    assert answer.startswith(b"HTTP/1.1 414 ")
    assert server.peak_rss_bytes() - before < 16 * MIB


def test_headers_past_the_limit_are_431(server: ServerProcess) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"a" * 70_000 + b"\r\n\r\n"
    status, body = status_and_body(raw_exchange(server.port, head)[0])
    assert (status, body["code"]) == (431, 431)


# Decompressed size -----------------------------------------------------------------


def gzip_bomb(inflated_bytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    zeros = b"\0" * MIB
    parts = [compressor.compress(zeros) for _ in range(inflated_bytes // MIB)]
    return b"".join([*parts, compressor.flush()])


def test_a_gzip_bomb_is_413_in_bounded_memory(server: ServerProcess, token: str) -> None:
    bomb = gzip_bomb(512 * MIB)  # about 500 KB on the wire
    assert len(bomb) < MIB
    httpx.get(f"{server.url}/healthz")
    before = server.peak_rss_bytes()
    response = httpx.post(
        f"{server.url}/import",
        content=bomb,
        headers={"content-type": "application/json", "content-encoding": "gzip"},
        auth=(token, ""),
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json() == {
        "code": 413,
        "error": "request exceeds max limit of 10485760 bytes",
        "status": "Request Entity Too Large",
    }
    # Inflating it all would take 512 MiB; the server stops past its 10 MiB limit.
    assert server.peak_rss_bytes() - before < 64 * MIB


# Slow clients ----------------------------------------------------------------------


def test_a_stalled_body_gets_408_and_other_requests_are_served_meanwhile(
    server: ServerProcess,
) -> None:
    head = b"POST /track HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\ndata="
    result: dict[str, Any] = {}
    stalled = threading.Thread(target=lambda: result.update(answer=raw_exchange(server.port, head)))
    stalled.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert time.monotonic() - started < 0.5
    stalled.join(timeout=10)
    answer, elapsed = result["answer"]
    status, body = status_and_body(answer)
    assert (status, body) == (
        408,
        {"error": f"request body not received within {READ_TIMEOUT} seconds", "status": 0},
    )
    assert b"connection: close" in answer.lower()
    assert READ_TIMEOUT - TIMER_SLACK <= elapsed < READ_TIMEOUT + 1.5


def test_a_body_trickling_in_is_cut_off(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.settimeout(10)
        started = time.monotonic()
        sock.sendall(b"POST /import HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
        try:
            # A byte every 0.2 s: never idle long, but never done either.
            for _ in range(50):
                sock.sendall(b"[")
                time.sleep(0.2)
        except OSError:
            pass
        answer = _read_to_close(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < READ_TIMEOUT + 1.5


def test_a_stalled_request_head_gets_408(server: ServerProcess) -> None:
    answer, elapsed = raw_exchange(server.port, b"POST /track HTTP/1.1\r\nHost: t\r\n")
    status, body = status_and_body(answer)
    assert (status, body["status"]) == (408, "Request Timeout")
    assert READ_TIMEOUT - TIMER_SLACK <= elapsed < READ_TIMEOUT + 1.5


def test_a_connection_that_sends_nothing_is_closed(server: ServerProcess) -> None:
    answer, elapsed = raw_exchange(server.port, b"")
    assert answer == b""
    assert elapsed < READ_TIMEOUT + 1.5
