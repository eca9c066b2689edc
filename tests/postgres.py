"""A fresh PostgreSQL database per test, on the server at TRACKYARD_TEST_PG_ADMIN.

When the server cannot be reached, PostgreSQL tests skip with the reason on a
developer's machine, and fail when the `CI` variable is set: CI must never
pass by skipping them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import closing, contextmanager
from functools import cache
from typing import Any

import psycopg
import pytest

ADMIN_URL = os.environ.get(
    "TRACKYARD_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@cache
def _unreachable_reason() -> str | None:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable at {ADMIN_URL}: {str(exc).strip()}"


def require_postgres() -> None:
    reason = _unreachable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)")
    pytest.skip(f"{reason}; start PostgreSQL or set TRACKYARD_TEST_PG_ADMIN to run these tests")


def database_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create `trackyard_test_<random>`, yield its URL, drop it (and its sessions) after."""
    require_postgres()
    name = f"trackyard_test_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read a test database directly, as a user inspecting it would."""
    with closing(psycopg.connect(url, autocommit=True)) as conn:
        return conn.execute(sql.encode(), params or None).fetchall()


def terminate_backends(url: str) -> int:
    """pg_terminate_backend every other session of the database `url` names; how many."""
    name = url.rsplit("/", 1)[1]
    rows = query(
        ADMIN_URL,
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        name,
    )
    return int(rows[0][0])


def empty_database(url: str) -> None:
    """Remove every row trackyard wrote, keeping the schema and partitions (fast reuse)."""
    with closing(psycopg.connect(url, autocommit=True)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                " AND NOT c.relispartition AND c.relname <> 'trackyard_schema'"
            )
        ]
        if tables:
            names = ", ".join(f'"{name}"' for name in tables)
            conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE".encode())
