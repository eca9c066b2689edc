"""Identity links (trackyard.service.identity) over PostgreSQL's identity_links table.

The rules are the shared, synchronous `apply_links`; the database is async.
So each group transaction first locks the projects whose graphs it changes
(one transaction-scoped advisory lock per project, taken in project order so
processes never wait in a circle), reads what the rules can ask about the ids
involved, runs the rules against that in-memory view, and replays the relinks
they made as SQL, in order.

Why the view is enough: the rules ask only about ids named by the links
(`canonical`) and about cluster roots (`cluster_size`), and a relink only
merges clusters already in the view. Sizes are read as counts, not as member
lists, so a user with thousands of devices costs one number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import AsyncConnection

from trackyard.service.identity import IdentityLink, apply_links
from trackyard.storage.postgres.events import storable_text

# The first key of the two-part advisory lock that serialises one project's graph.
IDENTITY_LOCK_SPACE = 0x7472_6B79

_CANONICALS = """
    SELECT distinct_id, canonical_id FROM identity_links
    WHERE project_id = %s AND distinct_id = ANY(%s::text[])
"""
_SIZES = """
    SELECT canonical_id, count(*) FROM identity_links
    WHERE project_id = %s AND canonical_id = ANY(%s::text[]) GROUP BY canonical_id
"""
_MOVE_CLUSTER = """
    UPDATE identity_links SET canonical_id = %s WHERE project_id = %s AND canonical_id = %s
"""
_LINK_ROOT = """
    INSERT INTO identity_links (project_id, distinct_id, canonical_id) VALUES (%s, %s, %s)
    ON CONFLICT (project_id, distinct_id) DO UPDATE SET canonical_id = EXCLUDED.canonical_id
"""


@dataclass(frozen=True)
class IdentityBatch:
    """One `link_identities` call."""

    project_id: int
    links: Sequence[IdentityLink]

    def storable_links(self) -> list[IdentityLink]:
        return [
            IdentityLink(link.kind, storable_text(link.member), storable_text(link.target))
            for link in self.links
        ]


class IdentityView:
    """The IdentityGraph protocol over the part of one project's graph a batch touches."""

    def __init__(self, canonicals: dict[str, str], sizes: dict[str, int]) -> None:
        self._canonicals = canonicals
        self._sizes = sizes  # linked ids per root, the root itself not counted
        self.relinks: list[tuple[str, str]] = []

    def canonical(self, distinct_id: str) -> str | None:
        return self._canonicals.get(distinct_id)

    def cluster_size(self, canonical_id: str) -> int:
        return 1 + self._sizes.get(canonical_id, 0)

    def relink(self, old_canonical: str, new_canonical: str) -> None:
        for member, canonical in self._canonicals.items():
            if canonical == old_canonical:
                self._canonicals[member] = new_canonical
        self._canonicals[old_canonical] = new_canonical
        moved = self._sizes.pop(old_canonical, 0) + 1
        self._sizes[new_canonical] = self._sizes.get(new_canonical, 0) + moved
        self.relinks.append((old_canonical, new_canonical))


async def lock_projects(conn: AsyncConnection, project_ids: set[int]) -> None:
    for project_id in sorted(project_ids):
        await conn.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", (IDENTITY_LOCK_SPACE, project_id)
        )


async def apply_identity_batch(conn: AsyncConnection, batch: IdentityBatch) -> None:
    """Apply one call's links; the caller holds the project's lock."""
    links = batch.storable_links()
    view = await _read_view(conn, batch.project_id, links)
    apply_links(view, links)
    for old, new in view.relinks:
        await conn.execute(_MOVE_CLUSTER, (new, batch.project_id, old))
        await conn.execute(_LINK_ROOT, (batch.project_id, old, new))


async def _read_view(
    conn: AsyncConnection, project_id: int, links: Sequence[IdentityLink]
) -> IdentityView:
    ids = sorted({i for link in links for i in (link.member, link.target)})
    cursor = await conn.execute(_CANONICALS, (project_id, ids))
    canonicals = {member: canonical for member, canonical in await cursor.fetchall()}
    roots = sorted(set(ids) | set(canonicals.values()))
    cursor = await conn.execute(_SIZES, (project_id, roots))
    sizes = {root: int(count) for root, count in await cursor.fetchall()}
    return IdentityView(canonicals, sizes)
