"""A recursive-descent parser for Mixpanel's segmentation expressions.

Hand-written rather than generated: every error names the column and what
was expected in words a user understands, nesting is bounded before Python's
stack is, and there is no dependency to keep in step. Precedence, loosest
first (Mixpanel's help writes `not "x" in properties["y"]` for "does not
contain", so `not` binds looser than comparisons, as in Python):

    or < and < not < comparisons (== != < <= > >= in, not in)
       < + - < * / % < unary - < primary

Binary operators of one level associate to the left. See
docs/segmentation-expressions.md for the whole grammar.
"""

from __future__ import annotations

from collections.abc import Callable

from trackyard.query import ast
from trackyard.query.errors import InvalidExpression
from trackyard.query.lexer import Token, tokenize

# Bounded so that evaluation and SQL generation (both recursive) stay far
# from Python's recursion limit and SQLite's expression depth limit.
MAX_DEPTH = 40
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_SOURCES = ("properties", "user")
_EVENT_FIELDS: dict[str, ast.EventField] = {
    "name": "name",
    "$name": "name",
    "event": "name",
    "$event_name": "name",
    "time": "time",
    "$time": "time",
}
_PRIMARY = "an expression (a number, a string, true, false, a list, properties[...], event[...], user[...], a function call or '(')"


