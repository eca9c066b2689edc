"""Applying profile operations to a profile's properties: pure, no storage.

Semantics follow mixpanel-behavior.md §7.3; the choices Mixpanel leaves open
(order within one object, type conflicts) are in docs/behaviour.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from trackyard.validate.profiles import ProfileUpdate

# Operations that create a profile when it does not exist yet.
_CREATING = frozenset({"$set", "$set_once", "$add", "$append", "$union"})


class OperationConflict(Exception):
    """An operation does not fit the stored value (e.g. $add on a string)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def mixpanel_datetime(time_ms: int) -> str:
    """Profile dates are ISO strings without a zone, in UTC (§15)."""
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def apply_update(
    current: dict[str, Any] | None, update: ProfileUpdate, max_properties: int
) -> dict[str, Any] | None:
    """The profile after `update`; None when it is deleted or never existed.

    All operations of the update apply, or none: a conflict raises before
    anything is returned, and `current` is never modified.
    """
    names = {op for op, _ in update.operations}
    if current is None and not names & _CREATING:
        return None  # $unset/$remove/$delete on a missing profile change nothing.
    props = dict(current or {})
    for op, value in update.operations:
        if op == "$delete":
            return None
        _OPERATIONS[op](props, value)
    if update.coordinates is not None:
        props["$latitude"], props["$longitude"] = update.coordinates
    if not update.ignore_time and names & _CREATING:
        props["$last_seen"] = mixpanel_datetime(update.time_ms)
    if len(props) > max_properties:
        raise OperationConflict("$set", f"profile would have more than {max_properties} properties")
    return props


def _set(props: dict[str, Any], values: dict[str, Any]) -> None:
    props.update(values)


def _set_once(props: dict[str, Any], values: dict[str, Any]) -> None:
    for name, value in values.items():
        props.setdefault(name, value)


def _add(props: dict[str, Any], amounts: dict[str, Any]) -> None:
    for name, amount in amounts.items():
        current = props.get(name, 0)
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise OperationConflict("$add", f"$add: property {name!r} holds a non-numeric value")
        props[name] = current + amount


def _append(props: dict[str, Any], values: dict[str, Any]) -> None:
    for name, value in values.items():
        props[name] = [*_list_value(props, name, "$append"), value]


def _union(props: dict[str, Any], values: dict[str, list[Any]]) -> None:
    for name, items in values.items():
        merged = list(_list_value(props, name, "$union"))
        for item in items:
            if item not in merged:
                merged.append(item)
        props[name] = merged


def _remove(props: dict[str, Any], values: dict[str, Any]) -> None:
    for name, value in values.items():
        current = props.get(name)
        if isinstance(current, list):
            props[name] = [item for item in current if item != value]


def _unset(props: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        props.pop(name, None)


def _list_value(props: dict[str, Any], name: str, op: str) -> list[Any]:
    current = props.get(name)
    if current is None:
        return []
    if not isinstance(current, list):
        raise OperationConflict(op, f"{op}: property {name!r} is not a list")
    return current


_OPERATIONS: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "$set": _set,
    "$set_once": _set_once,
    "$add": _add,
    "$append": _append,
    "$union": _union,
    "$remove": _remove,
    "$unset": _unset,
}
