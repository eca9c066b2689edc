"""Console sign-in, sessions, CSRF, other origins, the project switcher, and
service-account secrets shown once."""

from __future__ import annotations

import pytest

from tests.conftest import Harness
from tests.console.pages import csrf_of, post_form, sign_in, signed_in
from trackyard.service.projects import NewProject, create_service_account


def test_pages_redirect_to_sign_in_and_back(harness: Harness, project: NewProject) -> None:
    client = harness.client
    answer = client.get("/console/insights?unit=week", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=/console/insights%3Funit%3Dweek"
    account = project.service_account
    signed = sign_in(client, account.username, account.secret, "/console/insights?unit=week")
    assert signed.headers["location"] == "/console/insights?unit=week"


def test_the_session_cookie_is_http_only_same_site_and_scoped(
    harness: Harness, project: NewProject
) -> None:
    account = project.service_account
    answer = sign_in(harness.client, account.username, account.secret)
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("trackyard_console=")
    )
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/console"} <= attributes
    assert any(a.startswith("max-age=") for a in attributes)


def test_a_wrong_secret_is_refused(harness: Harness, project: NewProject) -> None:
    answer = sign_in(harness.client, project.service_account.username, "not-the-secret")
    assert answer.status_code == 401
    assert "wrong secret" in answer.text
    assert "trackyard_console=" not in answer.headers.get("set-cookie", "")
    assert harness.client.get("/console/live", follow_redirects=False).status_code == 303


def test_the_sign_in_form_needs_its_own_token(harness: Harness, project: NewProject) -> None:
    account = project.service_account
    harness.client.get("/console/login")
    answer = harness.client.post(
        "/console/login",
        data={"csrf": "forged", "username": account.username, "secret": account.secret},
    )
    assert answer.status_code == 403


def test_forms_need_the_session_csrf_token(harness: Harness, project: NewProject) -> None:
    client = signed_in(harness, project)
    refused = client.post("/console/lookup-tables", data={"name": "T"}, follow_redirects=False)
    assert refused.status_code == 403
    forged = client.post(
        "/console/lookup-tables", data={"name": "T", "csrf": "x" * 43}, follow_redirects=False
    )
    assert forged.status_code == 403
    made = post_form(client, "/console/lookup-tables", "/console/lookup-tables", name="T")
    assert made.status_code == 303


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("POST", {"Origin": "http://evil.example"}, 403),
        ("POST", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, 403),
        ("POST", {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors"}, 403),
        ("GET", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}, 403),
        ("GET", {"Origin": "http://127.0.0.1:3000"}, 403),
        # A link followed from elsewhere still opens the page.
        ("GET", {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, 200),
        ("POST", {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}, 303),
    ],
)
def test_other_origins_are_refused(
    harness: Harness, project: NewProject, method: str, headers: dict[str, str], status: int
) -> None:
    client = signed_in(harness, project)
    token = csrf_of(client.get("/console/lookup-tables").text)
    if method == "POST":
        answer = client.post(
            "/console/lookup-tables",
            data={"csrf": token, "name": "T"},
            headers=headers,
            follow_redirects=False,
        )
    else:
        answer = client.get("/console/live/feed", headers=headers, follow_redirects=False)
    assert answer.status_code == status


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/elsewhere"])
def test_sign_in_never_redirects_out_of_the_console(
    harness: Harness, project: NewProject, target: str
) -> None:
    account = project.service_account
    answer = sign_in(harness.client, account.username, account.secret, target)
    assert answer.headers["location"] == "/console/live"


def test_pages_carry_a_strict_content_security_policy(
    harness: Harness, project: NewProject
) -> None:
    page = signed_in(harness, project).get("/console/live")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_sign_out_ends_the_session(harness: Harness, project: NewProject) -> None:
    client = signed_in(harness, project)
    out = post_form(client, "/console/live", "/console/logout")
    assert out.headers["location"] == "/console/login"
    assert client.get("/console/live", follow_redirects=False).status_code == 303


def test_the_project_switcher_lists_the_accounts_projects(harness: Harness) -> None:
    first, second = harness.new_project("First"), harness.new_project("Second")
    both = harness.run(
        create_service_account, harness.store, [first.project_id, second.project_id], "both.sa"
    )
    client = harness.client
    assert sign_in(client, both.username, both.secret).status_code == 303
    settings = client.get("/console/settings").text
    assert 'id="project-switcher"' in settings and first.token in settings
    switched = post_form(
        client,
        "/console/settings",
        "/console/switch",
        project_id=str(second.project_id),
        next="/console/settings",
    )
    assert switched.headers["location"] == "/console/settings"
    assert second.token in client.get("/console/settings").text
    elsewhere = harness.new_project("Elsewhere")
    refused = post_form(
        client, "/console/settings", "/console/switch", project_id=str(elsewhere.project_id)
    )
    assert refused.status_code == 403


def test_a_single_project_account_has_no_switcher(harness: Harness, project: NewProject) -> None:
    page = signed_in(harness, project).get("/console/settings").text
    assert 'id="project-switcher"' not in page


def test_a_new_service_account_secret_is_shown_once_and_works(
    harness: Harness, project: NewProject
) -> None:
    client = signed_in(harness, project)
    made = post_form(
        client, "/console/settings", "/console/settings/service-accounts", username="ci-bot"
    )
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    secret = made.text.split('id="revealed-value">')[1].split("<")[0]
    assert len(secret) == 32
    assert secret not in client.get("/console/settings").text
    api = client.get(
        "/lookup-tables", params={"project_id": project.project_id}, auth=("ci-bot", secret)
    )
    assert api.status_code == 200
    again = post_form(
        client, "/console/settings", "/console/settings/service-accounts", username="ci-bot"
    )
    assert again.status_code == 409


def test_rotating_a_secret_ends_its_sessions_and_the_old_secret(
    harness: Harness, project: NewProject
) -> None:
    client = signed_in(harness, project)
    account = project.service_account
    rotated = post_form(
        client,
        "/console/settings",
        "/console/settings/service-accounts/rotate",
        username=account.username,
    )
    assert rotated.status_code == 200
    secret = rotated.text.split('id="revealed-value">')[1].split("<")[0]
    assert secret != account.secret
    assert client.get("/console/settings", follow_redirects=False).status_code == 303
    auth_old = (account.username, account.secret)
    assert client.get("/lookup-tables", auth=auth_old).status_code == 401
    assert sign_in(client, account.username, secret).status_code == 303


def test_an_account_seeing_more_projects_cannot_be_rotated_from_fewer(harness: Harness) -> None:
    mine, other = harness.new_project("Mine"), harness.new_project("Other")
    shared = harness.run(
        create_service_account, harness.store, [mine.project_id, other.project_id], "shared.sa"
    )
    client = signed_in(harness, mine)
    page = client.get("/console/settings").text
    assert "also in projects you cannot see" in page
    refused = post_form(
        client,
        "/console/settings",
        "/console/settings/service-accounts/rotate",
        username=shared.username,
    )
    assert refused.status_code == 403


def test_rotating_the_api_secret_shows_the_new_one(harness: Harness, project: NewProject) -> None:
    client = signed_in(harness, project)
    rotated = post_form(client, "/console/settings", "/console/settings/api-secret/rotate")
    secret = rotated.text.split('id="revealed-value">')[1].split("<")[0]
    params = {"project_id": project.project_id}
    assert client.get("/lookup-tables", params=params, auth=(secret, "")).status_code == 200
    assert client.get("/lookup-tables", auth=(project.api_secret, "")).status_code == 401
