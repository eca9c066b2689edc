"""Secrets are stored hashed, never logged, and can be rotated: after
`trackyard service-accounts rotate` or `trackyard projects rotate-secret` the
old secret stops working at once, in every server process, even though each
process remembers successful verifications for a minute."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import NOW_MS, Harness
from tests.hardening.servers import serve
from tests.live_server import cli
from trackyard.service.projects import NewProject

CLIENT_LOGGERS = ("httpx", "httpx2", "httpcore", "hpack")


def secrets_of(project: NewProject) -> list[str]:
    return [project.api_secret, project.service_account.secret]


def requests_with_credentials(project: NewProject) -> list[dict[str, Any]]:
    """Every place a credential can travel, right and wrong."""
    account, secret = project.service_account.username, project.service_account.secret
    events = [{"event": "e", "properties": {"time": NOW_MS // 1000, "distinct_id": "u"}}]
    b64 = base64.b64encode(f"{account}:{secret}".encode()).decode()
    return [
        {"url": "/import", "json": events, "auth": (account, secret)},
        {"url": "/import", "json": events, "auth": (account, secret + "x")},
        {"url": "/import", "json": events, "headers": {"authorization": f"Basic {b64}x"}},
        {
            "url": "/import",
            "json": events,
            "headers": {"authorization": f"Bearer {project.api_secret}"},
        },
        {"url": "/import", "json": events, "params": {"api_key": project.api_secret + "!"}},
        {"url": "/import", "data": {"data": "[{", "api_key": project.api_secret}},
        {"url": "/import", "content": b"\x1f\x8bjunk", "auth": (project.api_secret, "")},
        {"url": "/track", "json": events, "auth": (account, secret)},
        {
            "url": "/lookup-tables/nope",
            "content": b"a,b\n",
            "auth": (account, secret),
            "method": "PUT",
        },
    ]


def test_no_secret_reaches_the_logs(
    harness: Harness, project: NewProject, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        for request in requests_with_credentials(project):
            harness.client.request(request.pop("method", "POST"), **request)
    # The test's own HTTP client logs the URLs it requests; the server is under test.
    server_side = [r for r in caplog.records if not r.name.startswith(CLIENT_LOGGERS)]
    assert server_side, "nothing was logged: the test would prove nothing"
    text = "\n".join(r.getMessage() + str(r.exc_info or "") for r in server_side)
    for secret in secrets_of(project):
        assert secret not in text


def test_no_secret_reaches_a_debug_server_log(tmp_path: Path) -> None:
    db = tmp_path / "secrets.db"
    created = cli(db, "projects", "create", "Secrets")
    project = NewProject(
        created["project_id"],
        created["name"],
        created["token"],
        created["api_secret"],
        type("Account", (), created["service_account"])(),  # type: ignore[arg-type]
    )
    with serve(tmp_path, db, "--log-level", "debug") as server:
        with httpx.Client(base_url=server.url) as http:
            for request in requests_with_credentials(project):
                http.request(request.pop("method", "POST"), **request)
        log = server.log
    text = log.read_text()
    assert "DEBUG" in text or "debug" in text.lower()
    for secret in secrets_of(project):
        assert secret not in text


def test_secrets_are_stored_hashed(tmp_path: Path) -> None:
    db = tmp_path / "hashed.db"
    created = cli(db, "projects", "create", "Hashed")
    stored = (
        db.read_bytes() + Path(f"{db}-wal").read_bytes()
        if Path(f"{db}-wal").exists()
        else db.read_bytes()
    )
    assert created["api_secret"].encode() not in stored
    assert created["service_account"]["secret"].encode() not in stored
    assert b"scrypt$" in stored


def test_rotating_a_service_account_secret_locks_out_the_old_one_at_once(tmp_path: Path) -> None:
    db = tmp_path / "rotate.db"
    created = cli(db, "projects", "create", "Rotate")
    username, old = created["service_account"]["username"], created["service_account"]["secret"]
    with serve(tmp_path, db, "--workers", "2") as server, httpx.Client(base_url=server.url) as http:

        def status(secret: str) -> int:
            return http.get("/lookup-tables", auth=(username, secret)).status_code

        # Several requests: both workers now remember the old secret as verified.
        assert {status(old) for _ in range(8)} == {200}
        rotated = cli(db, "service-accounts", "rotate", username)
        assert rotated["username"] == username and rotated["secret"] != old
        assert {status(old) for _ in range(8)} == {401}
        assert {status(rotated["secret"]) for _ in range(8)} == {200}


def test_rotating_an_api_secret_locks_out_the_old_one_at_once(tmp_path: Path) -> None:
    db = tmp_path / "rotate.db"
    created = cli(db, "projects", "create", "Rotate")
    project_id, old = created["project_id"], created["api_secret"]
    with serve(tmp_path, db, "--workers", "2") as server, httpx.Client(base_url=server.url) as http:

        def status(secret: str) -> int:
            return http.get("/lookup-tables", auth=(secret, "")).status_code

        assert {status(old) for _ in range(8)} == {200}
        rotated = cli(db, "projects", "rotate-secret", str(project_id))
        assert rotated["api_secret"] != old
        assert {status(old) for _ in range(8)} == {401}
        assert {status(rotated["api_secret"]) for _ in range(8)} == {200}


def test_rotating_an_unknown_account_fails_clearly(tmp_path: Path) -> None:
    import subprocess

    from tests.live_server import TRACKYARD

    db = tmp_path / "x.db"
    cli(db, "projects", "create", "X")
    run = subprocess.run(
        [*TRACKYARD, "service-accounts", "rotate", "nobody", "--db", str(db)],
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0
    assert "nobody" in run.stderr and "Traceback" not in run.stderr
