"""Managing projects, service accounts and lookup tables."""

from __future__ import annotations

import uuid
from typing import Any

import click

from trackyard.auth.secrets import new_username
from trackyard.cli.common import emit, load_settings, run_or_fail, run_with_store, settings_options
from trackyard.cli.root import main
from trackyard.service.identity import MODES
from trackyard.service.projects import (
    NewServiceAccount,
    create_project,
    create_service_account,
    rotate_api_secret,
    rotate_service_account_secret,
)
from trackyard.storage.base import Project, Store


def project_text(created: dict[str, Any], first_start: bool = False) -> str:
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


IDENTITY_MODE = click.Choice(MODES)


@projects.command("create")
@click.argument("name")
@click.option(
    "--identity-mode",
    type=IDENTITY_MODE,
    default="simplified",
    show_default=True,
    help="How identity events merge ids (docs/identity.md).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@settings_options
def projects_create(name: str, identity_mode: str, as_json: bool, **options: Any) -> None:
    """Create a project with a token, an API secret and a service account."""
    work = lambda store: create_project(store, name, identity_mode)  # noqa: E731
    created = run_with_store(load_settings(options), work).as_dict()
    emit(as_json, created, [project_text(created)])


@projects.command("set-identity-mode")
@click.argument("project_id", type=int)
@click.argument("mode", type=IDENTITY_MODE)
@settings_options
def projects_set_identity_mode(project_id: int, mode: str, **options: Any) -> None:
    """Switch a project's identity mode; only possible before it has events."""
    run_or_fail(load_settings(options), lambda store: store.set_identity_mode(project_id, mode))
    click.echo(f"project {project_id}: identity mode {mode}")


@projects.command("rotate-secret")
@click.argument("project_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@settings_options
def projects_rotate_secret(project_id: int, as_json: bool, **options: Any) -> None:
    """Give the project a new API secret, shown once; the old one stops working at once."""
    secret = run_or_fail(load_settings(options), lambda store: rotate_api_secret(store, project_id))
    data = {"project_id": project_id, "api_secret": secret}
    emit(as_json, data, [f"api secret: {secret}  (shown once)"])


@projects.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@settings_options
def projects_list(as_json: bool, **options: Any) -> None:
    """List projects with their ids and tokens."""
    found: list[Project] = run_with_store(
        load_settings(options), lambda store: store.list_projects()
    )
    for p in found:
        row = {"project_id": p.id, "name": p.name, "token": p.token}
        emit(as_json, row, [f"{p.id}\t{p.name}\t{p.token}"])


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

    account = run_or_fail(load_settings(options), work)
    data = {
        "username": account.username,
        "secret": account.secret,
        "project_ids": list(project_ids),
    }
    emit(as_json, data, [f"username: {name}", f"secret:   {account.secret}  (shown once)"])


@service_accounts.command("rotate")
@click.argument("username")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@settings_options
def service_accounts_rotate(username: str, as_json: bool, **options: Any) -> None:
    """Give the account a new secret, shown once; the old one stops working at once."""
    account = run_or_fail(
        load_settings(options), lambda store: rotate_service_account_secret(store, username)
    )
    data = {"username": username, "secret": account.secret}
    emit(as_json, data, [f"username: {username}", f"secret:   {account.secret}  (shown once)"])


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

    run_or_fail(load_settings(options), work)
    emit(as_json, {"id": table_id, "name": name, "project_id": project_id}, [table_id])


@lookup_tables.command("list")
@click.option("--project", "project_id", type=int, required=True, help="Project id.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@settings_options
def lookup_tables_list(project_id: int, as_json: bool, **options: Any) -> None:
    """List a project's lookup tables."""
    tables = run_with_store(
        load_settings(options), lambda store: store.list_lookup_tables(project_id)
    )
    for t in tables:
        row = {"id": t.id, "name": t.name, "rows": t.row_count, "columns": t.column_count}
        emit(as_json, row, [f"{t.id}\t{t.name}\t{t.row_count} rows"])
