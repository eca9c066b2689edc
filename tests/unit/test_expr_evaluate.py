"""Per-row evaluation of segmentation expressions, construct by construct,
against the rules of Mixpanel's reference (docs/segmentation-expressions.md)."""

from __future__ import annotations

from typing import Any

import pytest

from trackyard.query import Row, evaluate, matches, parse
from trackyard.query.values import UNDEFINED, DateTime

ROW = Row(
    properties={
        "n": 12,
        "f": 2.5,
        "zero": 0,
        "s": "hello",
        "num_s": "12",
        "empty": "",
        "false_s": "false",
        "t": True,
        "no": False,
        "null": None,
        "tags": ["a", 2, True, None, ["x"]],
        "obj": {"k": 1},
        "huge": 1e400,  # out of the number range: undefined
        "big_int": 10**400,
        "date_s": "2024-03-01T10:00:00",
    },
    event="Signed up",
    time_ms=1_709_287_200_000,  # 2024-03-01T10:00:00Z
)


def value(source: str, row: Row = ROW) -> Any:
    return evaluate(parse(source), row)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('properties["n"]', 12.0),
        ('properties["missing"]', UNDEFINED),
        ('properties["null"]', None),
        ('properties["huge"]', UNDEFINED),
        ('properties["big_int"]', UNDEFINED),
        ('user["n"]', UNDEFINED),
        ('event["name"]', "Signed up"),
        ('event["$time"]', DateTime(1_709_287_200_000.0)),
        ('[1, "a"]', [1.0, "a"]),
    ],
)
def test_references_and_literals(source: str, expected: Any) -> None:
    assert value(source) == expected


def test_user_reads_the_profile_when_the_row_has_one() -> None:
    assert value('user["plan"]', Row({}, user={"plan": "pro"})) == "pro"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # == is false across types and never undefined.
        ('properties["n"] == 12', True),
        ('properties["n"] == 12.0', True),
        ('properties["num_s"] == 12', False),
        ('properties["t"] == 1', False),
        ('properties["missing"] == properties["other"]', True),
        ('properties["null"] == properties["missing"]', False),
        ('properties["s"] != "hello"', False),
        ('properties["s"] != 5', True),
        # Ordering: two numbers, two strings (code points) or two datetimes.
        ('properties["n"] > 9', True),
        ('properties["num_s"] > 9', UNDEFINED),
        ('"B" < "a"', True),
        ('"é" > "z"', True),
        ("true > false", UNDEFINED),
        ('properties["missing"] < 1', UNDEFINED),
    ],
)
def test_comparisons(source: str, expected: Any) -> None:
    assert value(source) == expected


