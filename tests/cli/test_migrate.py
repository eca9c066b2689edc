"""`trackyard migrate` on either store: applies what is missing, then reports up to date."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.postgres import fresh_database, query
from trackyard.cli import main
from trackyard.storage.postgres.schema import MIGRATIONS as POSTGRES_MIGRATIONS
from trackyard.storage.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS


def migrate(*args: str) -> str:
    result = CliRunner().invoke(main, ["migrate", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_migrate_sqlite(tmp_path: Path) -> None:
    db = str(tmp_path / "new" / "t.db")
    assert f"from version 0 to {len(SQLITE_MIGRATIONS)}" in migrate("--db", db)
    assert f"up to date (version {len(SQLITE_MIGRATIONS)})" in migrate("--db", db)


def test_migrate_postgres() -> None:
    with fresh_database() as url:
        assert f"from version 0 to {len(POSTGRES_MIGRATIONS)}" in migrate("--store", url)
        assert "up to date" in migrate("--store", url)
        assert query(url, "SELECT count(*) FROM trackyard_schema") == [(len(POSTGRES_MIGRATIONS),)]


def test_an_unknown_store_url_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["migrate", "--store", "mysql://x/y"])
    assert result.exit_code == 2
    assert "TRACKYARD_STORE" in result.output
