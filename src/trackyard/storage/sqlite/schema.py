"""The SQLite schema, as numbered migrations applied in order at open.

`PRAGMA user_version` records how many have been applied. A migration is
never edited once released; a change is a new entry at the end.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    # 1: projects, credentials, events, profiles, lookup tables.
    """
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        token TEXT NOT NULL UNIQUE,
        api_secret_lookup TEXT NOT NULL UNIQUE,
        api_secret_hash TEXT NOT NULL,
        identity_mode TEXT NOT NULL DEFAULT 'simplified',
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE service_accounts (
        id INTEGER PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        secret_hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE service_account_projects (
        service_account_id INTEGER NOT NULL REFERENCES service_accounts(id) ON DELETE CASCADE,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        PRIMARY KEY (service_account_id, project_id)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        project_id INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        event TEXT NOT NULL,
        distinct_id TEXT NOT NULL,
        insert_id TEXT NOT NULL,
        properties TEXT NOT NULL
    );
    -- The dedup key (§12), led by time so that imports of history, which
    -- arrive roughly in time order, touch neighbouring index pages.
    CREATE UNIQUE INDEX events_dedup
        ON events (project_id, time_ms, insert_id, event, distinct_id);
    CREATE TABLE profiles (
        project_id INTEGER NOT NULL,
        distinct_id TEXT NOT NULL,
        properties TEXT NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (project_id, distinct_id)
    );
    CREATE TABLE group_profiles (
        project_id INTEGER NOT NULL,
        group_key TEXT NOT NULL,
        group_id TEXT NOT NULL,
        properties TEXT NOT NULL,
        updated_ms INTEGER NOT NULL,
        PRIMARY KEY (project_id, group_key, group_id)
    );
    CREATE TABLE lookup_tables (
        id TEXT PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        header TEXT NOT NULL DEFAULT '[]',
        row_count INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE INDEX lookup_tables_project ON lookup_tables (project_id);
    CREATE TABLE lookup_table_rows (
        table_id TEXT NOT NULL REFERENCES lookup_tables(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        "values" TEXT NOT NULL,
        PRIMARY KEY (table_id, key)
    ) WITHOUT ROWID;
    """,
)


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks; return the resulting version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return len(MIGRATIONS)


def _statements(script: str) -> list[str]:
    # executescript() would commit our transaction; split on the statement ends instead.
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
