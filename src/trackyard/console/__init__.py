"""The web console at /console: server-rendered pages over the same store and
services as the APIs (docs/console.md)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from trackyard.console import insights, live, lookup, profiles, settings_page, signin, static

GET, POST = ["GET"], ["POST"]


def console_routes() -> list[BaseRoute]:
    return [
        Route("/console", signin.home, methods=GET),
        Route("/console/login", signin.signin_page, methods=GET),
        Route("/console/login", signin.signin, methods=POST),
        Route("/console/logout", signin.signout, methods=POST),
        Route("/console/switch", signin.switch_project, methods=POST),
        Route("/console/live", live.live_page, methods=GET),
        Route("/console/live/feed", live.live_feed, methods=GET),
        Route("/console/insights", insights.insights_page, methods=GET),
        Route("/console/profiles", profiles.profiles_page, methods=GET),
        Route("/console/profile", profiles.profile_page, methods=GET),
        Route("/console/groups", profiles.groups_page, methods=GET),
        Route("/console/group", profiles.group_page, methods=GET),
        Route("/console/lookup-tables", lookup.tables_page, methods=GET),
        Route("/console/lookup-tables", lookup.create_table, methods=POST),
        Route("/console/lookup-tables/{table_id}", lookup.table_page, methods=GET),
        Route("/console/lookup-tables/{table_id}/upload", lookup.upload_csv, methods=POST),
        Route("/console/settings", settings_page.settings_page, methods=GET),
        Route("/console/settings/service-accounts", settings_page.create_account, methods=POST),
        Route(
            "/console/settings/service-accounts/rotate", settings_page.rotate_account, methods=POST
        ),
        Route(
            "/console/settings/api-secret/rotate",
            settings_page.rotate_project_secret,
            methods=POST,
        ),
        Route("/console/static/{name}", static.own_file, methods=GET),
        Route("/console/assets/{name}", static.npm_file, methods=GET),
    ]