def test_lists_compare_deeply_by_value_and_type() -> None:
    row = Row({"a": [1, "x", [True]], "b": [1.0, "x", [True]], "c": [True, "x", [True]]})
    assert value('properties["a"] == properties["b"]', row) is True
    assert value('properties["a"] == properties["c"]', row) is False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('properties["n"] + 1', 13.0),
        ('"ab" + "cd"', "abcd"),
        ('"ab" + 1', UNDEFINED),
        ('properties["missing"] + 1', UNDEFINED),
        ("7 - 10", -3.0),
        ("6 * 7", 42.0),
        ("7 / 2", 3.5),
        ("7 / 0", UNDEFINED),
        ("-7 % 3", -1.0),  # the remainder takes the dividend's sign
        ("7 % -3", 1.0),
        ("7.5 % 2", 1.5),
        ("7 % 0", UNDEFINED),
        ('"7" * 2', UNDEFINED),
        ('-properties["n"]', -12.0),
        ('-properties["s"]', UNDEFINED),
        ("1e200 * 1e200", UNDEFINED),  # operands beyond 1e150 cannot multiply
        ("1e300 + 1e300", 2e300),
        ("2e300 - 1", UNDEFINED),
    ],
)
def test_arithmetic(source: str, expected: Any) -> None:
    assert value(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('"ell" in properties["s"]', True),
        ('"" in properties["s"]', True),
        ('"xyz" in properties["s"]', False),
        ('1 in properties["s"]', UNDEFINED),
        ('"a" in properties["tags"]', True),
        ('2 in properties["tags"]', True),
        ('"2" in properties["tags"]', False),
        ('true in properties["tags"]', True),
        ('1 in properties["tags"]', False),  # true is not the number 1
        ('properties["n"] in [1, 12]', True),
        ('properties["num_s"] in [1, 12]', False),
        ('properties["missing"] in [1, 12]', UNDEFINED),
        ('properties["n"] not in [1, 12]', False),
        ('"x" in properties["missing"]', UNDEFINED),
        ('"k" in properties["obj"]', UNDEFINED),
    ],
)
def test_in_is_substring_or_list_membership(source: str, expected: Any) -> None:
    assert value(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true and false", False),
        ('true and properties["missing"]', False),
        ('properties["missing"] or true', True),
        ('properties["s"] and properties["n"]', True),  # non-booleans count by boolean()
        ('properties["empty"] or properties["zero"]', False),
        ("not true", False),
        ('not properties["missing"]', True),
        ('not properties["s"]', UNDEFINED),  # not on other types is undefined
        ('not "x" in properties["missing"]', True),
        ('defined(properties["s"])', True),
        ('defined(properties["null"])', True),
        ('defined(properties["missing"])', False),
        ('not defined(properties["missing"])', True),
    ],
)
def test_logic_and_defined(source: str, expected: Any) -> None:
    assert value(source) == expected


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ('"false"', False),
        ('""', False),
        ('"0"', True),
        ('"no"', True),
        ("0", False),
        ("0.5", True),
        ('properties["null"]', False),
        ('properties["missing"]', False),
        ('properties["tags"]', True),
        ('properties["obj"]', True),
        ('event["time"]', True),
    ],
)
def test_boolean_cast(argument: str, expected: bool) -> None:
    assert value(f"boolean({argument})") is expected


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ('"12"', 12.0),
        ('"-1.5e3"', -1500.0),
        ('"0"', 0.0),
        ('" 12"', UNDEFINED),
        ('"007"', UNDEFINED),
        ('"+1"', UNDEFINED),
        ('"1."', UNDEFINED),
        ('"abc"', UNDEFINED),
        ('""', UNDEFINED),
        ('"1e400"', UNDEFINED),
        ('"1e-400"', UNDEFINED),
        ('"0e-999"', 0.0),
        ('"1e1000"', UNDEFINED),
        ("true", 1.0),
        ("false", 0.0),
        ('properties["null"]', UNDEFINED),
        ('properties["missing"]', UNDEFINED),
        ('properties["tags"]', UNDEFINED),
        ('event["time"]', 1_709_287_200_000.0),
    ],
)
def test_number_cast(argument: str, expected: Any) -> None:
    assert value(f"number({argument})") == expected


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ('"x"', "x"),
        ("12", "12"),
        ("2.5", "2.5"),
        ("-0.0", "0"),
        ("1e20", "1e+20"),
        ("true", "true"),
        ('properties["null"]', None),
        ('properties["missing"]', UNDEFINED),
        ('properties["tags"]', UNDEFINED),
        ('event["time"]', "2024-03-01T10:00:00"),
    ],
)
def test_string_cast(argument: str, expected: Any) -> None:
    assert value(f"string({argument})") == expected


@pytest.mark.parametrize(
    ("argument", "expected"),
    [
        ("1709287200000", DateTime(1_709_287_200_000.0)),
        ('"2024-03-01T10:00:00"', DateTime(1_709_287_200_000.0)),
        ('"2024-03-01 10:00:00Z"', DateTime(1_709_287_200_000.0)),
        ('"2024-03-01T10:00:00.250"', DateTime(1_709_287_200_250.0)),
        ('"2024-03-01"', DateTime(1_709_251_200_000.0)),
        ('"2024-02-30"', UNDEFINED),
        ('"yesterday"', UNDEFINED),
        ("true", UNDEFINED),
    ],
)
def test_datetime_cast(argument: str, expected: Any) -> None:
    assert value(f"datetime({argument})") == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('event["$time"] >= datetime("2024-03-01")', True),
        ('event["$time"] < datetime("2024-03-01T10:00:00")', False),
        ('event["$time"] == datetime(1709287200000)', True),
        # A date-formatted string is read as a date against a datetime.
        ('event["$time"] == "2024-03-01T10:00:00"', True),
        ('event["$time"] > "2024-01-01"', True),
        ('event["$time"] > "soon"', UNDEFINED),
        ('event["$time"] > 1', UNDEFINED),
        ('datetime(properties["date_s"]) == event["time"]', True),
        ('properties["date_s"] > "2024-01-01"', True),  # plain string order
    ],
)
def test_datetime_comparisons(source: str, expected: Any) -> None:
    assert value(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("floor(2.7)", 2.0),
        ("floor(-2.2)", -3.0),
        ("ceil(2.2)", 3.0),
        ("ceil(-2.7)", -2.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -2.0),  # half-way rounds up, as JavaScript's Math.round
        ("round(2.4999)", 2.0),
        ('round("2.5")', UNDEFINED),
        ('floor(properties["missing"])', UNDEFINED),
    ],
)
def test_rounding(source: str, expected: Any) -> None:
    assert value(source) == expected


@pytest.mark.parametrize(
    ("source", "kept"),
    [
        ('properties["s"]', True),
        ('properties["false_s"]', False),
        ('properties["missing"]', False),
        ('properties["n"] > "a"', False),  # undefined is not kept
        ('not (properties["n"] > "a")', True),
        ('properties["tags"]', True),
    ],
)
def test_where_keeps_truthy_rows(source: str, kept: bool) -> None:
    assert matches(parse(source), ROW) is kept
