"""Mixpanel's value model for segmentation expressions, and its coercions.

A value is `UNDEFINED` (a missing property, or an operation on the wrong
types), `None` (JSON null), a bool, a float (the one number type), a str,
a list or dict straight from JSON, or a `DateTime`. The rules follow
https://docs.mixpanel.com/reference/segmentation-expressions; where that page
is silent the choice is documented in docs/segmentation-expressions.md and
mirrored exactly by the SQL generator (`sql.py`).
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any


class Kind(Enum):
    UNDEFINED = "undefined"
    NULL = "null"
    BOOLEAN = "boolean"
    NUMBER = "number"
    STRING = "string"
    LIST = "list"
    OBJECT = "object"
    DATETIME = "datetime"


class _Undefined:
    """The single `undefined` value; falsy, and distinct from JSON null."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()


@dataclass(frozen=True, slots=True)
class DateTime:
    """An instant, in milliseconds since the Unix epoch (UTC)."""

    ms: float


Value = Any

# Numbers outside this range (other than 0) are undefined wherever they enter:
# PostgreSQL raises instead of overflowing, so both SQL dialects and the
# evaluator draw the same line well inside what a double can hold.
SMALLEST = 1e-307
LARGEST = 1e308
# Arithmetic operands are bounded so that no result can overflow or underflow
# (PostgreSQL raises on both; see docs, "Numbers").
SUM_LIMIT = 1e300
PRODUCT_LOW = 1e-150
PRODUCT_HIGH = 1e150

# JSON's number syntax, with at most three exponent digits (PostgreSQL's
# numeric input refuses larger exponents).
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,3})?")
_MAX_DECIMAL_LENGTH = 255  # Mixpanel's string limit
_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?)?Z?"
)


def kind_of(value: Value) -> Kind:
    if value is UNDEFINED:
        return Kind.UNDEFINED
    if value is None:
        return Kind.NULL
    if isinstance(value, bool):
        return Kind.BOOLEAN
    if isinstance(value, float):
        return Kind.NUMBER
    if isinstance(value, str):
        return Kind.STRING
    if isinstance(value, list):
        return Kind.LIST
    if isinstance(value, dict):
        return Kind.OBJECT
    if isinstance(value, DateTime):
        return Kind.DATETIME
    raise TypeError(f"not an expression value: {value!r}")


def in_number_range(number: float) -> bool:
    return number == 0 or SMALLEST <= abs(number) <= LARGEST


def from_json(value: Any) -> Value:
    """A decoded JSON value as an expression value (ints become floats)."""
    if value is None or isinstance(value, bool | str | list | dict):
        return value
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return UNDEFINED
        return number if in_number_range(number) else UNDEFINED
    return UNDEFINED


# -- casts ------------------------------------------------------------------


def to_boolean(value: Value) -> bool:
    """Mixpanel's boolean cast: "false", "", 0, null and undefined are false."""
    kind = kind_of(value)
    if kind is Kind.BOOLEAN:
        return bool(value)
    if kind is Kind.NUMBER:
        return bool(value != 0)
    if kind is Kind.STRING:
        return value not in ("", "false")
    return kind in (Kind.LIST, Kind.OBJECT, Kind.DATETIME)


def to_number(value: Value) -> Value:
    kind = kind_of(value)
    if kind is Kind.NUMBER:
        return value
    if kind is Kind.BOOLEAN:
        return 1.0 if value else 0.0
    if kind is Kind.STRING:
        return parse_decimal(value)
    if kind is Kind.DATETIME:
        return value.ms
    return UNDEFINED


def parse_decimal(text: str) -> Value:
    """A string in JSON number syntax as a number; anything else is undefined."""
    if len(text) > _MAX_DECIMAL_LENGTH or not _DECIMAL.fullmatch(text):
        return UNDEFINED
    exact = Decimal(text)
    if exact != 0 and not Decimal("1e-307") <= abs(exact) <= Decimal("1e308"):
        return UNDEFINED
    return float(text)


def to_string(value: Value) -> Value:
    kind = kind_of(value)
    if kind in (Kind.STRING, Kind.NULL, Kind.UNDEFINED):
        return value
    if kind is Kind.BOOLEAN:
        return "true" if value else "false"
    if kind is Kind.NUMBER:
        return format_number(value)
    if kind is Kind.DATETIME:
        return format_datetime(value)
    return UNDEFINED


