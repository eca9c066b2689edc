"""Whole numbers from request text (whole_numbers.py)."""

from __future__ import annotations

import pytest

from trackyard.whole_numbers import whole_number


@pytest.mark.parametrize(("raw", "value"), [("0", 0), ("42", 42), ("007", 7)])
def test_ascii_digits_are_a_whole_number(raw: str, value: int) -> None:
    assert whole_number(raw) == value


@pytest.mark.parametrize("raw", ["", "-1", "1.5", " 1", "¹", "²3", "٣", "1e3"])
def test_anything_else_is_none(raw: str) -> None:
    assert whole_number(raw) is None
