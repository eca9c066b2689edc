"""Mixpanel's segmentation expression language (the `where` of export and
engage queries): parse once, then filter rows in Python or in SQL.

    expr = parse('properties["plan"] == "pro" and defined(properties["seats"])')
    matches(expr, Row(properties={...}))            # per row
    to_sql(expr, SQLITE, Columns("e.properties"))   # exact SQL, or None
    split_where(expr, POSTGRES, Columns("e.properties::jsonb"))  # partial

See docs/segmentation-expressions.md.
"""

from trackyard.query.ast import Expr
from trackyard.query.errors import InvalidExpression
from trackyard.query.evaluate import Row, evaluate, matches
from trackyard.query.parser import parse
from trackyard.query.sql import POSTGRES, SQLITE, Columns, PushDown, SqlFilter, split_where, to_sql
from trackyard.query.sql_dialects import Dialect, PostgresDialect, SQLiteDialect

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Columns",
    "Dialect",
    "Expr",
    "InvalidExpression",
    "PostgresDialect",
    "PushDown",
    "Row",
    "SQLiteDialect",
    "SqlFilter",
    "evaluate",
    "matches",
    "parse",
    "split_where",
    "to_sql",
]
