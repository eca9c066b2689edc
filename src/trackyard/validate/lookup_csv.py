"""Lookup-table CSV (bytes) -> `LookupTableContent`, or the first failing rows.

Rules: mixpanel-behavior.md §13 (RFC 4180, a unique header of at least two
columns, the first column a unique non-blank key, value typing). Where
Mixpanel's docs say nothing, trackyard chooses:

* **Row indexes** count CSV records with the header as row 0, so the first
  data row is 1. Mixpanel's reference example reports "row indexes 1 and 2
  have the same primary key" at index 2, which only this numbering fits. A
  record spanning lines (a quoted newline) is one index; blank lines after
  the header are skipped but keep their index, so an index names a record's
  position in the file.
* **Header problems** (empty file, fewer than 2 columns, a repeated name) are
  one failed record at index 0; the rows are not checked, as they cannot be read.
* **The key** is kept as its raw text, since it is matched against property
  values; the other columns are typed and become the row's values.
* **Numbers** follow JSON's grammar, so `02134` (a zip code) and `+1` stay
  strings; integers beyond ±(2^53 - 1) stay strings rather than lose digits.
* **Timestamps** (RFC 3339) have no JSON type: they are stored as strings
  normalised to UTC `YYYY-MM-DDTHH:MM:SS`, the form Mixpanel gives datetime
  properties (§15), so a joined value compares like any other date.
* **Lists**: only a JSON array of strings becomes a list; any other bracketed
  text stays a string (objects and lists of objects are not supported, §13).
* **Malformed quoting** fails that record and stops reading: past a broken
  quote the rest of the file cannot be split into records reliably.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from trackyard.errors import BadRequest, FailedRow, LookupValidationError
from trackyard.storage.base import LookupTableContent

# Mixpanel returns the first 10 failing rows only (§13).
MAX_REPORTED_ROWS = 10
MIN_COLUMNS = 2
MAX_SAFE_INTEGER = 2**53 - 1
BLANK_KEY = "primary key is required and cannot be blank"
WRONG_FIELD_COUNT = "invalid row: wrong number of fields"
EMPTY_FILE = "invalid header: the CSV has no header row"
TOO_FEW_COLUMNS = "invalid header: at least 2 columns are required"

_JSON_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)")
_JSON_FLOAT = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")

Row = tuple[str, dict[str, Any]]


class _UnreadableRecord(Exception):
    """A record the csv module cannot split (bad quoting, a field past its size limit)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def parse_lookup_csv(body: bytes) -> LookupTableContent:
    """The table a CSV body describes; LookupValidationError lists its first bad rows."""
    records = _records(_decode(body))
    table = _TableBuilder(_header(records))
    try:
        for index, fields in records:
            table.add(index, fields)
            if table.failed_enough:
                break
    except _UnreadableRecord as exc:
        table.fail(exc.index, f"invalid row: {exc.reason}")
    return table.content()


def _decode(body: bytes) -> str:
    # utf-8-sig drops the byte-order mark Excel writes in front of "CSV UTF-8" files.
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"lookup table CSV is not valid UTF-8 (byte {exc.start})") from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with their index (header = 0); _UnreadableRecord on bad quoting."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    index = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _UnreadableRecord(index, str(exc)) from None
        if fields:
            yield index, fields
        if fields or index:  # blank lines before the header are not records
            index += 1


def _header(records: Iterator[tuple[int, list[str]]]) -> list[str]:
    try:
        _, header = next(records, (0, []))
    except _UnreadableRecord as exc:
        raise LookupValidationError([FailedRow(0, f"invalid header: {exc.reason}")]) from None
    problem = _header_problem(header)
    if problem:
        raise LookupValidationError([FailedRow(0, problem)])
    return header


def _header_problem(header: list[str]) -> str | None:
    if not header:
        return EMPTY_FILE
    if len(header) < MIN_COLUMNS:
        return TOO_FEW_COLUMNS
    repeated = sorted(name for name, count in Counter(header).items() if count > 1)
    if repeated:
        return f"invalid header: column names must be unique, repeated: {', '.join(repeated)}"
    return None


class _TableBuilder:
    """Checks and types data records one at a time, remembering where each key was."""

    def __init__(self, header: list[str]) -> None:
        self.header = header
        self.rows: list[Row] = []
        self.failures: list[FailedRow] = []
        self._key_index: dict[str, int] = {}

    @property
    def failed_enough(self) -> bool:
        return len(self.failures) >= MAX_REPORTED_ROWS

    def add(self, index: int, fields: list[str]) -> None:
        problem = self._problem(index, fields)
        if problem:
            self.fail(index, problem)
            return
        self._key_index[fields[0]] = index
        self.rows.append((fields[0], typed_values(self.header[1:], fields[1:])))

    def fail(self, index: int, message: str) -> None:
        self.failures.append(FailedRow(index, message))

    def content(self) -> LookupTableContent:
        if self.failures:
            raise LookupValidationError(self.failures[:MAX_REPORTED_ROWS])
        return LookupTableContent(tuple(self.header), self.rows)

    def _problem(self, index: int, fields: list[str]) -> str | None:
        if len(fields) != len(self.header):
            return WRONG_FIELD_COUNT
        key = fields[0]
        if not key.strip():
            return BLANK_KEY
        if key in self._key_index:
            first = self._key_index[key]
            return f"invalid row: row indexes {first} and {index} have the same primary key"
        return None


# Value typing (§13) ------------------------------------------------------------


def typed_values(names: list[str], fields: list[str]) -> dict[str, Any]:
    """Typed values by column name; empty fields are left out (Mixpanel: undefined)."""
    return {name: typed_value(text) for name, text in zip(names, fields, strict=True) if text}


def typed_value(text: str) -> Any:
    """A number, boolean, UTC timestamp string or list of strings; else the text itself."""
    for convert in (_boolean, _number, _timestamp, _string_list):
        value = convert(text)
        if value is not None:
            return value
    return text


def _boolean(text: str) -> bool | None:
    lowered = text.lower()
    return lowered == "true" if lowered in ("true", "false") else None


def _number(text: str) -> int | float | None:
    if _JSON_INTEGER.fullmatch(text):
        # Too many digits for a double: keep the text, and spare int() a huge string.
        if len(text.lstrip("-")) > len(str(MAX_SAFE_INTEGER)):
            return None
        number = int(text)
        return number if abs(number) <= MAX_SAFE_INTEGER else None
    if _JSON_FLOAT.fullmatch(text):
        value = float(text)
        # 1e999 overflows to inf, which JSON cannot carry: keep the text.
        return value if abs(value) != float("inf") else None
    return None


def _timestamp(text: str) -> str | None:
    if not _RFC3339.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.upper())
    except ValueError:  # month 13, a leap second: not a time Python can hold
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _string_list(text: str) -> list[str] | None:
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None