def format_number(number: float) -> str:
    """Integers without a decimal point (as Mixpanel shows them), else repr."""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def to_datetime(value: Value) -> Value:
    kind = kind_of(value)
    if kind is Kind.DATETIME:
        return value
    if kind is Kind.NUMBER:
        return DateTime(value)
    if kind is Kind.STRING:
        return parse_datetime(value)
    return UNDEFINED


def parse_datetime(text: str) -> Value:
    """`YYYY-MM-DD`, optionally `THH:MM:SS[.ffffff]`, optionally `Z`; UTC."""
    match = _ISO.fullmatch(text)
    if not match:
        return UNDEFINED
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        return UNDEFINED
    milliseconds = int(fraction.ljust(6, "0")) / 1000 if fraction else 0.0
    return DateTime(calendar.timegm(moment.timetuple()) * 1000.0 + milliseconds)


def format_datetime(value: DateTime) -> Value:
    try:
        moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=value.ms)
    except OverflowError:
        return UNDEFINED
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + f".{moment.microsecond // 1000:03d}" if moment.microsecond else text


# -- comparisons --------------------------------------------------------------


def _as_datetimes(left: Value, right: Value) -> tuple[Value, Value] | None:
    """A datetime meets a string: read the string as a date (Mixpanel treats
    date-formatted strings as dates). None when that does not apply."""
    kinds = {kind_of(left), kind_of(right)}
    if kinds != {Kind.DATETIME, Kind.STRING}:
        return None
    return to_datetime(left), to_datetime(right)


def equal(left: Value, right: Value) -> bool:
    """`==`: false across types, value equality within one."""
    dates = _as_datetimes(left, right)
    if dates is not None:
        left, right = dates
        if left is UNDEFINED or right is UNDEFINED:
            return False
    kind = kind_of(left)
    if kind is not kind_of(right):
        return False
    if kind is Kind.LIST:
        return len(left) == len(right) and all(
            equal(from_json(a), from_json(b)) for a, b in zip(left, right, strict=True)
        )
    if kind is Kind.OBJECT:
        return left.keys() == right.keys() and all(
            equal(from_json(left[k]), from_json(right[k])) for k in left
        )
    if kind in (Kind.NULL, Kind.UNDEFINED):
        return True
    return bool(left == right)


def compare(op: str, left: Value, right: Value) -> Value:
    """`< <= > >=` on two numbers, two strings (by code point) or two
    datetimes; undefined for any other pair."""
    dates = _as_datetimes(left, right)
    if dates is not None:
        left, right = dates
    kind = kind_of(left)
    if kind is not kind_of(right) or kind not in (Kind.NUMBER, Kind.STRING, Kind.DATETIME):
        return UNDEFINED
    if kind is Kind.DATETIME:
        left, right = left.ms, right.ms
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def contains(needle: Value, haystack: Value) -> Value:
    """`in`: substring of a string, or membership in a list."""
    hay_kind = kind_of(haystack)
    if hay_kind is Kind.STRING:
        return needle in haystack if isinstance(needle, str) else UNDEFINED
    if hay_kind is Kind.LIST and needle is not UNDEFINED:
        return any(equal(needle, from_json(item)) for item in haystack)
    return UNDEFINED


# -- arithmetic -------------------------------------------------------------


def _product_operand(number: float) -> bool:
    return number == 0 or PRODUCT_LOW <= abs(number) <= PRODUCT_HIGH


def arithmetic(op: str, left: Value, right: Value) -> Value:
    if op == "+" and isinstance(left, str) and isinstance(right, str):
        return left + right
    if kind_of(left) is not Kind.NUMBER or kind_of(right) is not Kind.NUMBER:
        return UNDEFINED
    if op in ("+", "-"):
        if abs(left) > SUM_LIMIT or abs(right) > SUM_LIMIT:
            return UNDEFINED
        return left + right if op == "+" else left - right
    if not (_product_operand(left) and _product_operand(right)):
        return UNDEFINED
    if op == "*":
        return left * right
    if right == 0:
        return UNDEFINED
    if op == "/":
        return left / right
    # The remainder takes the dividend's sign (Mixpanel); computed the way the
    # SQL does so that every engine rounds alike.
    return left - right * float(math.trunc(left / right))


def negate(value: Value) -> Value:
    return -value if kind_of(value) is Kind.NUMBER else UNDEFINED


def rounding(function: str, value: Value) -> Value:
    if kind_of(value) is not Kind.NUMBER:
        return UNDEFINED
    if function == "ceil":
        return -float(math.floor(-value))
    low = float(math.floor(value))
    if function == "floor":
        return low
    # Half-way rounds up, as JavaScript's Math.round does.
    return low + 1.0 if value - low >= 0.5 else low
