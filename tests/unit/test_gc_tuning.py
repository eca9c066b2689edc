"""A serving process collects garbage every 50,000 allocations, not 700
(gc_tuning.py: with the default, collection took a third of /import's CPU)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from trackyard.gc_tuning import FIRST_GENERATION_THRESHOLD
from trackyard.http.app import create_app
from trackyard.settings import Settings


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("default_thresholds")
def test_the_server_raises_the_first_generation_threshold_once_started(tmp_path: Path) -> None:
    app = create_app(Settings(db=str(tmp_path / "t.db")))
    assert gc.get_threshold()[0] == 700
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_threshold() == (FIRST_GENERATION_THRESHOLD, 10, 10)
