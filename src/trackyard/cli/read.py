"""`trackyard export` and `trackyard profiles export`: the read APIs, from the shell.

Both write NDJSON to stdout and draw a progress bar on stderr when it is a
terminal: by day of the range for events, by profile for profiles.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

import click
import orjson

from trackyard.cli.common import load_settings, run_or_fail, settings_options
from trackyard.cli.root import main
from trackyard.errors import BadRequest, NotFound
from trackyard.service.export import DAY_MS, export_lines, export_query
from trackyard.service.profile_query import PAGE_SIZE, new_session_id, profile_query
from trackyard.storage.base import ExportQuery, Store


def _project_option(func: Any) -> Any:
    return click.option(
        "--project",
        "project_id",
        type=int,
        default=None,
        help="Project id (default: the only project).",
    )(func)


async def _project_id(store: Store, chosen: int | None) -> int:
    found = await store.list_projects()
    if chosen is None:
        if len(found) != 1:
            raise NotFound("there are several projects: choose one with --project")
        return found[0].id
    if chosen not in {p.id for p in found}:
        raise NotFound(f"project {chosen} does not exist")
    return chosen


@main.command("export")
@_project_option
@click.option("--from", "from_date", required=True, help="First day, yyyy-mm-dd (UTC).")
@click.option("--to", "to_date", required=True, help="Last day, yyyy-mm-dd (UTC), inclusive.")
@click.option("--event", "events", multiple=True, help="Only this event (repeatable).")
@click.option("--where", default=None, help="A segmentation expression.")
@click.option("--limit", type=int, default=None, help="At most this many events.")
@click.option("--time-in-ms", is_flag=True, help="`time` in milliseconds, not seconds.")
@settings_options
def export(
    project_id: int | None,
    from_date: str,
    to_date: str,
    events: tuple[str, ...],
    where: str | None,
    limit: int | None,
    time_in_ms: bool,
    **options: Any,
) -> None:
    """Raw events as NDJSON on stdout, as GET /api/2.0/export gives them."""
    params = {"from_date": from_date, "to_date": to_date, "where": where or ""}
    if events:
        params["event"] = orjson.dumps(list(events)).decode()
    if limit is not None:
        params["limit"] = str(limit)
    if time_in_ms:
        params["time_in_ms"] = "true"
    query = _checked(lambda: export_query(params))
    out = sys.stdout.buffer

    async def work(store: Store) -> None:
        pid = await _project_id(store, project_id)
        days = list(_days(query))
        with click.progressbar(days, label="exporting", file=sys.stderr) as bar:
            left = query.limit
            for day in bar:
                left = await _write_day(store, pid, dataclasses.replace(day, limit=left), out)
                if left == 0:
                    break

    run_or_fail(load_settings(options), work)


def _days(query: ExportQuery) -> Iterator[ExportQuery]:
    for start in range(query.from_ms, query.to_ms, DAY_MS):
        yield dataclasses.replace(query, from_ms=start, to_ms=min(start + DAY_MS, query.to_ms))


async def _write_day(store: Store, project_id: int, day: ExportQuery, out: BinaryIO) -> int | None:
    written = 0
    async for chunk in export_lines(store, project_id, day):
        out.write(chunk)
        written += chunk.count(b"\n")
    return None if day.limit is None else day.limit - written


@main.group()
def profiles() -> None:
    """Read user and group profiles."""


@profiles.command("export")
@_project_option
@click.option("--where", default=None, help="A segmentation expression over profile properties.")
@click.option("--group", "group_key", default=None, help="Group profiles of this group key.")
@settings_options
def profiles_export(
    project_id: int | None, where: str | None, group_key: str | None, **options: Any
) -> None:
    """Profiles as NDJSON on stdout, as the engage query gives them."""
    params = {"where": where or "", "data_group_id": group_key or ""}
    query = _checked(lambda: profile_query(params))
    out = sys.stdout.buffer

    async def work(store: Store) -> None:
        pid = await _project_id(store, project_id)
        session = new_session_id()
        total = await store.snapshot_profiles(pid, query, session)
        with click.progressbar(length=total, label="exporting", file=sys.stderr) as bar:
            for offset in range(0, total, PAGE_SIZE):
                page = await store.profile_page(pid, session, offset, PAGE_SIZE)
                for distinct_id, props in page.rows if page else []:
                    out.write(
                        orjson.dumps({"$distinct_id": distinct_id, "$properties": props}) + b"\n"
                    )
                bar.update(PAGE_SIZE)

    run_or_fail(load_settings(options), work)


def _checked(build: Any) -> Any:
    try:
        return build()
    except BadRequest as exc:
        raise click.UsageError(exc.message) from exc
