"""The `trackyard` command: serve, migrate, manage projects, export data."""

from trackyard.cli import admin, read, serve  # noqa: F401  (they register their commands)
from trackyard.cli.root import main

__all__ = ["main"]
