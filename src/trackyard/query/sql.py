"""Segmentation expressions as SQL `WHERE` conditions, for SQLite and PostgreSQL.

`to_sql` returns a condition that keeps exactly the rows `evaluate.matches`
keeps, with every literal bound as a parameter, or None when some construct
has no exact SQL form (see docs/segmentation-expressions.md, "What runs in
the database"). `split_where` pushes down the conjuncts of a top-level `and`
that can be, leaving the rest for the caller to check per row.

Sub-expressions that read nothing from the row are computed here, in Python,
and bound as one parameter: the engines then never fold a constant that could
raise (PostgreSQL plans bound parameters as constants).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from trackyard.query import ast
from trackyard.query import values as v
from trackyard.query.evaluate import evaluate
from trackyard.query.sql_dialects import POSTGRES, SQLITE, Dialect
from trackyard.query.sql_types import CannotPushDown, Params, Typed, coalesce, defined_sql

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Columns",
    "PushDown",
    "SqlFilter",
    "SqlValue",
    "split_where",
    "to_sql",
    "to_sql_value",
]

# Past this the SQL would cost more to parse than the rows cost to check.
MAX_SQL_LENGTH = 200_000
# What raises a nesting level of SQL: a parenthesis, a CASE; string literals skipped.
_NESTING_TOKENS = re.compile(r"'(?:[^']|'')*'|\(|\)|\bCASE\b|\bEND\b")


def sql_nesting(sql: str) -> int:
    """How deep `sql`'s parentheses and CASE ... END blocks nest."""
    depth = deepest = 0
    for token in _NESTING_TOKENS.findall(sql):
        if token in ("(", "CASE"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (")", "END"):
            depth -= 1
    return deepest


@dataclass(frozen=True, slots=True)
class Columns:
    """SQL expressions for what a row offers. `properties` is JSON text in
    SQLite and jsonb in PostgreSQL (write `properties::jsonb` for a json
    column); absent columns read as undefined."""

    properties: str
    event: str | None = None
    time_ms: str | None = None
    user: str | None = None


@dataclass(frozen=True, slots=True)
class SqlFilter:
    sql: str
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PushDown:
    """`filter` for the database (None: nothing) and `residual` to check per
    row on what it returns (None: nothing left)."""

    filter: SqlFilter | None
    residual: ast.Expr | None


def to_sql(expr: ast.Expr, dialect: Dialect, columns: Columns) -> SqlFilter | None:
    """An exact SQL condition for `where` expression `expr`, or None."""
    params = Params(dialect.placeholder)
    try:
        sql = _Compiler(dialect, columns, params).top_condition(expr)
    except CannotPushDown:
        return None
    return SqlFilter(sql, params.values)


@dataclass(frozen=True, slots=True)
class SqlValue:
    """An expression's value as one SQL expression per kind (see `Typed`);
    for select lists and for tests that compare values, not just filters."""

    typed: Typed
    params: dict[str, Any]


def to_sql_value(expr: ast.Expr, dialect: Dialect, columns: Columns) -> SqlValue | None:
    params = Params(dialect.placeholder)
    try:
        typed = _Compiler(dialect, columns, params).compile(expr)
    except CannotPushDown:
        return None
    return SqlValue(typed, params.values)


def split_where(expr: ast.Expr, dialect: Dialect, columns: Columns) -> PushDown:
    conjuncts = expr.operands if isinstance(expr, ast.Logical) and expr.op == "and" else (expr,)
    params = Params(dialect.placeholder)
    compiler = _Compiler(dialect, columns, params)
    pushed: list[str] = []
    kept: list[ast.Expr] = []
    for conjunct in conjuncts:
        before = params.snapshot()
        try:
            pushed.append(compiler.top_condition(conjunct))
        except CannotPushDown:
            params.restore(before)
            kept.append(conjunct)
    sql_filter = SqlFilter(" AND ".join(pushed), params.values) if pushed else None
    residual = None if not kept else kept[0] if len(kept) == 1 else ast.Logical("and", tuple(kept))
    return PushDown(sql_filter, residual)


class _Compiler:
    def __init__(self, dialect: Dialect, columns: Columns, params: Params) -> None:
        self.dialect = dialect
        self.columns = columns
        self.params = params
        self.aliases = 0

    def condition(self, expr: ast.Expr) -> str:
        return self.truthy(self.compile(expr))

    def top_condition(self, expr: ast.Expr) -> str:
        """`condition`, refused when the database could not parse it so deep."""
        sql = self.condition(expr)
        limit = self.dialect.max_nesting
        if limit is not None and sql_nesting(sql) > limit:
            raise CannotPushDown
        return sql

    def compile(self, expr: ast.Expr) -> Typed:
        if ast.is_constant(expr):
            return self.constant(evaluate(expr))
        typed = _NODES[type(expr)](self, expr)
        if sum(len(sql) for sql in typed.payloads()) > MAX_SQL_LENGTH:
            raise CannotPushDown
        return typed

    # -- values ---------------------------------------------------------------

    def constant(self, value: v.Value) -> Typed:
        kind = v.kind_of(value)
        add = self.params.add
        known = {"maybe_undefined": False, "constant": value}
        if kind is v.Kind.UNDEFINED:
            return Typed(constant=value)
        if kind is v.Kind.NULL:
            return Typed(null="TRUE", **known)
        if kind is v.Kind.BOOLEAN:
            return Typed(flag=add(value, "bool"), **known)
        if kind is v.Kind.NUMBER:
            return Typed(num=add(value, "float"), **known)
        if kind is v.Kind.STRING:
            return Typed(text=add(value, "text"), **known)
        if kind is v.Kind.DATETIME:
            return Typed(dt=add(value.ms, "float"), **known)
        payload = add(json.dumps(value), "json")
        return Typed(lst=payload, **known) if kind is v.Kind.LIST else Typed(obj=payload, **known)

    def property(self, expr: ast.Property) -> Typed:
        column = self.columns.properties if expr.source == "properties" else self.columns.user
        if column is None:
            return Typed()
        return self.dialect.property_value(column, expr.name, self.params)

    def event(self, expr: ast.EventRef) -> Typed:
        if expr.field == "name":
            return Typed(text=self.columns.event) if self.columns.event else Typed()
        column = self.columns.time_ms
        return Typed(dt=self.dialect.time_to_number(column)) if column else Typed()

    # -- truth and logic --------------------------------------------------------

    def truthy(self, value: Typed) -> str:
        """values.to_boolean as a never-NULL SQL condition."""
        if (
            value.flag is not None
            and not value.maybe_undefined
            and value.payloads() == [value.flag]
        ):
            return value.flag
        parts = []
        if value.flag is not None:
            parts.append(value.flag)
        if value.num is not None:
            parts.append(f"({value.num} <> 0)")
        if value.text is not None:
            parts.append(f"({value.text} <> '' AND {value.text} <> 'false')")
        always = [sql for sql in (value.lst, value.obj, value.dt) if sql is not None]
        if always:
            parts.append(
                f"CASE WHEN {' OR '.join(f'{sql} IS NOT NULL' for sql in always)} THEN TRUE END"
            )
        return f"COALESCE({', '.join(parts)}, FALSE)" if parts else "FALSE"

    def logical(self, expr: ast.Logical) -> Typed:
        joiner = " AND " if expr.op == "and" else " OR "
        truths = [self.condition(operand) for operand in expr.operands]
        return Typed(flag=f"({joiner.join(truths)})", maybe_undefined=False)

    def negation(self, expr: ast.Not) -> Typed:
        operand = self.compile(expr.operand)
        branches = []
        if operand.flag is not None:
            branches.append(f"WHEN {operand.flag} IS NOT NULL THEN NOT {operand.flag}")
        if operand.maybe_undefined:
            branches.append(f"WHEN NOT {defined_sql(operand)} THEN TRUE")
        if not branches:
            return Typed()
        return Typed(flag=f"(CASE {' '.join(branches)} END)")

    # -- comparisons ------------------------------------------------------------

    def binary(self, expr: ast.Binary) -> Typed:
        left, right = self.compile(expr.left), self.compile(expr.right)
        if expr.op in ("==", "!="):
            equal = self.equal(left, right)
            return Typed(flag=equal if expr.op == "==" else f"(NOT {equal})", maybe_undefined=False)
        if expr.op == "in":
            return self.contains(left, right)
        if expr.op in ("<", "<=", ">", ">="):
            return self.compare(expr.op, left, right)
        return self.arithmetic(expr.op, left, right)

    def equal(self, left: Typed, right: Typed) -> str:
        """values.equal as a never-NULL condition."""
        if (left.lst and right.lst) or (left.obj and right.obj):
            raise CannotPushDown  # deep JSON equality has no portable SQL form
        terms = [f"COALESCE({a} = {b}, FALSE)" for a, b in self.pairs(left, right, ordered=False)]
        if left.null and right.null:
            terms.append(f"({left.null} IS NOT NULL AND {right.null} IS NOT NULL)")
        if left.maybe_undefined and right.maybe_undefined:
            terms.append(f"(NOT {defined_sql(left)} AND NOT {defined_sql(right)})")
        return f"({' OR '.join(terms)})" if terms else "FALSE"

    def pairs(self, left: Typed, right: Typed, ordered: bool) -> list[tuple[str, str]]:
        """Same-kind payload pairs to compare, text in code-point order and a
        datetime against a string read as a date; booleans only for equality."""
        found = []
        if left.num and right.num:
            found.append((left.num, right.num))
        if left.text and right.text:
            found.append((self.dialect.binary_text(left.text), right.text))
        if left.flag and right.flag and not ordered:
            found.append((left.flag, right.flag))
        if left.dt and right.dt:
            found.append((left.dt, right.dt))
        if left.dt and right.text:
            found.append((left.dt, self.date_of(right)))
        if left.text and right.dt:
            found.append((self.date_of(left), right.dt))
        return found

    def date_of(self, value: Typed) -> str:
        """A constant string as a datetime (NULL if it is not a date)."""
        if not value.is_constant:
            raise CannotPushDown  # parsing dates in SQL is not done here
        parsed = v.parse_datetime(value.constant)
        return "NULL" if parsed is v.UNDEFINED else self.params.add(parsed.ms, "float")

    def compare(self, op: str, left: Typed, right: Typed) -> Typed:
        terms = [f"({a} {op} {b})" for a, b in self.pairs(left, right, ordered=True)]
        return Typed(flag=coalesce(terms)) if terms else Typed()

    def contains(self, needle: Typed, haystack: Typed) -> Typed:
        if isinstance(haystack.constant, list):
            return self.member_of_constant(needle, haystack.constant)
        terms = []
        if needle.text and haystack.text:
            terms.append(self.dialect.contains(haystack.text, needle.text))
        if haystack.lst:
            terms.append(self.member_of_array(needle, haystack.lst))
        return Typed(flag=coalesce(terms)) if terms else Typed()

    def member_of_constant(self, needle: Typed, items: list[Any]) -> Typed:
        """`x in [literal, ...]`: one SQL IN per kind of item."""
        terms = []
        for kind, payload in ((bool, needle.flag), (float, needle.num), (str, needle.text)):
            same = [item for item in items if type(item) is kind]
            if payload and same:
                sql_type = {bool: "bool", float: "float", str: "text"}[kind]
                listed = ", ".join(self.params.add(item, sql_type) for item in same)  # type: ignore[arg-type]
                target = self.dialect.binary_text(payload) if kind is str else payload
                terms.append(f"COALESCE({target} IN ({listed}), FALSE)")
        dates = [v.parse_datetime(item) for item in items if isinstance(item, str)]
        dates = [date for date in dates if date is not v.UNDEFINED]
        if needle.dt and dates:
            listed = ", ".join(self.params.add(date.ms, "float") for date in dates)
            terms.append(f"COALESCE({needle.dt} IN ({listed}), FALSE)")
        body = f"({' OR '.join(terms)})" if terms else "FALSE"
        if not needle.maybe_undefined:
            return Typed(flag=body, maybe_undefined=False)
        return Typed(flag=f"CASE WHEN {defined_sql(needle)} THEN {body} END")

    def member_of_array(self, needle: Typed, array: str) -> str:
        if needle.lst or needle.obj or needle.dt:
            raise CannotPushDown  # would need deep equality or date parsing per element
        self.aliases += 1
        source, element = self.dialect.elements(array, f"e{self.aliases}", self.params)
        match = self.equal(dataclasses.replace(needle, maybe_undefined=False), element)
        return f"CASE WHEN {array} IS NOT NULL AND {defined_sql(needle)} THEN EXISTS (SELECT 1 FROM {source} WHERE {match}) END"

    # -- arithmetic -------------------------------------------------------------

    def arithmetic(self, op: str, left: Typed, right: Typed) -> Typed:
        text = f"({left.text} || {right.text})" if op == "+" and left.text and right.text else None
        if not (left.num and right.num):
            return Typed(text=text)
        a, b = left.num, right.num
        if op in ("+", "-"):
            limit = self.params.add(v.SUM_LIMIT, "float")
            number = f"CASE WHEN abs({a}) <= {limit} AND abs({b}) <= {limit} THEN {a} {op} {b} END"
            return Typed(num=number, text=text)
        guard = f"{self.product_operand(a)} AND {self.product_operand(b)}"
        if op == "*":
            return Typed(num=f"CASE WHEN {guard} THEN {a} * {b} END")
        if op == "/":
            return Typed(num=f"CASE WHEN {guard} AND {b} <> 0 THEN {a} / {b} END")
        remainder = f"{a} - {b} * {self.dialect.trunc(f'{a} / {b}', self.params)}"
        return Typed(num=f"CASE WHEN {guard} AND {b} <> 0 THEN {remainder} END")

    def product_operand(self, number: str) -> str:
        low = self.params.add(v.PRODUCT_LOW, "float")
        high = self.params.add(v.PRODUCT_HIGH, "float")
        return f"({number} = 0 OR abs({number}) BETWEEN {low} AND {high})"

    def negate(self, expr: ast.Negate) -> Typed:
        operand = self.compile(expr.operand)
        return Typed(num=f"(-{operand.num})") if operand.num else Typed()

    # -- functions --------------------------------------------------------------

    def call(self, expr: ast.Call) -> Typed:
        argument = self.compile(expr.argument)
        function = expr.function
        if function == "defined":
            return Typed(flag=defined_sql(argument), maybe_undefined=False)
        if function == "boolean":
            return Typed(flag=self.truthy(argument), maybe_undefined=False)
        if function == "number":
            return Typed(num=coalesce(self.number_parts(argument)))
        if function == "string":
            return self.string(argument)
        if function == "datetime":
            if argument.text:
                raise CannotPushDown  # parsing dates in SQL is not done here
            return Typed(dt=coalesce([sql for sql in (argument.num, argument.dt) if sql]))
        return Typed(num=self.rounding(function, argument.num)) if argument.num else Typed()

    def number_parts(self, value: Typed) -> list[str]:
        parts = [sql for sql in (value.num, value.dt) if sql]
        if value.flag:
            one, zero = self.params.add(1.0, "float"), self.params.add(0.0, "float")
            parts.append(f"CASE WHEN {value.flag} THEN {one} WHEN NOT {value.flag} THEN {zero} END")
        if value.text:
            parts.append(self.dialect.decimal_to_number(value.text, self.params))
        return parts

    def string(self, value: Typed) -> Typed:
        if value.num or value.dt:
            raise CannotPushDown  # number formatting differs between engines
        parts = [value.text] if value.text else []
        if value.flag:
            parts.append(
                f"CASE WHEN {value.flag} THEN 'true' WHEN NOT {value.flag} THEN 'false' END"
            )
        return Typed(text=coalesce(parts), null=value.null)

    def rounding(self, function: str, number: str) -> str:
        if function == "ceil":
            return f"(-{self.dialect.floor(f'(-{number})', self.params)})"
        low = self.dialect.floor(number, self.params)
        if function == "floor":
            return low
        half, one = self.params.add(0.5, "float"), self.params.add(1.0, "float")
        return f"(CASE WHEN {number} - {low} >= {half} THEN {low} + {one} ELSE {low} END)"


_NODES: dict[type, Any] = {
    ast.Property: _Compiler.property,
    ast.EventRef: _Compiler.event,
    ast.Logical: _Compiler.logical,
    ast.Not: _Compiler.negation,
    ast.Binary: _Compiler.binary,
    ast.Negate: _Compiler.negate,
    ast.Call: _Compiler.call,
}
