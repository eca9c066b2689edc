"""What every `trackyard` command shares: settings flags, a store to work on, output."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import orjson

from trackyard.errors import TrackyardError
from trackyard.settings import Settings
from trackyard.storage.base import Store
from trackyard.storage.open import check_store_setting, open_store

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


def load_settings(options: dict[str, Any]) -> Settings:
    try:
        settings = Settings.from_env(**options)
        check_store_setting(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    return settings


def run_with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store the settings name, run `work` on it, close it."""

    async def main() -> T:
        store = open_store(settings)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


def emit(as_json: bool, data: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        click.echo(orjson.dumps(data).decode())
    else:
        click.echo("\n".join(lines))


def run_or_fail(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    try:
        return run_with_store(settings, work)
    except TrackyardError as exc:
        raise click.ClickException(exc.message) from exc
