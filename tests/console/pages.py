"""Driving the console in-process: sign in through its form, read its CSRF tokens."""

from __future__ import annotations

import re

import httpx2 as httpx
from starlette.testclient import TestClient

from tests.conftest import Harness
from trackyard.service.projects import NewProject

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found[1]


def sign_in(client: TestClient, username: str, secret: str, next_url: str = "") -> httpx.Response:
    form = client.get("/console/login")
    data = {"csrf": csrf_of(form.text), "username": username, "secret": secret}
    return client.post("/console/login", data={**data, "next": next_url}, follow_redirects=False)


def signed_in(harness: Harness, project: NewProject) -> TestClient:
    answer = sign_in(
        harness.client, project.service_account.username, project.service_account.secret
    )
    assert answer.status_code == 303, answer.text
    return harness.client


def post_form(client: TestClient, page: str, action: str, **fields: str) -> httpx.Response:
    """Submit a form of `page` as a browser would: with the page's CSRF token."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={"csrf": token, **fields}, follow_redirects=False)
