"""Mixpanel's per-project rate limit (§11, §16): uncompressed bytes per rolling
minute, 429 with Mixpanel's body and Retry-After, and an off switch."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import REGISTRY

from tests.conftest import NOW_MS, Harness
from trackyard.clock import FixedClock
from trackyard.errors import RateLimited
from trackyard.service.projects import NewProject
from trackyard.service.rate_limit import ProjectRateLimiter
from trackyard.settings import Settings

LIMIT = 10_000
MESSAGE = "Project exceeded rate limits. Please retry the request with exponential backoff."


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "t.db"), rate_limit_bytes_per_minute=LIMIT)


def events(project: NewProject, n: int, tag: str) -> list[dict[str, Any]]:
    """`n` events of about 400 bytes each."""
    return [
        {
            "event": "e",
            "properties": {
                "token": project.token,
                "distinct_id": "u",
                "time": NOW_MS // 1000,
                "$insert_id": f"{tag}-{i}",
                "pad": "p" * 250,
            },
        }
        for i in range(n)
    ]


def rate_limited_count() -> float:
    sample = REGISTRY.get_sample_value(
        "trackyard_rate_limited_requests_total", {"endpoint": "/track"}
    )
    return sample or 0.0


def track(harness: Harness, records: list[dict[str, Any]], **params: str) -> Any:
    return harness.client.post("/track", json=records, params=params)


def import_(harness: Harness, project: NewProject, records: list[dict[str, Any]]) -> Any:
    auth = "Basic " + base64.b64encode(f"{project.token}:".encode()).decode()
    return harness.client.post("/import", json=records, headers={"authorization": auth})


# The limiter alone ------------------------------------------------------------------


def test_the_limiter_counts_a_rolling_minute() -> None:
    clock = FixedClock(NOW_MS)
    limiter = ProjectRateLimiter(1000, clock)
    limiter.charge({1: 600})
    clock.advance(30_000)
    limiter.charge({1: 400})
    with pytest.raises(RateLimited) as refused:
        limiter.charge({1: 1})
    # The first 600 bytes leave the window 30 s from now.
    assert refused.value.retry_after == 30
    clock.advance(30_000)
    limiter.charge({1: 600})
    assert limiter.used(1) == 1000


def test_a_refused_request_counts_for_no_project() -> None:
    limiter = ProjectRateLimiter(1000, FixedClock(NOW_MS))
    limiter.charge({1: 900})
    with pytest.raises(RateLimited):
        limiter.charge({2: 500, 1: 500})
    assert (limiter.used(1), limiter.used(2)) == (900, 0)


def test_one_request_larger_than_the_limit_is_let_through_alone() -> None:
    limiter = ProjectRateLimiter(1000, FixedClock(NOW_MS))
    limiter.charge({1: 5000})
    with pytest.raises(RateLimited):
        limiter.charge({1: 1})


def test_zero_turns_the_limit_off() -> None:
    limiter = ProjectRateLimiter(0, FixedClock(NOW_MS))
    for _ in range(100):
        limiter.charge({1: 10**12})


def test_the_default_is_mixpanels_2_gb_per_minute() -> None:
    assert Settings().rate_limit_bytes_per_minute == 2 * 1024**3


# Over HTTP --------------------------------------------------------------------------


def test_track_past_the_limit_is_429_with_mixpanels_body(
    harness: Harness, project: NewProject
) -> None:
    before = rate_limited_count()
    assert track(harness, events(project, 20, "a")).text == "1"  # about 8 KB
    refused = track(harness, events(project, 20, "b"))
    assert refused.status_code == 429
    assert refused.json() == {"error": MESSAGE, "status": 0}
    assert refused.headers["retry-after"] == "60"
    assert len(harness.events(project.project_id)) == 20  # nothing of the refused request
    assert rate_limited_count() == before + 1


def test_import_past_the_limit_is_429_with_mixpanels_body(
    harness: Harness, project: NewProject
) -> None:
    assert import_(harness, project, events(project, 20, "a")).status_code == 200
    refused = import_(harness, project, events(project, 20, "b"))
    assert refused.status_code == 429
    assert refused.json() == {"code": 429, "error": MESSAGE, "status": "Too Many Requests"}
    assert refused.headers["retry-after"] == "60"


def test_the_limit_counts_uncompressed_bytes(harness: Harness, project: NewProject) -> None:
    body = gzip.compress(orjson.dumps(events(project, 30, "z")))  # 12 KB inflated, 1 KB sent
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    assert harness.client.post("/track", content=body, headers=headers).text == "1"
    assert track(harness, events(project, 1, "next")).status_code == 429


def test_each_project_has_its_own_limit(harness: Harness, project: NewProject) -> None:
    other = harness.new_project("Other")
    track(harness, events(project, 25, "a"))
    assert track(harness, events(project, 1, "b")).status_code == 429
    assert track(harness, events(other, 20, "c")).text == "1"


def test_the_window_rolls_on(harness: Harness, project: NewProject, clock: FixedClock) -> None:
    track(harness, events(project, 25, "a"))
    assert track(harness, events(project, 5, "b")).status_code == 429
    clock.advance(60_000)
    assert track(harness, events(project, 5, "b")).text == "1"


def test_refused_records_do_not_count(harness: Harness, project: NewProject) -> None:
    junk = [{"event": "no token", "properties": {"pad": "p" * 9000}}]
    for _ in range(5):
        assert track(harness, junk).text == "0"
    assert track(harness, events(project, 20, "a")).text == "1"
