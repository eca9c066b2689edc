"""The `trackyard` command group; subcommands register themselves on it."""

from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="trackyard")
def main() -> None:
    """A self-hosted server that speaks Mixpanel's ingestion protocol."""
