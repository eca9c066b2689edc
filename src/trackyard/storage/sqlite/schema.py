"""The SQLite schema, as numbered migrations applied in order at open.

`PRAGMA user_version` records how many have been applied. A migration is
never edited once released; a change is a new entry at the end.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from trackyard.errors import StoreUnavailable

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
    # 2: identity merge (trackyard/service/identity.py).
    """
    CREATE TABLE identity_links (
        project_id INTEGER NOT NULL,
        distinct_id TEXT NOT NULL,
        canonical_id TEXT NOT NULL,
        PRIMARY KEY (project_id, distinct_id)
    ) WITHOUT ROWID;
    CREATE INDEX identity_links_canonical ON identity_links (project_id, canonical_id);
    """,
    # 3: pinned engage-query results, so pages can be fetched in any order (§15).
    """
    CREATE TABLE query_sessions (
        id TEXT PRIMARY KEY,
        project_id INTEGER NOT NULL,
        total INTEGER NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX query_sessions_created ON query_sessions (created_ms);
    CREATE TABLE query_session_rows (
        session_id TEXT NOT NULL REFERENCES query_sessions(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        distinct_id TEXT NOT NULL,
        properties TEXT NOT NULL,
        PRIMARY KEY (session_id, position)
    ) WITHOUT ROWID;
    """,
    # 4: the console and /api/query/segmentation (docs/console.md): events by
    # name and by user, and hourly counts that the inserting transaction keeps
    # (storage/sqlite/event_counts.py). The key that signs console sessions is
    # made here, once, for every process sharing the file.
    """
    CREATE INDEX events_by_name ON events (project_id, event, time_ms, distinct_id);
    CREATE INDEX events_by_user ON events (project_id, distinct_id, time_ms);
    CREATE TABLE event_counts_hourly (
        project_id INTEGER NOT NULL,
        event TEXT NOT NULL,
        hour_ms INTEGER NOT NULL,
        event_count INTEGER NOT NULL,
        PRIMARY KEY (project_id, event, hour_ms)
    ) WITHOUT ROWID;
    INSERT INTO event_counts_hourly (project_id, event, hour_ms, event_count)
        SELECT project_id, event, time_ms - time_ms % 3600000, count(*)
        FROM events GROUP BY 1, 2, 3;
    CREATE TABLE console_keys (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        signing_key BLOB NOT NULL
    );
    INSERT INTO console_keys (id, signing_key) VALUES (1, randomblob(32));
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


def migrate_file(path: str) -> tuple[int, int]:
    """`trackyard migrate` for SQLite: (version before, version after)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            before = int(conn.execute("PRAGMA user_version").fetchone()[0])
            return before, migrate(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"cannot migrate {path}: {exc}") from exc


def _statements(script: str) -> list[str]:
    """The script's statements, to run one by one: executescript() would commit
    our transaction. A `;` ends a statement only where SQLite agrees it is
    complete, not inside a string or a trigger's body."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    statements, pending = [], ""
    for part in "\n".join(lines).split(";"):
        pending += part + ";"
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    # An unfinished statement is kept, not dropped: executing it raises.
    statements.append(pending)
    return [s.strip() for s in statements if s.strip().strip(";")]
