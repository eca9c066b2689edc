"""Lookup-table CSV parsing and typing (mixpanel-behavior.md §13), no app, no DB."""

from __future__ import annotations

from typing import Any

import pytest

from trackyard.errors import BadRequest, FailedRow, LookupValidationError
from trackyard.validate.lookup_csv import (
    BLANK_KEY,
    EMPTY_FILE,
    TOO_FEW_COLUMNS,
    WRONG_FIELD_COUNT,
    parse_lookup_csv,
    typed_value,
)


def failed_rows(body: bytes) -> list[FailedRow]:
    with pytest.raises(LookupValidationError) as caught:
        parse_lookup_csv(body)
    return list(caught.value.failed_rows)


def only_row_values(body: bytes) -> dict[str, Any]:
    [(_, values)] = parse_lookup_csv(body).rows
    return values


# Structure ---------------------------------------------------------------------


def test_header_and_rows_keyed_by_first_column() -> None:
    content = parse_lookup_csv(b"account_id,plan,seats\na1,Free,3\na2,Paid,10\n")
    assert content.header == ("account_id", "plan", "seats")
    assert list(content.rows) == [
        ("a1", {"plan": "Free", "seats": 3}),
        ("a2", {"plan": "Paid", "seats": 10}),
    ]


def test_key_keeps_its_raw_text() -> None:
    # The key is matched against property values, so "007" must not become 7.
    [(key, _)] = parse_lookup_csv(b"id,x\n007,y\n").rows
    assert key == "007"


def test_header_only_is_an_empty_table() -> None:
    content = parse_lookup_csv(b"id,plan\n")
    assert content.header == ("id", "plan")
    assert list(content.rows) == []


def test_byte_order_mark_is_dropped_from_the_first_header() -> None:
    content = parse_lookup_csv("\ufeffid,plan\na1,Free\n".encode())
    assert content.header == ("id", "plan")


def test_crlf_line_endings() -> None:
    content = parse_lookup_csv(b"id,plan\r\na1,Free\r\na2,Paid\r\n")
    assert [key for key, _ in content.rows] == ["a1", "a2"]


def test_last_row_without_newline() -> None:
    assert only_row_values(b"id,plan\na1,Free") == {"plan": "Free"}


def test_quoted_comma_quote_and_newline_stay_in_one_field() -> None:
    body = b'id,note\na1,"one, two ""three""\nfour"\n'
    assert only_row_values(body) == {"note": 'one, two "three"\nfour'}


def test_blank_lines_are_skipped() -> None:
    content = parse_lookup_csv(b"\nid,plan\n\na1,Free\n\n")
    assert list(content.rows) == [("a1", {"plan": "Free"})]


def test_not_utf8_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="UTF-8"):
        parse_lookup_csv("id,city\na1,Zürich\n".encode("latin-1"))


# Value typing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("0", 0),
        ("9007199254740991", 9007199254740991),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        ("2e3", 2000.0),
        ("1.5E-2", 0.015),
    ],
)
def test_numbers(text: str, expected: float) -> None:
    value = typed_value(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "02134",  # zip code: a leading zero is not a JSON number
        "+1",
        ".5",
        "1.",
        "1_000",
        "nan",
        "inf",
        "1e999",  # overflows to infinity
        "9007199254740992",  # past 2^53 - 1: would lose digits as a double
        "123456789012345678901234567890",
        " 1",
    ],
)
def test_number_lookalikes_stay_strings(text: str) -> None:
    assert typed_value(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("false", False), ("TRUE", True), ("False", False), ("tRuE", True)],
)
def test_booleans_any_case(text: str, expected: bool) -> None:
    assert typed_value(text) is expected


@pytest.mark.parametrize("text", ["yes", "1 ", "truthy", " true"])
def test_boolean_lookalikes_stay_strings(text: str) -> None:
    assert typed_value(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05T10:20:30Z", "2024-03-05T10:20:30"),
        ("2024-03-05T10:20:30.999Z", "2024-03-05T10:20:30"),
        ("2024-03-05T10:20:30+02:00", "2024-03-05T08:20:30"),
        ("2024-03-05T23:30:00-01:00", "2024-03-06T00:30:00"),
        ("2024-03-05 10:20:30Z", "2024-03-05T10:20:30"),
        ("2024-03-05t10:20:30z", "2024-03-05T10:20:30"),
    ],
)
def test_rfc3339_timestamps_become_utc_strings(text: str, expected: str) -> None:
    assert typed_value(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-05",  # a date alone is not an RFC 3339 timestamp
        "2024-03-05T10:20:30",  # no offset
        "2024-13-05T10:20:30Z",  # month 13
        "2024-03-05T10:20:30Z trailing",
    ],
)
def test_timestamp_lookalikes_stay_strings(text: str) -> None:
    assert typed_value(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [('["Free","Paid"]', ["Free", "Paid"]), ('[ "a" ]', ["a"]), ("[]", [])],
)
def test_bracket_lists_of_strings(text: str, expected: list[str]) -> None:
    assert typed_value(text) == expected


