"""Handing a group-commit writer's outcome back to the request awaiting it
(both stores' writers)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol


class Outcome(Protocol):
    future: asyncio.Future[Any]
    result: Any
    error: BaseException | None


def resolve(item: Outcome) -> None:
    """Set the job's result or error on its future, unless the request gave up."""
    if item.future.cancelled():
        return
    if item.error is not None:
        item.future.set_exception(item.error)
    else:
        item.future.set_result(item.result)


def resolve_all(items: Sequence[Outcome]) -> None:
    """`resolve` for each: one wake-up of the loop for a whole group commit."""
    for item in items:
        resolve(item)
