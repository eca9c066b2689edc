"""The syntax tree of a segmentation expression.

Nodes are frozen dataclasses so that a parsed `where` can be cached, compared
and shared between the per-row evaluator (`evaluate.py`) and the SQL
generator (`sql.py`). `column` (1-based) is kept for messages only and takes
no part in equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as TypingLiteral

# A literal as written: number (always a float, as in Mixpanel's one number
# type), string or boolean.
Scalar = float | str | bool

Source = TypingLiteral["properties", "user"]
EventField = TypingLiteral["name", "time"]
Function = TypingLiteral[
    "defined", "boolean", "number", "string", "datetime", "floor", "round", "ceil"
]
BinaryOp = TypingLiteral["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "in"]

FUNCTIONS: frozenset[str] = frozenset(
    ("defined", "boolean", "number", "string", "datetime", "floor", "round", "ceil")
)


@dataclass(frozen=True, slots=True)
class Node:
    column: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: Scalar


@dataclass(frozen=True, slots=True)
class ListLiteral(Node):
    items: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Property(Node):
    """`properties["name"]` (the row's own properties) or `user["name"]`."""

    source: Source
    name: str


@dataclass(frozen=True, slots=True)
class EventRef(Node):
    """`event["name"]` (the event's name) or `event["time"]` (a datetime)."""

    field: EventField


@dataclass(frozen=True, slots=True)
class Negate(Node):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Not(Node):
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: BinaryOp
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Logical(Node):
    """`and`/`or` over two or more operands; chains stay flat so that long
    `a or b or c ...` filters do not nest deeply."""

    op: TypingLiteral["and", "or"]
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Call(Node):
    function: Function
    argument: Expr


Expr = Literal | ListLiteral | Property | EventRef | Negate | Not | Binary | Logical | Call


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of `node`."""
    if isinstance(node, Negate | Not | Call):
        return (node.operand if not isinstance(node, Call) else node.argument,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Logical):
        return node.operands
    return ()


def is_constant(node: Expr) -> bool:
    """True when `node` reads nothing from the row, so it can be computed once."""
    if isinstance(node, Property | EventRef):
        return False
    return all(is_constant(child) for child in children(node))


def deepest(node: Expr) -> tuple[int, Expr]:
    """The depth of the tree and its deepest node, without recursion (the
    parser uses it to refuse trees the evaluator could not walk)."""
    best = (1, node)
    stack = [(1, node)]
    while stack:
        level, current = stack.pop()
        if level > best[0]:
            best = (level, current)
        stack.extend((level + 1, child) for child in children(current))
    return best
