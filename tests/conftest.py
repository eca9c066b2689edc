"""Fixtures shared by the suites: settings on a temp SQLite file, an in-process
app driven by Starlette's TestClient, and a project with its credentials."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from trackyard.clock import FixedClock
from trackyard.http.app import create_app
from trackyard.service.projects import NewProject, create_project
from trackyard.settings import Settings

# 2026-11-26T12:00:00Z: a fixed "now" for every in-process test.
NOW_MS = 1_795_694_400_000


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One PostgreSQL database for the session's in-process tests, dropped at the end."""
    from tests.postgres import fresh_database

    with fresh_database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """SQLite in tmp_path; with TRACKYARD_TEST_STORE=postgres, an emptied PostgreSQL database."""
    sqlite = Settings(db=str(tmp_path / "trackyard.db"))
    if os.environ.get("TRACKYARD_TEST_STORE") != "postgres":
        return sqlite
    from tests.postgres import empty_database

    url = request.getfixturevalue("postgres_url")
    empty_database(url)
    return dataclasses.replace(sqlite, store=url)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW_MS)


class Harness:
    """The app in-process, its store, and helpers to create projects and read back."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.services = client.app.state.services  # type: ignore[attr-defined]
        self.store = self.services.store

    def run(self, func: Any, *args: Any) -> Any:
        """Run a store coroutine on the app's event loop."""
        return self.client.portal.call(func, *args)  # type: ignore[union-attr]

    def new_project(self, name: str = "Test") -> NewProject:
        return self.run(create_project, self.store, name)  # type: ignore[no-any-return]

    def events(self, project_id: int) -> list[dict[str, Any]]:
        return self.run(self.store.events, project_id)  # type: ignore[no-any-return]

    def profile(self, project_id: int, *profile_id: str) -> dict[str, Any] | None:
        return self.run(self.store.profile, project_id, profile_id)  # type: ignore[no-any-return]


@pytest.fixture
def harness(settings: Settings, clock: FixedClock) -> Iterator[Harness]:
    with TestClient(create_app(settings, clock=clock)) as client:
        yield Harness(client)


@pytest.fixture
def client(harness: Harness) -> TestClient:
    return harness.client


@pytest.fixture
def project(harness: Harness) -> NewProject:
    return harness.new_project()
