"""SQLite migrations are applied statement by statement, in one transaction."""

from __future__ import annotations

import sqlite3

import pytest

from trackyard.storage.sqlite import schema

TRIGGER_MIGRATION = """
    -- A trigger's body holds several statements, each ending in ';'.
    CREATE TABLE audit (note TEXT NOT NULL);
    CREATE TRIGGER projects_audit AFTER INSERT ON projects BEGIN
        INSERT INTO audit (note) VALUES ('created; ' || NEW.name);
        INSERT INTO audit (note) VALUES ('token ' || NEW.token);
    END;
    INSERT INTO audit (note) VALUES ('a; b');
"""


def test_a_migration_with_a_trigger_and_a_semicolon_in_a_string_applies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, TRIGGER_MIGRATION))
    conn = sqlite3.connect(":memory:", isolation_level=None)

    assert schema.migrate(conn) == len(schema.MIGRATIONS)

    conn.execute(
        "INSERT INTO projects (name, token, api_secret_lookup, api_secret_hash, created_ms)"
        " VALUES ('Shop', 'tok', 'l', 'h', 0)"
    )
    notes = [n for (n,) in conn.execute("SELECT note FROM audit ORDER BY rowid")]
    assert notes == ["a; b", "created; Shop", "token tok"]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS)


def test_an_unfinished_statement_fails_the_migration_and_applies_none_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unfinished = TRIGGER_MIGRATION.replace("END;", "")
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, unfinished))
    conn = sqlite3.connect(":memory:", isolation_level=None)

    with pytest.raises(sqlite3.Error):
        schema.migrate(conn)

    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == []
