"""What differs between SQLite (JSON1) and PostgreSQL (jsonb) in generated SQL.

Each dialect reads a JSON value into a `Typed` and spells the few functions
the two engines lack in common. Both keep to the value rules of values.py:
numbers are doubles, out-of-range numbers are undefined, and nothing here can
raise at run time (PostgreSQL casts sit behind CASE guards, since `AND` does
not promise an order of evaluation there).
"""

from __future__ import annotations

from typing import Literal

from trackyard.query import values as v
from trackyard.query.sql_types import Params, SqlType, Typed

_TWO_POW_52 = 4503599627370496.0  # from here on every double is an integer


class Dialect:
    name: str
    # How deep generated SQL may nest (sql.sql_nesting); None: no limit met.
    max_nesting: int | None = None

    def placeholder(self, name: str, sql_type: SqlType) -> str:
        raise NotImplementedError

    def property_value(self, column: str, key: str, params: Params) -> Typed:
        """`column`'s top-level member `key`."""
        raise NotImplementedError

    def elements(self, array: str, alias: str, params: Params) -> tuple[str, Typed]:
        """A FROM item over the elements of a JSON array, and one element."""
        raise NotImplementedError

    def binary_text(self, text: str) -> str:
        """`text` under code-point order, whatever the column's collation."""
        raise NotImplementedError

    def contains(self, haystack: str, needle: str) -> str:
        raise NotImplementedError

    def floor(self, number: str, params: Params) -> str:
        raise NotImplementedError

    def trunc(self, number: str, params: Params) -> str:
        raise NotImplementedError

    def decimal_to_number(self, text: str, params: Params) -> str:
        """values.parse_decimal in SQL: NULL unless `text` is a decimal in range."""
        raise NotImplementedError

    def time_to_number(self, column: str) -> str:
        raise NotImplementedError


def _in_range(number: str, params: Params) -> str:
    low = params.add(v.SMALLEST, "float")
    high = params.add(v.LARGEST, "float")
    return f"({number} = 0 OR abs({number}) BETWEEN {low} AND {high})"


class SQLiteDialect(Dialect):
    """SQLite's JSON1 over a TEXT column of JSON; parameters as `:name`."""

    name = "sqlite"
    # SQLite's parser stack overflowed on generated SQL nested 30-36 levels
    # deep (parentheses and CASE; a `where` nested 14 deep compiles to that),
    # and the contract test's fuzzing found it: deeper conditions are checked
    # per row instead. Everyday conditions nest 5-12 levels.
    max_nesting = 20

    def placeholder(self, name: str, sql_type: SqlType) -> str:
        return f":{name}"

    def property_value(self, column: str, key: str, params: Params) -> Typed:
        if _path_safe(key):
            path = params.add(f'$."{key}"', "text")
            return self._typed(
                f"json_type({column}, {path})", f"json_extract({column}, {path})", params
            )
        # A JSON path cannot spell every key (quotes, backslashes, and keys
        # stored with escapes); json_each decodes keys, so it always can.
        name = params.add(key, "text")
        where = f"FROM json_each({column}) WHERE key = {name} LIMIT 1"
        kind = f"(SELECT type {where})"
        atom = f"(SELECT CASE WHEN type IN ('array', 'object') THEN value ELSE atom END {where})"
        return self._typed(kind, atom, params)

    def elements(self, array: str, alias: str, params: Params) -> tuple[str, Typed]:
        atom = f"CASE WHEN {alias}.type IN ('array', 'object') THEN {alias}.value ELSE {alias}.atom END"
        return f"json_each({array}) AS {alias}", self._typed(f"{alias}.type", atom, params)

    def _typed(self, kind: str, atom: str, params: Params) -> Typed:
        """A JSON value from its json_type and its json_extract."""
        number = f"CAST({atom} AS REAL)"
        return Typed(
            num=f"CASE WHEN {kind} IN ('integer', 'real') AND {_in_range(number, params)} THEN {number} END",
            text=f"CASE WHEN {kind} = 'text' THEN {atom} END",
            flag=f"CASE {kind} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END",
            null=f"CASE WHEN {kind} = 'null' THEN 1 END",
            lst=f"CASE WHEN {kind} = 'array' THEN {atom} END",
            obj=f"CASE WHEN {kind} = 'object' THEN {atom} END",
            present=f"({kind} IS NOT NULL)",
        )

    def binary_text(self, text: str) -> str:
        return f"({text} COLLATE BINARY)"

    def contains(self, haystack: str, needle: str) -> str:
        return f"(instr({haystack}, {needle}) > 0)"

    def floor(self, number: str, params: Params) -> str:
        # Portable: SQLite's floor() exists only in builds with math functions.
        limit = params.add(_TWO_POW_52, "float")
        whole = f"CAST({number} AS INTEGER)"
        return f"(CASE WHEN abs({number}) >= {limit} THEN {number} ELSE CAST({whole} AS REAL) - ({number} < {whole}) END)"

    def trunc(self, number: str, params: Params) -> str:
        limit = params.add(_TWO_POW_52, "float")
        return f"(CASE WHEN abs({number}) >= {limit} THEN {number} ELSE CAST(CAST({number} AS INTEGER) AS REAL) END)"

    def decimal_to_number(self, text: str, params: Params) -> str:
        # SQLite has no regular expressions: GLOB limits the characters,
        # json_valid checks JSON number syntax, and the NOT GLOBs refuse the
        # JSON5 spellings newer SQLite versions would let through. CAST is
        # not correctly rounded in SQLite; json_extract is.
        checks = [
            f"length({text}) BETWEEN 1 AND 255",
            f"{text} NOT GLOB '*[^0-9eE.+-]*'",
            f"json_valid({text})",
            f"json_type({text}) IN ('integer', 'real')",
            *(f"{text} NOT GLOB '{p}'" for p in ("+*", ".*", "-.*", "*.", "*.[eE]*")),
            f"{text} NOT GLOB '*[eE]*[0-9][0-9][0-9][0-9]*'",
        ]
        number = f"CAST(json_extract({text}, '$') AS REAL)"
        mantissa = (
            f"(CASE WHEN instr({text}, 'e') > 0 THEN substr({text}, 1, instr({text}, 'e') - 1)"
            f" WHEN instr({text}, 'E') > 0 THEN substr({text}, 1, instr({text}, 'E') - 1) ELSE {text} END)"
        )
        low = params.add(v.SMALLEST, "float")
        high = params.add(v.LARGEST, "float")
        # A non-zero decimal too small for a double reads as 0; it is out of range.
        in_range = f"(({number} = 0 AND {mantissa} NOT GLOB '*[1-9]*') OR abs({number}) BETWEEN {low} AND {high})"
        return f"CASE WHEN {' AND '.join(checks)} THEN CASE WHEN {in_range} THEN {number} END END"

    def time_to_number(self, column: str) -> str:
        return f"CAST({column} AS REAL)"


def _path_safe(key: str) -> bool:
    """Keys a `$."key"` path finds as written: printable ASCII, no quote or
    backslash (orjson, which writes trackyard's JSON, escapes nothing else)."""
    return all(" " <= char <= "~" and char not in '"\\' for char in key)


_PG_TYPES: dict[SqlType, str] = {
    "float": "float8",
    "text": "text",
    "bool": "boolean",
    "json": "jsonb",
}
# values.parse_decimal's syntax; [.] rather than \. so no backslash escaping
# question arises in the literal.
_PG_DECIMAL = "^-?(0|[1-9][0-9]*)([.][0-9]+)?([eE][+-]?[0-9]{1,3})?$"


class PostgresDialect(Dialect):
    """PostgreSQL over a jsonb expression; parameters as `%(name)s` (psycopg)."""

    name = "postgres"

    def __init__(self, paramstyle: Literal["pyformat", "named"] = "pyformat") -> None:
        self.paramstyle = paramstyle

    def placeholder(self, name: str, sql_type: SqlType) -> str:
        spelled = f"%({name})s" if self.paramstyle == "pyformat" else f":{name}"
        return f"{spelled}::{_PG_TYPES[sql_type]}"

    def property_value(self, column: str, key: str, params: Params) -> Typed:
        return self._typed(f"({column} -> {params.add(key, 'text')})")

    def elements(self, array: str, alias: str, params: Params) -> tuple[str, Typed]:
        return f"jsonb_array_elements({array}) AS {alias}(v)", self._typed(f"{alias}.v")

    def _typed(self, value: str) -> Typed:
        kind = f"jsonb_typeof({value})"
        exact = f"({value})::numeric"
        # Range-checked as numeric first: casting 1e400 to float8 raises.
        in_range = f"{exact} = 0 OR abs({exact}) BETWEEN 1e-307 AND 1e308"
        return Typed(
            num=f"CASE WHEN {kind} = 'number' THEN CASE WHEN {in_range} THEN ({value})::float8 END END",
            text=f"CASE WHEN {kind} = 'string' THEN {value} #>> '{{}}' END",
            flag=f"CASE WHEN {kind} = 'boolean' THEN ({value})::boolean END",
            null=f"CASE WHEN {kind} = 'null' THEN TRUE END",
            lst=f"CASE WHEN {kind} = 'array' THEN {value} END",
            obj=f"CASE WHEN {kind} = 'object' THEN {value} END",
            present=f"({value} IS NOT NULL)",
        )

    def binary_text(self, text: str) -> str:
        return f'({text} COLLATE "C")'

    def contains(self, haystack: str, needle: str) -> str:
        return f'(strpos({haystack} COLLATE "C", {needle}) > 0)'

    def floor(self, number: str, params: Params) -> str:
        return f"floor({number})"

    def trunc(self, number: str, params: Params) -> str:
        return f"trunc({number})"

    def decimal_to_number(self, text: str, params: Params) -> str:
        exact = f"({text})::numeric"
        in_range = f"{exact} = 0 OR abs({exact}) BETWEEN 1e-307 AND 1e308"
        shape = f"{text} ~ '{_PG_DECIMAL}' AND length({text}) <= 255"
        return f"CASE WHEN {shape} THEN CASE WHEN {in_range} THEN ({text})::float8 END END"

    def time_to_number(self, column: str) -> str:
        return f"({column})::float8"


SQLITE = SQLiteDialect()
POSTGRES = PostgresDialect()
