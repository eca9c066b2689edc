"""Tokens of a segmentation expression, each with its 1-based column."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from trackyard.query.errors import InvalidExpression

TokenKind = Literal["number", "string", "name", "op", "end"]

_DIGITS = frozenset("0123456789")
_SPACE = re.compile(r"[ \t\r\n]+")
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", "[", "]", ",")
_ESCAPES = {
    '"': '"',
    "'": "'",
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
# Mixpanel's number type is a double; the same range is accepted everywhere a
# number enters (literals, properties, number()), see values.in_number_range.
_LARGEST = 1e308
_SMALLEST = 1e-307


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    column: int
    value: float | str | None = None

    def describe(self) -> str:
        if self.kind == "end":
            return "end of expression"
        if self.kind == "string":
            return "a string"
        return f"'{self.text}'"


def tokenize(source: str) -> list[Token]:
    """Split `source` into tokens, ending with an `end` token."""
    tokens: list[Token] = []
    at = 0
    while True:
        space = _SPACE.match(source, at)
        if space:
            at = space.end()
        if at >= len(source):
            tokens.append(Token("end", "", at + 1))
            return tokens
        token = _next_token(source, at)
        tokens.append(token)
        at += len(token.text)


def _next_token(source: str, at: int) -> Token:
    char = source[at]
    if char in "\"'":
        return _string(source, at)
    # ASCII digits only: str.isdigit() also accepts "²" and other scripts' digits.
    if char in _DIGITS or (char == "." and source[at + 1 : at + 2] in _DIGITS):
        return _number(source, at)
    name = _NAME.match(source, at)
    if name:
        return Token("name", name.group(), at + 1)
    for op in _OPERATORS:
        if source.startswith(op, at):
            return Token("op", op, at + 1)
    if char == "=":
        raise InvalidExpression(at + 1, "'=' is not an operator; expected '=='")
    raise InvalidExpression(at + 1, f"unexpected character {char!r}")


def _number(source: str, at: int) -> Token:
    match = _NUMBER.match(source, at)
    assert match is not None  # the caller saw a digit
    end = match.end()
    if end < len(source) and (source[end].isalnum() or source[end] in "_$."):
        raise InvalidExpression(end + 1, f"unexpected character {source[end]!r} after a number")
    value = float(match.group())
    mantissa = re.split("[eE]", match.group())[0]
    if (value != 0 or mantissa.strip("0.")) and not _SMALLEST <= value <= _LARGEST:
        raise InvalidExpression(at + 1, f"number {match.group()} is out of range")
    return Token("number", match.group(), at + 1, value)


def _string(source: str, at: int) -> Token:
    quote = source[at]
    chars: list[str] = []
    i = at + 1
    while i < len(source):
        char = source[i]
        if char == quote:
            return Token("string", source[at : i + 1], at + 1, "".join(chars))
        if char == "\\":
            decoded, i = _escape(source, i)
            chars.append(decoded)
            continue
        if char == "\x00":
            raise InvalidExpression(i + 1, "a string cannot contain NUL")
        chars.append(char)
        i += 1
    raise InvalidExpression(at + 1, f"unterminated string; expected a closing {quote}")


def _escape(source: str, at: int) -> tuple[str, int]:
    """Decode the escape at `at` (a backslash); return it and the next index."""
    code = source[at + 1 : at + 2]
    if code in _ESCAPES:
        return _ESCAPES[code], at + 2
    if code != "u":
        raise InvalidExpression(
            at + 1, "invalid escape; expected one of \\\" \\' \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"
        )
    unit, at = _hex4(source, at)
    if 0xD800 <= unit < 0xDC00 and source[at : at + 2] == "\\u":
        low, after = _hex4(source, at)
        if 0xDC00 <= low < 0xE000:
            return chr(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)), after
    if 0xD800 <= unit < 0xE000:
        raise InvalidExpression(at - 5, "unpaired surrogate in \\u escape")
    if unit == 0:
        raise InvalidExpression(at - 5, "a string cannot contain NUL")
    return chr(unit), at


def _hex4(source: str, at: int) -> tuple[int, int]:
    digits = source[at + 2 : at + 6]
    if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
        raise InvalidExpression(at + 1, "invalid \\u escape; expected four hex digits")
    return int(digits, 16), at + 6
