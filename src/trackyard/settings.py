"""Every setting trackyard has, declared once.

The CLI builds a `Settings` from flags and `TRACKYARD_*` environment variables
(`Settings.from_env`), then passes it down explicitly. Each field's metadata
carries its help text; `docs/configuration.md` lists them all and a test keeps
the two in step.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "TRACKYARD_"
MIB = 1024 * 1024


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    db: str = _setting("trackyard.db", "SQLite database file (created if absent).")
    store: str = _setting(
        "", "PostgreSQL URL (postgresql://...) to store in instead of the SQLite file db."
    )
    store_pool_size: int = _setting(
        4, "Most PostgreSQL connections each server process opens (see docs/scaling.md)."
    )
    host: str = _setting("127.0.0.1", "Address to listen on.")
    port: int = _setting(8000, "Port to listen on.")
    workers: int = _setting(1, "Server processes sharing the port and the database.")
    path_prefix: str = _setting(
        "", "Serve the ingestion endpoints under this path too (e.g. /mixpanel)."
    )
    tls_cert: str = _setting("", "PEM certificate file; serve HTTPS when set with tls_key.")
    tls_key: str = _setting("", "PEM private key file for tls_cert.")
    log_level: str = _setting("info", "Log level: debug, info, warning, error.")
    max_body_bytes: int = _setting(
        10 * MIB, "Largest request body, measured after decompression (Mixpanel: 10 MB)."
    )
    max_records_per_request: int = _setting(
        2000, "Most events or profile updates in one request (Mixpanel: 2000)."
    )
    max_record_bytes: int = _setting(
        1 * MIB, "Largest single event or profile update as JSON (Mixpanel: 1 MB)."
    )
    max_properties: int = _setting(255, "Most properties on one event (Mixpanel: 255).")
    max_nesting_depth: int = _setting(3, "Deepest nesting of objects in a property value.")
    max_collection_items: int = _setting(
        255, "Most keys in a nested object or elements in a list property."
    )
    max_string_chars: int = _setting(
        255, "Strings and property names are truncated to this many characters."
    )
    max_profile_properties: int = _setting(2000, "Most properties on one profile.")
    track_max_age_days: int = _setting(
        5, "/track drops events older than this many days, as Mixpanel does."
    )
    track_keep_old_events: bool = _setting(
        False, "Keep /track events older than track_max_age_days instead of dropping them."
    )
    max_future_seconds: int = _setting(
        3600, "/import rejects events further in the future than this."
    )
    lookup_table_max_bytes: int = _setting(
        100 * MIB, "Largest lookup-table CSV, uncompressed (Mixpanel: 100 MB)."
    )
    commit_max_records: int = _setting(
        20000, "Most records one group commit writes before it commits."
    )
    queue_max_records: int = _setting(
        200000, "Records waiting for the writer before new requests get 503."
    )
    retry_after_seconds: int = _setting(2, "Retry-After sent with 503 and 429 answers.")
    max_url_bytes: int = _setting(
        64 * 1024, "Longest request URL; longer gets 414 (Mixpanel's front end: 64 KB)."
    )
    max_header_bytes: int = _setting(
        64 * 1024, "Most bytes of request header names and values; more gets 431."
    )
    read_timeout_seconds: int = _setting(
        60, "A request not fully received after this many seconds gets 408 and is closed."
    )
    max_inflight_bytes: int = _setting(
        64 * MIB, "Decoded bodies held at once by requests in progress; past it, 503."
    )
    rate_limit_bytes_per_minute: int = _setting(
        2 * 1024 * MIB,
        "Uncompressed bytes per project per minute before 429 (Mixpanel: 2 GB); 0 is off.",
    )

    @classmethod
    def fields(cls) -> Iterator[dataclasses.Field[Any]]:
        yield from dataclasses.fields(cls)

    @staticmethod
    def env_name(name: str) -> str:
        return ENV_PREFIX + name.upper()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, overlaid by TRACKYARD_* variables, overlaid by explicit overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in cls.fields():
            raw = environ.get(cls.env_name(f.name))
            if raw is not None:
                values[f.name] = _parse(raw, f.default, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings (for worker processes)."""
        return {self.env_name(f.name): _format(getattr(self, f.name)) for f in self.fields()}


def _parse(raw: str, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{Settings.env_name(name)}: expected true or false, got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(
                f"{Settings.env_name(name)}: expected an integer, got {raw!r}"
            ) from None
    return raw


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
