"""The `trackyard` command: serve, and manage projects, service accounts and lookup tables."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import orjson

from trackyard.auth.secrets import new_username
from trackyard.errors import TrackyardError
from trackyard.service.projects import NewServiceAccount, create_project, create_service_account
from trackyard.settings import Settings
from trackyard.storage.base import Project, Store
from trackyard.storage.open import open_store

T = TypeVar("T")


def settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One `--flag` per Settings field, each also read from its TRACKYARD_* variable."""
    for f in reversed(list(Settings.fields())):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            option = click.option(f"{flag}/--no-{flag[2:]}", default=None, help=f.metadata["help"])
        else:
            option = click.option(flag, type=type(f.default), default=None, help=f.metadata["help"])
        func = option(func)
    return func


def _settings(options: dict[str, Any]) -> Settings:
    try:
        return Settings.from_env(**options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def _run(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = open_store(settings)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


def _emit(as_json: bool, data: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        click.echo(orjson.dumps(data).decode())
    else:
        click.echo("\n".join(lines))


@click.group()
@click.version_option(package_name="trackyard")
def main() -> None:
    """A self-hosted server that speaks Mixpanel's ingestion protocol."""


# serve -----------------------------------------------------------------------


@main.command()
@settings_options
def serve(**options: Any) -> None:
    """Serve the API; create a default project on first start."""
    import uvicorn

    settings = _settings(options)
    created = _run(settings, _ensure_default_project)
    if created is not None:
        click.echo(_project_text(created, first_start=True))
    else:
        projects = _run(settings, lambda store: store.list_projects())
        for project in projects:
            click.echo(f"project {project.id} ({project.name}): token {project.token}")
    scheme = "https" if settings.tls_cert else "http"
    click.echo(f"trackyard serving {settings.db} on {scheme}://{settings.host}:{settings.port}")
    os.environ.update(settings.to_env())
    uvicorn.run(
        "trackyard.http.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        ssl_certfile=settings.tls_cert or None,
        ssl_keyfile=settings.tls_key or None,
    )


async def _ensure_default_project(store: Store) -> dict[str, Any] | None:
    if await store.list_projects():
        return None
    return (await create_project(store, "Default")).as_dict()


# projects --------------------------------------------------------------------


def _project_text(created: dict[str, Any], first_start: bool = False) -> str:
    heading = "Created the default project" if first_start else "Created project"
    account = created["service_account"]
    return "\n".join(
        [
            f"{heading} {created['name']!r}. Secrets are shown once; keep them now.",
            f"  project id:        {created['project_id']}",
            f"  token:             {created['token']}",
            f"  api secret:        {created['api_secret']}",
            f"  service account:   {account['username']}",
            f"  account secret:    {account['secret']}",
        ]
    )


@main.group()
def projects() -> None:
    """Create and list projects."""


@projects.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@settings_options
def projects_create(name: str, as_json: bool, **options: Any) -> None:
    """Create a project with a token, an API secret and a service account."""
    created = _run(_settings(options), lambda store: create_project(store, name)).as_dict()
    _emit(as_json, created, [_project_text(created)])


@projects.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@settings_options
def projects_list(as_json: bool, **options: Any) -> None:
    """List projects with their ids and tokens."""
    found: list[Project] = _run(_settings(options), lambda store: store.list_projects())
    for p in found:
        row = {"project_id": p.id, "name": p.name, "token": p.token}
        _emit(as_json, row, [f"{p.id}\t{p.name}\t{p.token}"])


# service accounts ------------------------------------------------------------


@main.group("service-accounts")
def service_accounts() -> None:
    """Create service accounts (for /import, lookup tables and the read APIs)."""


@service_accounts.command("create")
@click.option(
    "--project",
    "project_ids",
    type=int,
    multiple=True,
    required=True,
    help="Project id the account may act on (repeatable).",
)
@click.option("--username", default=None, help="Defaults to a generated name.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@settings_options
def service_accounts_create(
    project_ids: tuple[int, ...], username: str | None, as_json: bool, **options: Any
) -> None:
    """Create a service account; its secret is shown once."""
    name = username or new_username(f"project-{project_ids[0]}")

    async def work(store: Store) -> NewServiceAccount:
        return await create_service_account(store, list(project_ids), name)

    account = _run_or_fail(_settings(options), work)
    data = {
        "username": account.username,
        "secret": account.secret,
        "project_ids": list(project_ids),
    }
    _emit(as_json, data, [f"username: {name}", f"secret:   {account.secret}  (shown once)"])


# lookup tables ---------------------------------------------------------------


@main.group("lookup-tables")
def lookup_tables() -> None:
    """Create and list lookup tables (Mixpanel creates them in its UI)."""


@lookup_tables.command("create")
@click.argument("name")
@click.option("--project", "project_id", type=int, required=True, help="Project id.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@settings_options
def lookup_tables_create(name: str, project_id: int, as_json: bool, **options: Any) -> None:
    """Create an empty lookup table and print its id; fill it with PUT /lookup-tables/ID."""
    table_id = str(uuid.uuid4())

    async def work(store: Store) -> None:
        if await store.project_by_id(project_id) is None:
            raise click.ClickException(f"project {project_id} does not exist")
        await store.create_lookup_table(project_id, table_id, name)

    _run_or_fail(_settings(options), work)
    _emit(as_json, {"id": table_id, "name": name, "project_id": project_id}, [table_id])


@lookup_tables.command("list")
@click.option("--project", "project_id", type=int, required=True, help="Project id.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@settings_options
def lookup_tables_list(project_id: int, as_json: bool, **options: Any) -> None:
    """List a project's lookup tables."""
    tables = _run(_settings(options), lambda store: store.list_lookup_tables(project_id))
    for t in tables:
        row = {"id": t.id, "name": t.name, "rows": t.row_count, "columns": t.column_count}
        _emit(as_json, row, [f"{t.id}\t{t.name}\t{t.row_count} rows"])


def _run_or_fail(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    try:
        return _run(settings, work)
    except TrackyardError as exc:
        raise click.ClickException(exc.message) from exc


if __name__ == "__main__":
    sys.exit(main())
