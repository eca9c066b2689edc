"""Ingestion: validated records routed to their projects and stored.

The HTTP layer decodes and authenticates; this layer validates each record,
resolves tokens, and writes through the store. It answers with a
`BatchOutcome` that the HTTP layer renders in the endpoint's own dialect.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trackyard.auth.credentials import ProjectAuthenticator
from trackyard.clock import Clock
from trackyard.errors import BatchRejected, PayloadTooLarge
from trackyard.service.identity import IDENTITY_EVENTS, SIMPLIFIED_REJECTS, links_from_events
from trackyard.service.rate_limit import ProjectRateLimiter
from trackyard.settings import Settings
from trackyard.storage.base import InsertResult, Project, Store
from trackyard.validate.common import Limits, RecordError
from trackyard.validate.events import DAY_MS, Event, EventRules, validate_event
from trackyard.validate.profiles import Kind, ProfileUpdate, validate_update

MISSING_TOKEN = "token, missing or empty"
UNKNOWN_TOKEN = "token does not belong to any project"
NO_RECORDS = "data, missing or empty"


@dataclass(frozen=True)
class BatchOutcome:
    received: int
    errors: list[RecordError] = field(default_factory=list)
    stored: int = 0
    duplicates: int = 0

    @property
    def accepted(self) -> int:
        """Records that were valid: stored, deduplicated, or silently dropped as Mixpanel does."""
        return self.received - len(self.errors)


class IngestService:
    def __init__(
        self, store: Store, auth: ProjectAuthenticator, clock: Clock, settings: Settings
    ) -> None:
        self._store = store
        self._auth = auth
        self._clock = clock
        self._settings = settings
        self._limits = Limits.from_settings(settings)
        self._rules: dict[tuple[str, bool], EventRules] = {}
        self.rate_limiter = ProjectRateLimiter(settings.rate_limit_bytes_per_minute, clock)

    async def track(self, records: Sequence[Any], *, size: int = 0) -> BatchOutcome:
        """Events from /track: each carries its project's token.

        `size` is the request's decoded size, counted against the rate limit.
        """
        self._check_count(records)
        rules = self._event_rules("track", strict=False)
        by_project: dict[Project, list[Event]] = defaultdict(list)
        errors: list[RecordError] = []
        for index, raw in enumerate(records):
            result = validate_event(raw, index, rules)
            if isinstance(result, Event):
                project = await self._project_for(result.token, index, "properties.token", errors)
                if project is not None:
                    by_project[project].append(result)
            elif isinstance(result, RecordError):
                errors.append(result)
        self._charge(size, len(records), {p.id: len(e) for p, e in by_project.items()})
        return await self._store_events(len(records), by_project, errors)

    async def import_events(
        self, project: Project, records: Sequence[Any], *, strict: bool, size: int = 0
    ) -> BatchOutcome:
        """Events from /import, for the project the credentials named."""
        self._check_count(records)
        rules = self._event_rules("import", strict=strict)
        events: list[Event] = []
        errors: list[RecordError] = []
        for index, raw in enumerate(records):
            result = validate_event(raw, index, rules)
            if isinstance(result, Event):
                events.append(result)
            elif isinstance(result, RecordError):
                errors.append(result)
        if strict and project.identity_mode == "simplified":
            _refuse_identity_events(events)
        self._charge(size, len(records), {project.id: len(events)})
        return await self._store_events(len(records), {project: events}, errors)

    async def update_profiles(
        self, kind: Kind, records: Sequence[Any], *, size: int = 0
    ) -> BatchOutcome:
        """User (/engage) or group (/groups) profile updates, each with its `$token`."""
        self._check_count(records)
        received_ms = self._clock.now_ms()
        by_project: dict[int, list[tuple[int, ProfileUpdate]]] = defaultdict(list)
        errors: list[RecordError] = []
        for index, raw in enumerate(records):
            result = validate_update(raw, index, kind, received_ms, self._limits)
            if isinstance(result, RecordError):
                errors.append(result)
                continue
            project = await self._project_for(result.token, index, "$token", errors)
            if project is not None:
                by_project[project.id].append((index, result))
        self._charge(size, len(records), {pid: len(u) for pid, u in by_project.items()})
        for project_id, indexed in by_project.items():
            failures = await self._store.apply_profile_updates(
                project_id, [u for _, u in indexed], self._settings.max_profile_properties
            )
            errors.extend(RecordError(indexed[f.position][0], f.field, f.message) for f in failures)
        errors.sort(key=lambda e: e.index)
        return BatchOutcome(len(records), errors)

    def _charge(self, size: int, received: int, valid_by_project: dict[int, int]) -> None:
        """Count the request's bytes against the projects it writes to, shared by
        their valid records; RateLimited (nothing stored) past a project's limit."""
        shares = {pid: size * n // received for pid, n in valid_by_project.items() if n}
        if shares:
            self.rate_limiter.charge(shares)

    def _check_count(self, records: Sequence[Any]) -> None:
        limit = self._settings.max_records_per_request
        if len(records) > limit:
            raise PayloadTooLarge(f"request exceeds max limit of {limit} records", limit)

    def _event_rules(self, endpoint: str, *, strict: bool) -> EventRules:
        """The rules for a request received now: made once per millisecond."""
        now_ms = self._clock.now_ms()
        rules = self._rules.get((endpoint, strict))
        if rules is not None and rules.received_ms == now_ms:
            return rules
        keep_old = endpoint == "import" or self._settings.track_keep_old_events
        rules = self._rules[endpoint, strict] = EventRules(
            endpoint="import" if endpoint == "import" else "track",
            strict=strict,
            received_ms=now_ms,
            limits=self._limits,
            track_max_age_ms=None if keep_old else self._settings.track_max_age_days * DAY_MS,
            max_future_ms=self._settings.max_future_seconds * 1000,
        )
        return rules

    async def _project_for(
        self, token: str | None, index: int, field: str, errors: list[RecordError]
    ) -> Project | None:
        if not token:
            errors.append(RecordError(index, field, MISSING_TOKEN))
            return None
        project = await self._auth.project_for_token(token)
        if project is None:
            errors.append(RecordError(index, field, UNKNOWN_TOKEN))
        return project

    async def _store_events(
        self, received: int, by_project: dict[Project, list[Event]], errors: list[RecordError]
    ) -> BatchOutcome:
        writes = [
            self._store_project_events(p, events) for p, events in by_project.items() if events
        ]
        # One project is the rule: awaited directly, without gather's tasks.
        results = [await writes[0]] if len(writes) == 1 else await asyncio.gather(*writes)
        return BatchOutcome(
            received,
            errors,
            stored=sum(r.stored for r in results),
            duplicates=sum(r.duplicates for r in results),
        )

    async def _store_project_events(self, project: Project, events: list[Event]) -> InsertResult:
        links = links_from_events(events, project.identity_mode)  # type: ignore[arg-type]
        inserting = self._store.insert_events(project.id, events)
        if not links:
            return await inserting
        # Submitted together, both usually share one group commit. Links are
        # idempotent, so a retry after a failure of either is safe.
        result, _ = await asyncio.gather(inserting, self._store.link_identities(project.id, links))
        return result


def _refuse_identity_events(events: list[Event]) -> None:
    """Strict /import in a simplified project refuses the whole batch (§6.2, [PROBE])."""
    refused = [SIMPLIFIED_REJECTS for e in events if e.name in IDENTITY_EVENTS]
    if refused:
        raise BatchRejected(SIMPLIFIED_REJECTS, refused)
