"""The one error a `where` expression can raise: a 400 that says where and why."""

from __future__ import annotations

from trackyard.errors import BadRequest


class InvalidExpression(BadRequest):
    """A segmentation expression that does not parse; `column` is 1-based."""

    def __init__(self, column: int, problem: str) -> None:
        super().__init__(f"invalid expression at column {column}: {problem}")
        self.column = column
        self.problem = problem
