"""The building blocks of SQL generation: typed SQL values and parameters.

Mixpanel's operators depend on the runtime type of their operands, and one
SQL expression has one type. So a compiled sub-expression is a `Typed`: one
nullable SQL expression per kind of value, of which at most one is non-NULL
on any row; all NULL means `undefined`. Kinds an expression can never have
are `None` here and cost nothing in the generated SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SqlType = Literal["float", "text", "bool", "json"]
_NO_CONSTANT = object()


class CannotPushDown(Exception):
    """Raised inside the generator when a construct has no exact SQL form."""


@dataclass(frozen=True, slots=True)
class Typed:
    num: str | None = None  # double precision (PostgreSQL) / REAL (SQLite)
    text: str | None = None
    flag: str | None = None  # boolean (PostgreSQL) / 0 or 1 (SQLite)
    null: str | None = None  # non-NULL exactly when the value is JSON null
    lst: str | None = None  # a JSON array: jsonb (PostgreSQL) / JSON text (SQLite)
    obj: str | None = None  # a JSON object, as lst
    dt: str | None = None  # a datetime, as milliseconds since the epoch
    # SQL that is true exactly when the value is defined, when that is
    # cheaper than testing every payload (a property: "key exists").
    present: str | None = None
    maybe_undefined: bool = True
    # The Python value, when the expression reads nothing from the row.
    constant: Any = field(default=_NO_CONSTANT, compare=False)

    @property
    def is_constant(self) -> bool:
        return self.constant is not _NO_CONSTANT

    def payloads(self) -> list[str]:
        found = (self.num, self.text, self.flag, self.null, self.lst, self.obj, self.dt)
        return [sql for sql in found if sql is not None]


def defined_sql(value: Typed) -> str:
    """SQL true exactly when `value` is not undefined (never NULL)."""
    if not value.maybe_undefined:
        return "TRUE"
    if value.present is not None:
        return value.present
    payloads = value.payloads()
    if not payloads:
        return "FALSE"
    return "(" + " OR ".join(f"{sql} IS NOT NULL" for sql in payloads) + ")"


def coalesce(parts: list[str]) -> str | None:
    """The first non-NULL of `parts` (at most one is non-NULL on a row)."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"


class Params:
    """Bound parameters by name; `placeholder` is the dialect's spelling.

    Names are `where_0`, `where_1`, ...: callers merge them into the
    parameters of the query they embed the condition in.
    """

    def __init__(self, placeholder: Any) -> None:
        self.values: dict[str, Any] = {}
        self._placeholder = placeholder

    def add(self, value: Any, sql_type: SqlType) -> str:
        name = f"where_{len(self.values)}"
        self.values[name] = value
        rendered: str = self._placeholder(name, sql_type)
        return rendered

    def snapshot(self) -> dict[str, Any]:
        return dict(self.values)

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.values = snapshot
