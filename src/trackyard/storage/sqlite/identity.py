"""The identity graph (trackyard.service.identity) over SQLite's identity_links table."""

from __future__ import annotations

import sqlite3


class SQLiteIdentityGraph:
    def __init__(self, conn: sqlite3.Connection, project_id: int) -> None:
        self._conn = conn
        self._project_id = project_id

    def canonical(self, distinct_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT canonical_id FROM identity_links WHERE project_id = ? AND distinct_id = ?",
            (self._project_id, distinct_id),
        ).fetchone()
        return row[0] if row else None

    def cluster_size(self, canonical_id: str) -> int:
        row = self._conn.execute(
            "SELECT count(*) FROM identity_links WHERE project_id = ? AND canonical_id = ?",
            (self._project_id, canonical_id),
        ).fetchone()
        return 1 + int(row[0])

    def relink(self, old_canonical: str, new_canonical: str) -> None:
        self._conn.execute(
            "UPDATE identity_links SET canonical_id = ? WHERE project_id = ? AND canonical_id = ?",
            (new_canonical, self._project_id, old_canonical),
        )
        self._conn.execute(
            "INSERT OR REPLACE INTO identity_links (project_id, distinct_id, canonical_id)"
            " VALUES (?, ?, ?)",
            (self._project_id, old_canonical, new_canonical),
        )
