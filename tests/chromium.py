"""Debian's Chromium under Playwright, as every browser test launches it.

A browser is never downloaded: Chromium comes from Debian (`.ci/run` installs
it). Without the background-networking flags Chromium phones home, and this
closed network refuses its connections.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require(path: Path, what: str, remedy: str) -> None:
    """Skip when a prerequisite is missing, except on CI, which must run these tests."""
    if path.exists():
        return
    message = f"{what} not found at {path}; {remedy}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must not skip the browser tests)")
    pytest.skip(message)


@contextmanager
def chromium(*needs: tuple[Path, str, str]) -> Iterator[Browser]:
    """Chromium, once Chromium and every (path, what, remedy) in `needs` exist."""
    require(CHROMIUM, "Debian's Chromium", "`apt-get install chromium` (.ci/run does)")
    for need in needs:
        require(*need)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
