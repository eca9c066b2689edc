"""Profile updates of a whole group commit: lock in key order, fold, write back.

Correct across processes because every read-modify-write of a profile happens
under its row lock, held to COMMIT: two processes applying `$add` to one
profile take turns, the second reading what the first committed, so no
increment, appended or unioned element, or first `$set_once` is lost.

Deadlock-free because every group transaction locks all the profiles it
touches up front, in one statement, in one global order (users before groups,
then by key in byte order): transactions that wait for each other always wait
in that order, never in a circle. A profile that does not exist yet is
locked by inserting it, so a missing row is serialised just like an existing
one. Row locks, not advisory locks: they live in the rows, so locking 20 000
profiles in one transaction costs no shared lock-table memory (advisory locks
are limited to max_locks_per_transaction x max_connections in all).

The operations themselves are `trackyard.service.profile_ops.apply_update`,
the same function the SQLite store uses, so both stores give equal results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from psycopg import AsyncConnection

from trackyard.service.profile_ops import OperationConflict, apply_update
from trackyard.storage.base import UpdateFailure
from trackyard.storage.postgres.events import storable_text
from trackyard.validate.profiles import ProfileUpdate

Key = tuple[Any, ...]  # (project_id, distinct_id) or (project_id, group_key, group_id)
Properties = dict[str, Any] | None

# `DO UPDATE ... WHERE false` writes nothing but still locks the existing row
# (PostgreSQL's INSERT docs: "all rows will be locked when the ON CONFLICT DO
# UPDATE action is taken"); a missing key is inserted as a NULL placeholder.
_LOCK_USERS = """
    INSERT INTO profiles AS p (project_id, distinct_id, properties, updated_ms)
    SELECT k.project_id, k.distinct_id, NULL, 0
    FROM unnest(%s::bigint[], %s::text[]) WITH ORDINALITY AS k(project_id, distinct_id, n)
    ORDER BY k.n
    ON CONFLICT (project_id, distinct_id) DO UPDATE SET updated_ms = p.updated_ms WHERE false
"""
_READ_USERS = """
    SELECT p.project_id, p.distinct_id, p.properties::text
    FROM profiles p JOIN unnest(%s::bigint[], %s::text[]) AS k(project_id, distinct_id)
    USING (project_id, distinct_id)
"""
_WRITE_USERS = """
    UPDATE profiles AS p SET properties = v.properties::json, updated_ms = %s
    FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(project_id, distinct_id, properties)
    WHERE p.project_id = v.project_id AND p.distinct_id = v.distinct_id
"""
_DELETE_USERS = """
    DELETE FROM profiles AS p
    USING unnest(%s::bigint[], %s::text[]) AS v(project_id, distinct_id)
    WHERE p.project_id = v.project_id AND p.distinct_id = v.distinct_id
"""
_LOCK_GROUPS = """
    INSERT INTO group_profiles AS p (project_id, group_key, group_id, properties, updated_ms)
    SELECT k.project_id, k.group_key, k.group_id, NULL, 0
    FROM unnest(%s::bigint[], %s::text[], %s::text[])
        WITH ORDINALITY AS k(project_id, group_key, group_id, n)
    ORDER BY k.n
    ON CONFLICT (project_id, group_key, group_id)
        DO UPDATE SET updated_ms = p.updated_ms WHERE false
"""
_READ_GROUPS = """
    SELECT p.project_id, p.group_key, p.group_id, p.properties::text
    FROM group_profiles p
    JOIN unnest(%s::bigint[], %s::text[], %s::text[]) AS k(project_id, group_key, group_id)
    USING (project_id, group_key, group_id)
"""
_WRITE_GROUPS = """
    UPDATE group_profiles AS p SET properties = v.properties::json, updated_ms = %s
    FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])
        AS v(project_id, group_key, group_id, properties)
    WHERE p.project_id = v.project_id AND p.group_key = v.group_key AND p.group_id = v.group_id
"""
_DELETE_GROUPS = """
    DELETE FROM group_profiles AS p
    USING unnest(%s::bigint[], %s::text[], %s::text[]) AS v(project_id, group_key, group_id)
    WHERE p.project_id = v.project_id AND p.group_key = v.group_key AND p.group_id = v.group_id
"""


@dataclass(frozen=True)
class _Table:
    lock: str
    read: str
    write: str
    delete: str
    key_parts: int


_USERS = _Table(_LOCK_USERS, _READ_USERS, _WRITE_USERS, _DELETE_USERS, 2)
_GROUPS = _Table(_LOCK_GROUPS, _READ_GROUPS, _WRITE_GROUPS, _DELETE_GROUPS, 3)


@dataclass
class ProfileBatch:
    """One `apply_profile_updates` call."""

    project_id: int
    updates: Sequence[ProfileUpdate]
    max_properties: int
    keys: list[Key] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = [_key(self.project_id, u) for u in self.updates]


def _key(project_id: int, update: ProfileUpdate) -> Key:
    return (project_id, *(storable_text(part) for part in update.profile_id))


def _columns(keys: Sequence[Key], parts: int) -> list[list[Any]]:
    return [[key[i] for key in keys] for i in range(parts)]


class ProfileFold:
    """The profiles a group transaction touches: locked, read, updated, written."""

    def __init__(self) -> None:
        self._before: dict[Key, Properties] = {}
        self._after: dict[Key, Properties] = {}

    async def lock_and_read(self, conn: AsyncConnection, batches: Sequence[ProfileBatch]) -> None:
        keys = {key for batch in batches for key in batch.keys}
        for table in (_USERS, _GROUPS):
            # Python sorts str by code point, the same order as UTF-8 bytes.
            ordered = sorted(k for k in keys if len(k) == table.key_parts)
            if not ordered:
                continue
            columns = _columns(ordered, table.key_parts)
            await conn.execute(table.lock, columns)
            cursor = await conn.execute(table.read, columns)
            for *key, text in await cursor.fetchall():
                self._before[tuple(key)] = orjson.loads(text) if text is not None else None
        self._after = dict(self._before)

    def apply(self, batch: ProfileBatch) -> list[UpdateFailure]:
        """Fold one call's updates in order; the call's changes land only if it completes."""
        changed: dict[Key, Properties] = {}
        failures = []
        for position, (key, update) in enumerate(zip(batch.keys, batch.updates, strict=True)):
            current = changed[key] if key in changed else self._after[key]
            try:
                changed[key] = apply_update(current, update, batch.max_properties)
            except OperationConflict as exc:
                failures.append(UpdateFailure(position, exc.field, exc.message))
        self._after.update(changed)
        return failures

    async def write(self, conn: AsyncConnection, now_ms: int) -> None:
        for table in (_USERS, _GROUPS):
            keys = [k for k in self._after if len(k) == table.key_parts]
            kept = [k for k in keys if self._after[k] is not None]
            kept = [k for k in kept if self._after[k] != self._before[k]]
            # Placeholders that stayed empty are deleted too ($unset on nobody).
            gone = [k for k in keys if self._after[k] is None]
            if kept:
                texts = [orjson.dumps(self._after[k]).decode() for k in kept]
                await conn.execute(table.write, [now_ms, *_columns(kept, table.key_parts), texts])
            if gone:
                await conn.execute(table.delete, _columns(gone, table.key_parts))
