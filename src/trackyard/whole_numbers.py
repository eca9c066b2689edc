"""Whole numbers from request text: ASCII digits only.

`str.isdigit()` also accepts digits such as "¹" or "²" that `int()` then
refuses with a ValueError, which answered 500 where a bad parameter is a 400
or 401 (found by schemathesis on `project_id`).
"""

from __future__ import annotations


def whole_number(raw: str) -> int | None:
    """`raw` as a non-negative integer when it is ASCII digits, else None."""
    if raw.isascii() and raw.isdigit():
        return int(raw)
    return None
