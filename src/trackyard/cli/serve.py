"""`trackyard serve` and `trackyard migrate`."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from typing import Any

import click

from trackyard import metrics
from trackyard.cli.admin import project_text
from trackyard.cli.common import load_settings, run_with_store, settings_options
from trackyard.cli.root import main
from trackyard.errors import TrackyardError
from trackyard.service.projects import create_project
from trackyard.settings import Settings
from trackyard.storage.base import Store
from trackyard.storage.open import describe_store, migrate_store


@main.command()
@settings_options
def serve(**options: Any) -> None:
    """Serve the API; create a default project on first start."""
    import uvicorn

    from trackyard.cli.workers import Workers, can_share_port
    from trackyard.http import protocol

    settings = load_settings(options)
    try:
        _greet(settings)
    except TrackyardError as exc:
        # A read-only or full disk: serve anyway, answering 503 until the store opens.
        click.echo(f"warning: {exc.message}; answering 503 until the store can be opened")
    scheme = "https" if settings.tls_cert else "http"
    where = describe_store(settings)
    click.echo(f"trackyard serving {where} on {scheme}://{settings.host}:{settings.port}")
    os.environ.update(settings.to_env())
    metrics_dir = _share_metrics_between_workers(settings.workers)
    server_options: dict[str, Any] = dict(
        app="trackyard.http.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools, with the URL, header and read-time limits it lacks.
        http=protocol.IMPORT_PATH,
        log_level=settings.log_level,
        access_log=False,
        ssl_certfile=settings.tls_cert or None,
        ssl_keyfile=settings.tls_key or None,
    )
    try:
        if settings.workers > 1 and can_share_port():
            sys.exit(Workers(server_options, settings.workers).run())
        uvicorn.run(**server_options, workers=settings.workers)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _share_metrics_between_workers(workers: int) -> str | None:
    """A fresh directory for prometheus_client's multiprocess mode, when there
    are several workers and none was given; the caller removes it at exit."""
    if workers <= 1 or os.environ.get(metrics.MULTIPROCESS_DIR_ENV):
        return None
    path = tempfile.mkdtemp(prefix="trackyard-metrics-")
    # Read by each worker when it imports prometheus_client (they are spawned).
    os.environ[metrics.MULTIPROCESS_DIR_ENV] = path
    return path


def _greet(settings: Settings) -> None:
    created = run_with_store(settings, _ensure_default_project)
    if created is not None:
        click.echo(project_text(created, first_start=True))
        return
    for project in run_with_store(settings, lambda store: store.list_projects()):
        click.echo(f"project {project.id} ({project.name}): token {project.token}")


async def _ensure_default_project(store: Store) -> dict[str, Any] | None:
    if await store.list_projects():
        return None
    return (await create_project(store, "Default")).as_dict()


# migrate ---------------------------------------------------------------------


@main.command()
@settings_options
def migrate(**options: Any) -> None:
    """Bring the store's schema up to date (serve does this too at start)."""
    settings = load_settings(options)
    try:
        before, after = asyncio.run(migrate_store(settings))
    except TrackyardError as exc:
        raise click.ClickException(exc.message) from exc
    where = describe_store(settings)
    if before == after:
        click.echo(f"{where}: schema is up to date (version {after})")
    else:
        click.echo(f"{where}: schema migrated from version {before} to {after}")
