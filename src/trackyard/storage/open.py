"""Choosing the store a setting names."""

from __future__ import annotations

from trackyard.settings import Settings
from trackyard.storage.base import Store
from trackyard.storage.sqlite.store import SQLiteStore


def open_store(settings: Settings) -> Store:
    return SQLiteStore(
        settings.db,
        commit_max_records=settings.commit_max_records,
        queue_max_records=settings.queue_max_records,
    )
