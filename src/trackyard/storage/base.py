"""The storage contract every backend implements.

Contract (tested for every backend by tests/contract):

* **Durable acknowledgement.** A write method returns only after its data is
  committed (fsync'd for SQLite, committed for PostgreSQL). If it cannot
  commit it raises `StoreUnavailable` and *nothing* of that call is kept.
* **Group commit.** Concurrent calls may share one transaction; each call's
  result is its own. One call is atomic: all of it or none of it.
* **Idempotent events.** `(project_id, event, distinct_id, time_ms, insert_id)`
  is unique; inserting an existing key stores nothing and counts a duplicate.
* **Ordered profile updates.** Updates of one call apply in order; a failing
  update (an `OperationConflict`) is skipped, reported, and leaves the
  profile as it was, while the others of the call apply.
* Driver errors never escape: they become `StoreUnavailable` (retry later)
  or a domain error from `trackyard.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from trackyard.query import Expr
from trackyard.service.identity import IdentityLink
from trackyard.validate.events import Event
from trackyard.validate.profiles import ProfileUpdate


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    token: str
    identity_mode: str = "simplified"


@dataclass(frozen=True, slots=True)
class SecretHash:
    """A salted slow hash (see trackyard.auth.secrets) and the key to find it by."""

    lookup: str
    hash: str


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    id: int
    username: str
    secret_hash: str
    project_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class InsertResult:
    stored: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class UpdateFailure:
    """An update of a batch that did not apply; `position` is its place in the call."""

    position: int
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class LookupTable:
    id: str
    project_id: int
    name: str
    row_count: int
    column_count: int
    created_ms: int
    updated_ms: int


@dataclass(frozen=True, slots=True)
class LookupTableContent:
    header: tuple[str, ...]
    rows: Sequence[tuple[str, dict[str, Any]]]  # (key, typed values by column)


@dataclass(frozen=True, slots=True)
class ExportQuery:
    """Which events to export. `to_ms` is exclusive; `where` is parsed already."""

    from_ms: int
    to_ms: int
    event_names: tuple[str, ...] | None = None
    where: Expr | None = None
    limit: int | None = None
    time_in_ms: bool = False


@dataclass(frozen=True, slots=True)
class ProfileQuery:
    """Which user profiles (or, with `group_key`, group profiles) an engage query wants."""

    group_key: str | None = None
    distinct_ids: tuple[str, ...] | None = None
    where: Expr | None = None


@dataclass(frozen=True, slots=True)
class ProfilePage:
    total: int
    rows: list[tuple[str, dict[str, Any]]]  # (distinct_id, properties)


class Store(Protocol):
    async def open(self) -> None:
        """Create or migrate the schema and start the writer. Idempotent."""

    async def close(self) -> None:
        """Finish queued writes and release every resource."""

    async def ping(self) -> None:
        """Raise StoreUnavailable unless a write could be committed now."""

    # Projects and credentials ------------------------------------------------

    async def create_project(self, name: str, token: str, api_secret: SecretHash) -> Project:
        """A new project with the next free numeric id."""

    async def list_projects(self) -> list[Project]: ...

    async def project_by_id(self, project_id: int) -> Project | None: ...

    async def project_by_token(self, token: str) -> Project | None: ...

    async def project_by_secret_lookup(self, lookup: str) -> tuple[Project, str] | None:
        """The project whose API secret has this lookup key, with the secret's hash."""

    async def create_service_account(
        self, username: str, secret_hash: str, project_ids: Sequence[int]
    ) -> ServiceAccount: ...

    async def service_account(self, username: str) -> ServiceAccount | None: ...

    async def replace_service_account_secret(self, username: str, secret_hash: str) -> None:
        """Rotate: from its commit on, only the new secret verifies. NotFound if unknown."""

    async def replace_api_secret(self, project_id: int, api_secret: SecretHash) -> None:
        """Rotate the project's API secret, as above. NotFound for an unknown project."""

    # Ingestion ---------------------------------------------------------------

    async def insert_events(self, project_id: int, events: Sequence[Event]) -> InsertResult:
        """Store new events; skip (and count) those whose dedup key exists."""

    async def link_identities(self, project_id: int, links: Sequence[IdentityLink]) -> None:
        """Apply identity links in order (rules: trackyard.service.identity.apply_links).

        Idempotent: re-applying links already applied changes nothing, so a
        retried request whose events were deduplicated is safe.
        """

    async def set_identity_mode(self, project_id: int, mode: str) -> None:
        """Conflict once the project has events; NotFound for an unknown project."""

    async def apply_profile_updates(
        self, project_id: int, updates: Sequence[ProfileUpdate], max_properties: int
    ) -> list[UpdateFailure]:
        """Apply user or group profile updates in order; report those that conflict."""

    async def profile(self, project_id: int, profile_id: tuple[str, ...]) -> dict[str, Any] | None:
        """A user (one-part id) or group ((group_key, group_id)) profile's properties."""

    def export_events(
        self, project_id: int, query: ExportQuery
    ) -> AsyncIterator[list[tuple[str, str]]]:
        """Batches of (event name, properties JSON) in time order, from one snapshot.

        Properties as exported (§14): `distinct_id` canonical after identity
        merge, `time` in seconds or ms. Memory stays constant in the range size.
        """

    async def snapshot_profiles(self, project_id: int, query: ProfileQuery, session_id: str) -> int:
        """Pin the profiles matching `query`, ordered by distinct_id, as session
        `session_id`; return how many match. Profiles carry the canonical
        distinct_id after identity merge. Sessions older than an hour are dropped."""

    async def profile_page(
        self, project_id: int, session_id: str, offset: int, limit: int
    ) -> ProfilePage | None:
        """Rows `offset..offset+limit` of a pinned session; None if unknown or expired."""

    async def count_events(self, project_id: int) -> int: ...

    async def events(self, project_id: int) -> list[dict[str, Any]]:
        """Every stored event of a project as {event, properties}, in time order."""

    # Lookup tables -----------------------------------------------------------

    async def create_lookup_table(
        self, project_id: int, table_id: str, name: str
    ) -> LookupTable: ...

    async def list_lookup_tables(self, project_id: int) -> list[LookupTable]: ...

    async def lookup_table(self, project_id: int, table_id: str) -> LookupTable | None: ...

    async def replace_lookup_table(
        self, project_id: int, table_id: str, content: LookupTableContent
    ) -> LookupTable:
        """Replace every row atomically; NotFound if the table is not the project's."""

    async def delete_lookup_table(self, project_id: int, table_id: str) -> None:
        """NotFound if the table is not the project's."""

    async def lookup_table_rows(
        self, project_id: int, table_id: str, limit: int
    ) -> list[tuple[str, dict[str, Any]]]: ...