def parse(source: str) -> ast.Expr:
    """Parse `source`; raise InvalidExpression for anything malformed."""
    parser = _Parser(tokenize(source))
    tree = parser.expression()
    parser.expect_end()
    level, node = ast.deepest(tree)
    if level > MAX_DEPTH:
        raise InvalidExpression(node.column, f"expression nested more than {MAX_DEPTH} levels deep")
    return tree


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.nesting = 0

    # -- token helpers -------------------------------------------------------

    @property
    def token(self) -> Token:
        return self.tokens[self.at]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.at + offset, len(self.tokens) - 1)]

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        token = self.token
        if token.kind == kind and (text is None or token.text == text):
            self.at += 1
            return token
        return None

    def expect(self, kind: str, text: str, wanted: str | None = None) -> Token:
        token = self.accept(kind, text)
        if token is None:
            self.fail(wanted or f"'{text}'")
        assert token is not None
        return token

    def fail(self, wanted: str) -> None:
        token = self.token
        raise InvalidExpression(token.column, f"expected {wanted} but found {token.describe()}")

    def expect_end(self) -> None:
        if self.token.kind != "end":
            self.fail("an operator or end of expression")

    # -- grammar -------------------------------------------------------------

    def expression(self) -> ast.Expr:
        return self.nested(lambda: self.logical("or", self.conjunction))

    def conjunction(self) -> ast.Expr:
        return self.logical("and", self.negation)

    def logical(self, op: str, parse_operand: Callable[[], ast.Expr]) -> ast.Expr:
        first = self.token
        operands = [parse_operand()]
        while self.accept("name", op):
            operands.append(parse_operand())
        if len(operands) == 1:
            return operands[0]
        return ast.Logical(op, tuple(operands), column=first.column)  # type: ignore[arg-type]

    def negation(self) -> ast.Expr:
        token = self.token
        if token.kind == "name" and token.text == "not" and self.peek().text != "in":
            self.at += 1
            return ast.Not(self.nested(self.negation), column=token.column)
        return self.comparison()

    def comparison(self) -> ast.Expr:
        left = self.additive()
        while True:
            token = self.token
            if token.kind == "op" and token.text in _COMPARISONS:
                self.at += 1
                left = ast.Binary(token.text, left, self.additive(), column=token.column)  # type: ignore[arg-type]
            elif self.accept("name", "in"):
                left = ast.Binary("in", left, self.additive(), column=token.column)
            elif token.text == "not" and self.peek().text == "in":
                self.at += 2
                inside = ast.Binary("in", left, self.additive(), column=token.column)
                left = ast.Not(inside, column=token.column)
            else:
                return left

    def additive(self) -> ast.Expr:
        return self.binary(("+", "-"), self.multiplicative)

    def multiplicative(self) -> ast.Expr:
        return self.binary(("*", "/", "%"), self.unary)

    def binary(self, ops: tuple[str, ...], parse_operand: Callable[[], ast.Expr]) -> ast.Expr:
        left = parse_operand()
        while self.token.kind == "op" and self.token.text in ops:
            token = self.token
            self.at += 1
            left = ast.Binary(token.text, left, parse_operand(), column=token.column)  # type: ignore[arg-type]
        return left

    def unary(self) -> ast.Expr:
        token = self.accept("op", "-")
        if token:
            return ast.Negate(self.nested(self.unary), column=token.column)
        return self.primary()

    def nested(self, parse_operand: Callable[[], ast.Expr]) -> ast.Expr:
        """Parse a sub-expression, counting it against MAX_DEPTH so that deep
        input fails with a message instead of a RecursionError."""
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise InvalidExpression(
                self.token.column, f"expression nested more than {MAX_DEPTH} levels deep"
            )
        try:
            return parse_operand()
        finally:
            self.nesting -= 1

    def primary(self) -> ast.Expr:
        token = self.token
        if token.kind in ("number", "string"):
            self.at += 1
            assert token.value is not None
            return ast.Literal(token.value, column=token.column)
        if token.kind == "op" and token.text == "(":
            self.at += 1
            inner = self.expression()
            self.expect("op", ")")
            return inner
        if token.kind == "op" and token.text == "[":
            return self.list_literal()
        if token.kind == "name":
            return self.named(token)
        self.fail(_PRIMARY)
        raise AssertionError("unreachable")

    def named(self, token: Token) -> ast.Expr:
        if token.text in ("true", "false"):
            self.at += 1
            return ast.Literal(token.text == "true", column=token.column)
        if token.text in _SOURCES:
            name = self.subscript()
            return ast.Property(token.text, name, column=token.column)  # type: ignore[arg-type]
        if token.text == "event":
            return self.event_field(token)
        if token.text in ast.FUNCTIONS:
            return self.call(token)
        raise InvalidExpression(token.column, f"unknown name '{token.text}'; expected {_PRIMARY}")

    def subscript(self) -> str:
        """`["name"]` after properties/user/event; returns the name."""
        self.at += 1
        self.expect("op", "[")
        token = self.token
        if token.kind != "string":
            self.fail("a property name in quotes")
        self.at += 1
        self.expect("op", "]")
        assert isinstance(token.value, str)
        return token.value

    def event_field(self, token: Token) -> ast.Expr:
        name_column = self.peek(2).column
        name = self.subscript()
        field = _EVENT_FIELDS.get(name)
        if field is None:
            known = ", ".join(f'"{key}"' for key in _EVENT_FIELDS)
            raise InvalidExpression(
                name_column, f"unknown event field {name!r}; expected one of {known}"
            )
        return ast.EventRef(field, column=token.column)

    def call(self, token: Token) -> ast.Expr:
        self.at += 1
        self.expect("op", "(", f"'(' after {token.text}")
        argument = self.expression()
        self.expect("op", ")")
        return ast.Call(token.text, argument, column=token.column)  # type: ignore[arg-type]

    def list_literal(self) -> ast.Expr:
        opening = self.expect("op", "[")
        items: list[ast.Scalar] = []
        if not self.accept("op", "]"):
            items.append(self.list_item())
            while self.accept("op", ","):
                items.append(self.list_item())
            self.expect("op", "]", "',' or ']'")
        return ast.ListLiteral(tuple(items), column=opening.column)

    def list_item(self) -> ast.Scalar:
        """Lists hold literals only (Mixpanel's `in [1,2,3]`); `-` may sign a number."""
        sign = -1.0 if self.accept("op", "-") else 1.0
        token = self.token
        if token.kind == "number" and isinstance(token.value, float):
            self.at += 1
            return sign * token.value
        if sign > 0 and token.kind == "string" and isinstance(token.value, str):
            self.at += 1
            return token.value
        if sign > 0 and token.kind == "name" and token.text in ("true", "false"):
            self.at += 1
            return token.text == "true"
        self.fail("a number" if sign < 0 else "a number, a string, true or false")
        raise AssertionError("unreachable")
