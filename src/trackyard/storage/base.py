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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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

    # Ingestion ---------------------------------------------------------------

    async def insert_events(self, project_id: int, events: Sequence[Event]) -> InsertResult:
        """Store new events; skip (and count) those whose dedup key exists."""

    async def apply_profile_updates(
        self, project_id: int, updates: Sequence[ProfileUpdate], max_properties: int
    ) -> list[UpdateFailure]:
        """Apply user or group profile updates in order; report those that conflict."""

    async def profile(self, project_id: int, profile_id: tuple[str, ...]) -> dict[str, Any] | None:
        """A user (one-part id) or group ((group_key, group_id)) profile's properties."""

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
