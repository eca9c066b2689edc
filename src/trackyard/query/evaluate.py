"""Evaluate a parsed expression against one row, in Python.

This is the reference semantics: the SQL generator (`sql.py`) must agree
with it on every row, which tests/contract/test_expr_sql.py checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from trackyard.query import ast
from trackyard.query import values as v


@dataclass(frozen=True, slots=True)
class Row:
    """What an expression can read: properties, and for events name and time.

    `user` holds the profile properties that `user["x"]` reads; rows without
    them see `undefined`.
    """

    properties: Mapping[str, Any]
    event: str | None = None
    time_ms: float | None = None
    user: Mapping[str, Any] | None = None


_EMPTY = Row({})


def matches(expr: ast.Expr, row: Row) -> bool:
    """Whether a `where` filter keeps `row`: its value is truthy."""
    return v.to_boolean(evaluate(expr, row))


def evaluate(expr: ast.Expr, row: Row = _EMPTY) -> v.Value:
    """The value of `expr` on `row` (never raises for a parsed expression)."""
    handler = _HANDLERS[type(expr)]
    return handler(expr, row)


def _literal(expr: Any, row: Row) -> v.Value:
    return expr.value


def _list(expr: Any, row: Row) -> v.Value:
    return list(expr.items)


def _property(expr: Any, row: Row) -> v.Value:
    source = row.properties if expr.source == "properties" else row.user
    if source is None or expr.name not in source:
        return v.UNDEFINED
    return v.from_json(source[expr.name])


def _event(expr: Any, row: Row) -> v.Value:
    if expr.field == "name":
        return v.UNDEFINED if row.event is None else row.event
    return v.UNDEFINED if row.time_ms is None else v.DateTime(float(row.time_ms))


def _negate(expr: Any, row: Row) -> v.Value:
    return v.negate(evaluate(expr.operand, row))


def _not(expr: Any, row: Row) -> v.Value:
    # Mixpanel: `not` negates a boolean, turns undefined into true, and
    # leaves every other type undefined.
    operand = evaluate(expr.operand, row)
    if isinstance(operand, bool):
        return not operand
    return True if operand is v.UNDEFINED else v.UNDEFINED


def _logical(expr: Any, row: Row) -> v.Value:
    # Operands other than booleans count by the boolean() cast (Mixpanel
    # calls them an error; a row filter has no way to report one).
    truths = (v.to_boolean(evaluate(operand, row)) for operand in expr.operands)
    return all(truths) if expr.op == "and" else any(truths)


def _binary(expr: Any, row: Row) -> v.Value:
    left = evaluate(expr.left, row)
    right = evaluate(expr.right, row)
    op = expr.op
    if op == "==":
        return v.equal(left, right)
    if op == "!=":
        return not v.equal(left, right)
    if op == "in":
        return v.contains(left, right)
    if op in ("<", "<=", ">", ">="):
        return v.compare(op, left, right)
    return v.arithmetic(op, left, right)


_CASTS: dict[str, Callable[[v.Value], v.Value]] = {
    "defined": lambda value: value is not v.UNDEFINED,
    "boolean": v.to_boolean,
    "number": v.to_number,
    "string": v.to_string,
    "datetime": v.to_datetime,
}


def _call(expr: Any, row: Row) -> v.Value:
    argument = evaluate(expr.argument, row)
    cast = _CASTS.get(expr.function)
    if cast is not None:
        return cast(argument)
    return v.rounding(expr.function, argument)


_HANDLERS: dict[type, Callable[[Any, Row], v.Value]] = {
    ast.Literal: _literal,
    ast.ListLiteral: _list,
    ast.Property: _property,
    ast.EventRef: _event,
    ast.Negate: _negate,
    ast.Not: _not,
    ast.Logical: _logical,
    ast.Binary: _binary,
    ast.Call: _call,
}
