"""Choosing the store a setting names: SQLite at `db`, or PostgreSQL at a `store` URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from trackyard.settings import Settings
from trackyard.storage.base import Store
from trackyard.storage.sqlite.store import SQLiteStore

POSTGRES_SCHEMES = ("postgresql", "postgres")


def uses_postgres(settings: Settings) -> bool:
    return urlsplit(settings.store).scheme in POSTGRES_SCHEMES


def check_store_setting(settings: Settings) -> None:
    """Raise ValueError for a `store` value trackyard cannot open."""
    if settings.store and not uses_postgres(settings):
        raise ValueError(
            f"TRACKYARD_STORE: expected empty (SQLite at db) or a postgresql:// URL,"
            f" got {describe_store(settings)!r}"
        )


def describe_store(settings: Settings) -> str:
    """Where the data lives, for banners and logs: never a password."""
    if not settings.store:
        return settings.db
    parts = urlsplit(settings.store)
    if parts.password is None:
        return settings.store
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def open_store(settings: Settings) -> Store:
    check_store_setting(settings)
    if uses_postgres(settings):
        # Imported here: an SQLite-only install never loads the PostgreSQL driver.
        from trackyard.storage.postgres.store import PostgresStore

        return PostgresStore(
            settings.store,
            pool_size=settings.store_pool_size,
            commit_max_records=settings.commit_max_records,
            queue_max_records=settings.queue_max_records,
        )
    return SQLiteStore(
        settings.db,
        commit_max_records=settings.commit_max_records,
        queue_max_records=settings.queue_max_records,
    )


async def migrate_store(settings: Settings) -> tuple[int, int]:
    """Apply the schema migrations the store lacks: (version before, version after)."""
    check_store_setting(settings)
    if uses_postgres(settings):
        from trackyard.storage.postgres.schema import migrate_database

        version = await migrate_database(settings.store)
        return version.before, version.after
    from trackyard.storage.sqlite.schema import migrate_file

    return migrate_file(settings.db)
