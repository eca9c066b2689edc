"""A burst of requests with one credential runs scrypt once, not once each.

Each test counts the real `verify_secret` calls (the function still runs) on
a real SQLite store's project and service account."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from trackyard.auth import credentials
from trackyard.auth.credentials import Credentials, ProjectAuthenticator
from trackyard.errors import Unauthorized
from trackyard.service.projects import NewProject, create_project
from trackyard.storage.base import Project
from trackyard.storage.sqlite.store import SQLiteStore

BURST = 8
T = TypeVar("T")


@pytest.fixture
def scrypt_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The secrets `verify_secret` was called with, in order."""
    runs: list[str] = []
    real = credentials.verify_secret

    def counted(secret: str, stored: str) -> bool:
        runs.append(secret)
        return real(secret, stored)

    monkeypatch.setattr(credentials, "verify_secret", counted)
    return runs


def with_project(
    tmp_path: Path, body: Callable[[ProjectAuthenticator, NewProject], Awaitable[T]]
) -> T:
    async def main() -> T:
        store = SQLiteStore(
            str(tmp_path / "auth.db"), commit_max_records=1000, queue_max_records=10_000
        )
        await store.open()
        try:
            project = await create_project(store, "P")
            return await body(ProjectAuthenticator(store), project)
        finally:
            await store.close()

    return asyncio.run(main())


def account(project: NewProject, secret: str | None = None) -> Credentials:
    username = project.service_account.username
    return Credentials(username=username, password=secret or project.service_account.secret)


def test_a_burst_with_one_secret_verifies_it_once(tmp_path: Path, scrypt_runs: list[str]) -> None:
    async def burst(auth: ProjectAuthenticator, project: NewProject) -> list[Project]:
        return await asyncio.gather(*(auth.project(account(project)) for _ in range(BURST)))

    projects = with_project(tmp_path, burst)
    assert {p.name for p in projects} == {"P"} and len(projects) == BURST
    assert len(scrypt_runs) == 1


def test_a_burst_with_a_wrong_secret_is_refused_after_one_verification(
    tmp_path: Path, scrypt_runs: list[str]
) -> None:
    async def burst(auth: ProjectAuthenticator, project: NewProject) -> list[object]:
        calls = (auth.project(account(project, "wrong")) for _ in range(BURST))
        return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = with_project(tmp_path, burst)
    assert all(isinstance(o, Unauthorized) for o in outcomes)
    assert scrypt_runs == ["wrong"]


def test_a_request_that_gives_up_leaves_the_verification_to_the_others(
    tmp_path: Path, scrypt_runs: list[str]
) -> None:
    async def one_cancelled(auth: ProjectAuthenticator, project: NewProject) -> Project:
        quitter = asyncio.ensure_future(auth.project(account(project)))
        while not scrypt_runs:  # the quitter's verification has started
            await asyncio.sleep(0.001)
        stayer = asyncio.ensure_future(auth.project(account(project)))
        await asyncio.sleep(0.01)  # scrypt takes tens of ms: the stayer waits on it too
        quitter.cancel()
        return await stayer

    assert with_project(tmp_path, one_cancelled).name == "P"
    assert len(scrypt_runs) == 1