@pytest.mark.parametrize("text", ["[1,2]", '[{"a":1}]', '[["a"]]', "[Free, Paid]", '{"a":"b"}'])
def test_other_brackets_stay_strings(text: str) -> None:
    assert typed_value(text) == text


def test_quoted_list_in_a_csv_row() -> None:
    # The form Mixpanel's docs show: the list quoted, its quotes doubled (§13).
    assert only_row_values(b'id,plans\na1,"[""Free"",""Paid""]"\n') == {"plans": ["Free", "Paid"]}


def test_empty_fields_are_left_out() -> None:
    assert only_row_values(b"id,a,b,c\nk,,x,\n") == {"b": "x"}


def test_anything_else_is_a_string() -> None:
    assert only_row_values(b"id,name\nk,Acme Inc.\n") == {"name": "Acme Inc."}


# Errors ------------------------------------------------------------------------


def test_blank_primary_key() -> None:
    assert failed_rows(b"id,plan\n,Free\n  ,Paid\n") == [
        FailedRow(1, BLANK_KEY),
        FailedRow(2, BLANK_KEY),
    ]


def test_duplicate_primary_key_names_both_rows() -> None:
    # Matches Mixpanel's example: the second row fails at index 2 (§13).
    assert failed_rows(b"id,plan\na1,Free\na1,Paid\n") == [
        FailedRow(2, "invalid row: row indexes 1 and 2 have the same primary key")
    ]


def test_wrong_number_of_fields() -> None:
    assert failed_rows(b"id,plan\na1\na2,Paid,extra\na3,Free\n") == [
        FailedRow(1, WRONG_FIELD_COUNT),
        FailedRow(2, WRONG_FIELD_COUNT),
    ]


def test_index_counts_records_not_lines() -> None:
    body = b'id,note\na1,"two\nlines"\n\na1,dup\n'
    assert failed_rows(body) == [
        FailedRow(3, "invalid row: row indexes 1 and 3 have the same primary key")
    ]


def test_bad_quoting_fails_its_row_and_stops_reading() -> None:
    body = b'id,plan\n,Free\na2,"Paid"x\n,after\n'
    [blank, unreadable] = failed_rows(body)
    assert blank == FailedRow(1, BLANK_KEY)
    assert unreadable.index == 2
    assert unreadable.message.startswith("invalid row:")


def test_unterminated_quote_fails() -> None:
    [row] = failed_rows(b'id,plan\na1,"Free\n')
    assert row.index == 1


def test_at_most_ten_rows_are_reported() -> None:
    body = b"id,plan\n" + b",x\n" * 25
    rows = failed_rows(body)
    assert [row.index for row in rows] == list(range(1, 11))


def test_bad_quoting_after_ten_failures_still_reports_ten() -> None:
    body = b"id,plan\n" + b",x\n" * 10 + b'"a"b,c\n'
    assert len(failed_rows(body)) == 10


@pytest.mark.parametrize("body", [b"", b"\n\n", "\ufeff".encode()])
def test_empty_file(body: bytes) -> None:
    assert failed_rows(body) == [FailedRow(0, EMPTY_FILE)]


def test_one_column_is_too_few() -> None:
    assert failed_rows(b"id\na1\n") == [FailedRow(0, TOO_FEW_COLUMNS)]


def test_header_names_must_be_unique() -> None:
    [row] = failed_rows(b"id,plan,plan\na1,x,y\n")
    assert row.index == 0
    assert "plan" in row.message


def test_header_error_hides_row_errors() -> None:
    assert len(failed_rows(b"id,id\n,\n,\n")) == 1


def test_bad_quoting_in_header() -> None:
    [row] = failed_rows(b'"id"x,plan\na1,Free\n')
    assert row.index == 0
    assert row.message.startswith("invalid header:")
