"""Prometheus /metrics: requests by endpoint and status, events by outcome,
commit latency, queue depth, rate-limited requests; summed over workers."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2 as httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import NOW_MS, Harness
from tests.hardening.servers import serve, track_event
from tests.live_server import cli
from trackyard.service.projects import NewProject


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return float(samples.get((name, tuple(sorted(labels.items()))), 0.0))


def test_metrics_count_what_happened(harness: Harness, project: NewProject) -> None:
    before = scrape(harness.client.get("/metrics").text)
    t = NOW_MS // 1000
    batch = [
        track_event(project.token, "m1", t),
        track_event(project.token, "m1", t),  # a retry of the same event
        track_event(project.token, "m2", t - 10 * 86_400),  # too old for /track: dropped
        {"event": "", "properties": {}},  # rejected
    ]
    assert harness.client.post("/track", json=batch).text == "1"
    response = harness.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = scrape(response.text)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("trackyard_http_requests_total", endpoint="/track", status="200") == 1
    for outcome, n in {"stored": 1, "deduplicated": 1, "dropped": 1, "rejected": 1}.items():
        assert grew("trackyard_events_total", endpoint="/track", outcome=outcome) == n
    assert grew("trackyard_commit_seconds_count") >= 1
    assert grew("trackyard_commits_total", result="committed") >= 1
    assert ("trackyard_writer_queue_records", ()) in after
    assert ("trackyard_inflight_body_bytes", ()) in after


def test_profile_updates_and_unmatched_paths_are_counted(
    harness: Harness, project: NewProject
) -> None:
    before = scrape(harness.client.get("/metrics").text)
    updates = [{"$token": project.token, "$distinct_id": "u", "$set": {"a": 1}}, {"$set": {}}]
    harness.client.post("/engage", json=updates)
    harness.client.get("/no-such-path")
    after = scrape(harness.client.get("/metrics").text)
    for labels, n in [
        ({"endpoint": "/engage", "outcome": "applied"}, 1),
        ({"endpoint": "/engage", "outcome": "rejected"}, 1),
    ]:
        name = "trackyard_profile_updates_total"
        assert value(after, name, **labels) - value(before, name, **labels) == n
    name, labels = "trackyard_http_requests_total", {"endpoint": "unmatched", "status": "404"}
    assert value(after, name, **labels) - value(before, name, **labels) == 1


@pytest.mark.e2e
def test_several_workers_report_their_sum(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    token = cli(db, "projects", "create", "Metrics")["token"]
    with serve(tmp_path, db, "--workers", "2") as server:
        for i in range(40):
            # A new connection each time, so that both workers answer some of them.
            event = track_event(token, f"w{i}", int(time.time()))
            httpx.post(f"{server.url}/track", json=[event]).raise_for_status()
        for _ in range(6):  # whichever worker answers the scrape
            samples = scrape(httpx.get(f"{server.url}/metrics").text)
            stored = {"endpoint": "/track", "outcome": "stored"}
            answered = {"endpoint": "/track", "status": "200"}
            assert value(samples, "trackyard_events_total", **stored) == 40
            assert value(samples, "trackyard_http_requests_total", **answered) == 40
