"""A full disk or a read-only database is answered with 503 and Retry-After:
never a 200 for data that was not kept, never a 500, never a crash, and the
server takes writes again once the disk has room or is writable again.

The disk really fills: the database lives on a tmpfs of a few hundred KB,
mounted by the test (root in a container may mount one; where it may not, those
tests skip). Because file permissions do not stop root, a read-only database
is made by remounting that filesystem read-only. One more test reaches
SQLITE_FULL everywhere, without privileges, through SQLite's own page limit
(`PRAGMA max_page_count`) on a store subclass: real SQLite, nothing mocked.
"""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from tests.conftest import NOW_MS
from trackyard.clock import FixedClock
from trackyard.http.app import create_app
from trackyard.service.projects import NewProject, create_project
from trackyard.settings import Settings
from trackyard.storage.sqlite.store import SQLiteStore

JSON = {"content-type": "application/json"}


# Filesystems ------------------------------------------------------------------------


def run_mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@pytest.fixture
def tiny_filesystem(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    try:
        run_mount("-t", "tmpfs", "-o", "size=640k", "tmpfs", str(mount_point))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


# The app over a store ---------------------------------------------------------------


class App:
    def __init__(self, client: TestClient, project: NewProject) -> None:
        self.client = client
        self.project = project
        self.sent = 0

    def import_events(self, n: int = 200) -> tuple[Any, list[str]]:
        ids = [uuid.uuid4().hex for _ in range(n)]
        events = [
            {
                "event": "fill",
                "properties": {"time": NOW_MS // 1000, "distinct_id": "u", "$insert_id": i}
                | {"pad": "x" * 200},
            }
            for i in ids
        ]
        response = self.client.post(
            "/import",
            content=orjson.dumps(events),
            headers={**JSON},
            auth=(self.project.token, ""),
        )
        return response, ids

    def track_events(self, n: int = 200) -> Any:
        events = [
            {
                "event": "t",
                "properties": {"token": self.project.token, "time": NOW_MS // 1000}
                | {"distinct_id": "u", "pad": "x" * 200},
            }
            for _ in range(n)
        ]
        return self.client.post("/track", json=events, params={"verbose": "1"})


def open_app(settings: Settings, store: SQLiteStore | None = None) -> Iterator[App]:
    with TestClient(create_app(settings, store=store, clock=FixedClock(NOW_MS))) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        project = client.portal.call(create_project, services.store, "Failures")  # type: ignore[union-attr]
        yield App(client, project)


def fill_until_refused(app: App, acknowledged: list[str]) -> Any:
    """Import until the store refuses; every answer before that must be a 200."""
    for _ in range(200):
        response, ids = app.import_events()
        if response.status_code != 200:
            return response
        acknowledged.extend(ids)
    raise AssertionError("the store never filled up")


def assert_unavailable(response: Any, family: str = "import") -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    if family == "import":
        assert response.json()["status"] == "Service Unavailable"
    else:
        assert response.json()["status"] == 0


def stored_ids(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {i for (i,) in conn.execute("SELECT insert_id FROM events")}


# A full disk ------------------------------------------------------------------------


def test_a_full_disk_is_503_and_writes_resume_when_there_is_room(tiny_filesystem: Path) -> None:
    db = tiny_filesystem / "full.db"
    ballast = tiny_filesystem / "ballast"
    acknowledged: list[str] = []
    for app in open_app(Settings(db=str(db))):
        ballast.write_bytes(b"\0" * 160 * 1024)  # room to free later
        refused = fill_until_refused(app, acknowledged)
        assert_unavailable(refused)
        assert "full" in refused.json()["error"]
        assert_unavailable(app.track_events(), family="classic")
        assert app.client.get("/healthz").status_code == 200
        ballast.unlink()
        response, ids = app.import_events(50)
        assert response.status_code == 200, response.text
        acknowledged.extend(ids)
    assert set(acknowledged) <= stored_ids(db)


def test_sqlite_full_from_the_page_limit_is_503(tmp_path: Path) -> None:
    """SQLITE_FULL without a privileged mount: SQLite's own limit on the file's size."""

    class CappedSQLiteStore(SQLiteStore):
        def _connect(self) -> sqlite3.Connection:
            conn = super()._connect()
            conn.execute("PRAGMA max_page_count = 200")  # 800 KB of 4 KB pages
            return conn

    settings = Settings(db=str(tmp_path / "capped.db"))
    store = CappedSQLiteStore(settings.db, commit_max_records=20000, queue_max_records=200000)
    acknowledged: list[str] = []
    for app in open_app(settings, store):
        refused = fill_until_refused(app, acknowledged)
        assert_unavailable(refused)
        assert "full" in refused.json()["error"]
        assert_unavailable(app.track_events(), family="classic")
    assert set(acknowledged) <= stored_ids(tmp_path / "capped.db")


# A read-only database ---------------------------------------------------------------


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A directory, and a read-only bind mount of it (read-only even for root)."""
    writable, view = tmp_path / "data", tmp_path / "view"
    writable.mkdir()
    view.mkdir()
    try:
        run_mount("--bind", str(writable), str(view))
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot bind-mount here: {exc}")
    try:
        run_mount("-o", "remount,ro,bind", str(view))
        yield writable, view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def test_a_read_only_database_file_is_served_with_503_not_a_crash(
    read_only_view: tuple[Path, Path],
) -> None:
    writable, view = read_only_view
    for app in open_app(Settings(db=str(writable / "t.db"))):
        token = app.project.token
    with TestClient(
        create_app(Settings(db=str(view / "t.db")), clock=FixedClock(NOW_MS))
    ) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        event = {"event": "e", "properties": {"token": token, "distinct_id": "u"}}
        response = client.post("/track", json=[event])
        assert (response.status_code, response.headers["retry-after"]) == (503, "2")
        response = client.post("/import", json=[event], auth=(token, ""))
        assert response.status_code == 503
        assert response.json()["status"] == "Service Unavailable"


def test_sqlite_readonly_while_serving_is_503(tmp_path: Path) -> None:
    """SQLITE_READONLY from the writer's connection (`PRAGMA query_only`, as when
    the file turns read-only under a running server)."""
    settings = Settings(db=str(tmp_path / "t.db"))
    for app in open_app(settings):
        project = app.project

    class ReadOnlyWriterStore(SQLiteStore):
        def _connect(self) -> sqlite3.Connection:
            conn = super()._connect()
            if threading.current_thread().name == "trackyard-writer":
                conn.execute("PRAGMA query_only = ON")
            return conn

    store = ReadOnlyWriterStore(settings.db, commit_max_records=100, queue_max_records=1000)
    with TestClient(create_app(settings, store=store, clock=FixedClock(NOW_MS))) as client:
        app = App(client, project)
        response, _ = app.import_events(20)
        assert_unavailable(response)
        assert "readonly" in response.json()["error"]
        assert_unavailable(app.track_events(), family="classic")
        assert client.get("/healthz").status_code == 200
    assert stored_ids(tmp_path / "t.db") == set()
