"""Parsing segmentation expressions: the tree each construct gives, operator
precedence, and errors that name the column and what was expected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trackyard.errors import BadRequest
from trackyard.query import InvalidExpression, parse
from trackyard.query.ast import (
    Binary,
    Call,
    EventRef,
    ListLiteral,
    Literal,
    Logical,
    Negate,
    Not,
    Property,
)

A = Property("properties", "a")
B = Property("properties", "b")


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ('properties["a"]', A),
        ("properties['a']", A),
        ('user["$email"]', Property("user", "$email")),
        ('event["$time"]', EventRef("time")),
        ('event["time"]', EventRef("time")),
        ('event["name"]', EventRef("name")),
        ("12", Literal(12.0)),
        ("2.5e3", Literal(2500.0)),
        (".5", Literal(0.5)),
        ('"a\\"b\\u00fc\\n"', Literal('a"bü\n')),
        ('"\\ud83d\\ude00"', Literal("\U0001f600")),
        ("true", Literal(True)),
        ("false", Literal(False)),
        ('[1, -2, "x", true]', ListLiteral((1.0, -2.0, "x", True))),
        ("[]", ListLiteral(())),
        ("-1", Negate(Literal(1.0))),
        ('defined (properties["a"])', Call("defined", A)),
        ('datetime("2024-01-01")', Call("datetime", Literal("2024-01-01"))),
        ('properties["a"] not in [1]', Not(Binary("in", A, ListLiteral((1.0,))))),
    ],
)
def test_each_construct_parses_to_its_tree(source: str, tree: object) -> None:
    assert parse(source) == tree


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        # Mixpanel's "does not contain": not applies to the whole `in`.
        ('not "x" in properties["a"]', Not(Binary("in", Literal("x"), A))),
        ("1 + 2 * 3", Binary("+", Literal(1.0), Binary("*", Literal(2.0), Literal(3.0)))),
        ("1 - 2 - 3", Binary("-", Binary("-", Literal(1.0), Literal(2.0)), Literal(3.0))),
        ("(1 + 2) * 3", Binary("*", Binary("+", Literal(1.0), Literal(2.0)), Literal(3.0))),
        ("-1 * 2", Binary("*", Negate(Literal(1.0)), Literal(2.0))),
        ("1 + 2 == 3", Binary("==", Binary("+", Literal(1.0), Literal(2.0)), Literal(3.0))),
        (
            'properties["a"] or properties["b"] and true',
            Logical("or", (A, Logical("and", (B, Literal(True))))),
        ),
        ('not properties["a"] and properties["b"]', Logical("and", (Not(A), B))),
        ('properties["a"] or properties["b"] or 1', Logical("or", (A, B, Literal(1.0)))),
    ],
)
def test_precedence_follows_the_reference_and_python(source: str, tree: object) -> None:
    assert parse(source) == tree


@pytest.mark.parametrize(
    ("source", "column", "expected"),
    [
        ("", 1, "expected an expression"),
        ('properties["a"] ==', 19, "expected an expression"),
        ('(properties["a"]', 17, "expected ')'"),
        ("properties[a]", 12, "expected a property name in quotes"),
        ('properties["a"', 15, "expected ']'"),
        ('properties["a"] = 1', 17, "'=' is not an operator; expected '=='"),
        ('"unterminated', 1, "unterminated string"),
        ("foo", 1, "unknown name 'foo'"),
        ('event["foo"]', 7, "unknown event field 'foo'"),
        ("defined", 8, "expected '(' after defined"),
        ("number(1, 2)", 9, "expected ')'"),
        ("[1, 2", 6, "expected ',' or ']'"),
        ("[properties]", 2, "expected a number, a string, true or false"),
        ("1 2", 3, "expected an operator or end of expression"),
        ("1 && 2", 3, "unexpected character '&'"),
        ('"\\x"', 2, "invalid escape"),
        ('"\\ud800"', 2, "unpaired surrogate"),
        ('"\\u0000"', 2, "cannot contain NUL"),
        ("1e999", 1, "out of range"),
        ("12abc", 3, "after a number"),
        ("(" * 50 + "1" + ")" * 50, 41, "nested more than 40 levels"),
        ("not " * 60 + "true", 161, "nested more than 40 levels"),
    ],
)
def test_errors_name_the_column_and_what_was_expected(
    source: str, column: int, expected: str
) -> None:
    with pytest.raises(InvalidExpression) as caught:
        parse(source)
    assert caught.value.column == column
    assert f"at column {column}: " in caught.value.message
    assert expected in caught.value.message


def test_long_flat_chains_are_not_too_deep() -> None:
    parse(" or ".join(f'properties["p{i}"] == {i}' for i in range(2000)))


def test_a_long_left_nested_chain_is_refused_with_a_message() -> None:
    with pytest.raises(InvalidExpression, match="nested more than 40"):
        parse(" + ".join(["1"] * 100))


def test_invalid_expression_is_a_bad_request() -> None:
    assert issubclass(InvalidExpression, BadRequest)


_PIECES = st.sampled_from(
    [
        'properties["a"]',
        "event[",
        "user",
        "(",
        ")",
        "[",
        "]",
        ",",
        " ",
        '"',
        "'",
        "\\",
        "\\u12",
        "==",
        "=",
        "!",
        "!=",
        "<",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "%",
        "and",
        "or",
        "not",
        "in",
        "defined",
        "number",
        "datetime",
        "true",
        "1",
        "1.5e",
        ".",
        "e5",
        "\x00",
        "\ud800",
        "ü",
        "$",
        "\n",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.lists(_PIECES, max_size=30).map("".join)))
def test_any_text_parses_or_raises_invalid_expression(source: str) -> None:
    try:
        parse(source)
    except InvalidExpression as exc:
        assert 1 <= exc.column <= len(source) + 1
