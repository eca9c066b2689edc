"""Prometheus metrics, served at /metrics (docs/operations.md lists them).

prometheus_client keeps metrics in module-level objects; this module is the
one place that declares them. With `--workers N > 1`, `trackyard serve` sets
`PROMETHEUS_MULTIPROC_DIR` to a fresh directory before the workers start, so
each worker writes its values there and any worker's /metrics adds them up
(prometheus_client's multiprocess mode; the variable must be set before the
package is imported, which is why serve sets it and the workers are spawned).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "trackyard_http_requests",
    "HTTP requests answered, by endpoint (first path segment) and status.",
    ["endpoint", "status"],
)
EVENTS = Counter(
    "trackyard_events",
    "Events received on /track and /import, by outcome: stored, deduplicated,"
    " dropped (old /track events, $ignore), rejected.",
    ["endpoint", "outcome"],
)
PROFILE_UPDATES = Counter(
    "trackyard_profile_updates",
    "Profile updates received on /engage and /groups, by outcome: applied, rejected.",
    ["endpoint", "outcome"],
)
RATE_LIMITED = Counter(
    "trackyard_rate_limited_requests",
    "Requests refused with 429 by the per-project rate limit.",
    ["endpoint"],
)
COMMIT_SECONDS = Histogram(
    "trackyard_commit_seconds",
    "Time to write and commit one group transaction.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
COMMITS = Counter(
    "trackyard_commits", "Group transactions, by result: committed, failed.", ["result"]
)
WRITER_QUEUE_RECORDS = Gauge(
    "trackyard_writer_queue_records",
    "Records handed to the writer and not yet committed.",
    multiprocess_mode="livesum",
)
INFLIGHT_BODY_BYTES = Gauge(
    "trackyard_inflight_body_bytes",
    "Decoded request bodies held by requests in progress.",
    multiprocess_mode="livesum",
)


def exposition() -> bytes:
    """The text format of every metric, of every worker in multiprocess mode."""
    if not os.environ.get(MULTIPROCESS_DIR_ENV):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def forget_this_process() -> None:
    """Drop this worker's live gauges from the shared directory when it stops."""
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        multiprocess.mark_process_dead(os.getpid())
