"""SQL generated for segmentation expressions keeps exactly the rows the
per-row evaluator keeps, in a real SQLite and a real PostgreSQL.

Random expressions come from the grammar, random rows mix every JSON type
(missing, null, numeric-looking strings, lists, objects, booleans). Where the
generator declines (`to_sql` is None) `split_where` must still give the same
rows once its residual is checked per row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from trackyard.query import (
    POSTGRES,
    SQLITE,
    Columns,
    Dialect,
    Expr,
    Row,
    matches,
    parse,
    split_where,
    to_sql,
)
from trackyard.query.evaluate import evaluate
from trackyard.query.sql import to_sql_value
from trackyard.query.values import UNDEFINED, DateTime, equal

COLUMNS = Columns(properties="properties", event="event", time_ms="time_ms", user="user_props")

# -- random rows ---------------------------------------------------------------

KEYS = ["a", "b", "n", "s", "l", 'q"x', "ü", "a.b"]
_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=6)
# Values chosen to sit on the edges of the rules (numeric-looking strings,
# half-way roundings, the number range) are drawn more often than random ones.
_SPECIAL_STRINGS = st.sampled_from(
    [
        "",
        "a",
        "abc",
        "12",
        "-0",
        "2.50",
        "1e2",
        "1E+2",
        " 1",
        "007",
        "+1",
        ".5",
        "1.",
        "1e400",
        "false",
        "true",
        "2024-03-01",
        "2024-03-01T10:00:00",
        "2024-02-30",
        "ü",
        "A",
    ]
)
_STRINGS = st.one_of(_SPECIAL_STRINGS, _SPECIAL_STRINGS, _SPECIAL_STRINGS, _TEXT)
_SPECIAL_NUMBERS = st.sampled_from(
    [
        0,
        1,
        2,
        3,
        12,
        -1,
        -0.0,
        0.1,
        0.5,
        2.5,
        -2.5,
        3.5,
        -3.5,
        1e300,
        -1e300,
        1e-300,
        1e-320,
        1e308,
        1e200,
        1e-200,
        10**30,
        1709287200000,
    ]
)
_NUMBERS = st.one_of(
    _SPECIAL_NUMBERS,
    _SPECIAL_NUMBERS,
    _SPECIAL_NUMBERS,
    st.integers(-20, 20),
    st.integers(-(2**64), 2**64),
    st.floats(-1e6, 1e6, allow_nan=False),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, _STRINGS)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)
    ),
    max_leaves=4,
)
# Mostly numbers under "n" and "b", strings under "s" and "ü", lists under
# "l", anything elsewhere: operators meet their own types often and every
# other type now and then.
_NUMBERISH = st.one_of(_NUMBERS, _NUMBERS, _NUMBERS, _JSON)
_STRINGISH = st.one_of(_STRINGS, _STRINGS, _STRINGS, _JSON)
_PROPERTIES = st.fixed_dictionaries(
    {},
    optional={
        "n": _NUMBERISH,
        "b": _NUMBERISH,
        "s": _STRINGISH,
        "ü": _STRINGISH,
        "l": st.one_of(st.lists(_SCALARS, max_size=4), _JSON),
        "a": _JSON,
        'q"x': _JSON,
        "a.b": _JSON,
    },
)


@dataclass(frozen=True)
class GeneratedRow:
    properties: dict[str, Any]
    event: str
    time_ms: int
    user: dict[str, Any] | None

    def as_row(self) -> Row:
        return Row(self.properties, self.event, self.time_ms, self.user)


_ROWS = st.lists(
    st.builds(
        GeneratedRow,
        _PROPERTIES,
        st.sampled_from(["signup", "Signup", "", "purchase"]),
        st.one_of(st.integers(0, 2_000_000_000_000), st.just(1_709_287_200_000)),
        st.one_of(st.none(), _PROPERTIES),
    ),
    min_size=1,
    max_size=8,
)

# -- random expressions, as text, from the grammar ----------------------------------


def _quote(text: str) -> str:
    return json.dumps(text)


_REFS = st.one_of(
    st.sampled_from(KEYS).map(lambda key: f"properties[{_quote(key)}]"),
    st.sampled_from(["n", "b", "s"]).map(lambda key: f"properties[{_quote(key)}]"),
    st.sampled_from(["a", "s", "missing"]).map(lambda key: f"user[{_quote(key)}]"),
    st.sampled_from(['event["name"]', 'event["$time"]']),
)
_NUMBER_LITERALS = st.sampled_from(
    ["0", "1", "2", "3", "12", "0.5", "2.5", "3.5", "0.1", "1e3", "1e200", "1709287200000"]
)
_LITERALS = st.one_of(
    _NUMBER_LITERALS,
    _NUMBER_LITERALS,
    _STRINGS.map(_quote),
    st.sampled_from(["true", "false"]),
    st.lists(
        st.one_of(_NUMBER_LITERALS, st.sampled_from(['"a"', '"12"', "true", "-1", '"2024-03-01"'])),
        max_size=4,
    ).map(lambda items: f"[{', '.join(items)}]"),
)
_ARITHMETIC = ["+", "-", "*", "/", "%"]
_COMPARISONS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
_FUNCTIONS = ["defined", "boolean", "number", "string", "datetime", "floor", "round", "ceil"]


def _binary(inner: st.SearchStrategy[str], ops: list[str]) -> st.SearchStrategy[str]:
    return st.tuples(inner, st.sampled_from(ops), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # Weighted towards operators that yield numbers and strings, so values of
    # every kind reach the comparisons (booleans come easily).
    calls = st.tuples(st.sampled_from(_FUNCTIONS), inner).map(lambda t: f"{t[0]}({t[1]})")
    prefixed = st.tuples(st.sampled_from(["not ", "-"]), inner).map(lambda t: f"({t[0]}{t[1]})")
    return st.one_of(
        _binary(inner, _ARITHMETIC),
        _binary(inner, _ARITHMETIC),
        _binary(inner, _ARITHMETIC),
        _binary(inner, _COMPARISONS),
        _binary(inner, _COMPARISONS),
        _binary(inner, ["and", "or"]),
        calls,
        calls,
        prefixed,
    )


_UNTYPED = st.recursive(st.one_of(_REFS, _REFS, _REFS, _LITERALS), _extend, max_leaves=8)


def _call(names: list[str], argument: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(names), argument).map(lambda t: f"{t[0]}({t[1]})")


# The same grammar, aimed: each operator mostly gets operands of the type it
# works on (and refs that usually hold it), so that values of every kind,
# not just undefined, flow through the generated SQL.
_NUM_LEAF = st.one_of(_NUMBER_LITERALS, st.sampled_from(['properties["n"]', 'properties["b"]']))
_STR_LEAF = st.one_of(
    _STRINGS.map(_quote), st.sampled_from(['properties["s"]', 'properties["ü"]', 'event["name"]'])
)
_NUM = st.deferred(
    lambda: st.one_of(
        _NUM_LEAF,
        _NUM_LEAF,
        _NUM_LEAF,
        _binary(_NUM, _ARITHMETIC),
        _call(["floor", "round", "ceil", "number"], _NUM),
        _call(["number"], st.one_of(_STR, _BOOL)),
        _NUM.map(lambda e: f"(-{e})"),
    )
)
_STR = st.deferred(
    lambda: st.one_of(
        _STR_LEAF,
        _STR_LEAF,
        _STR_LEAF,
        _binary(_STR, ["+"]),
        _call(["string"], st.one_of(_STR, _BOOL)),
    )
)
_DATE = st.one_of(st.just('event["$time"]'), _call(["datetime"], st.one_of(_NUM, _STR_LEAF)))
_ANY = st.one_of(_UNTYPED, _NUM, _STR, _DATE)
_BOOL = st.deferred(
    lambda: st.one_of(
        _binary(_NUM, _COMPARISONS),
        _binary(_STR, _COMPARISONS),
        st.tuples(_DATE, st.sampled_from(_COMPARISONS), st.one_of(_DATE, _STR_LEAF)).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(
            _ANY,
            st.sampled_from(["in", "not in"]),
            st.one_of(_LITERALS, st.just('properties["l"]')),
        ).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        _binary(_BOOL, ["and", "or", "==", "!="]),
        _call(["defined", "boolean"], _ANY),
        _BOOL.map(lambda e: f"(not {e})"),
    )
)
EXPRESSIONS = st.one_of(_BOOL, _BOOL, _NUM, _STR, _UNTYPED)

# -- the two engines -------------------------------------------------------------------


class Engine:
    dialect: Dialect

    def load(self, rows: list[GeneratedRow]) -> None:
        raise NotImplementedError

    def select(self, sql: str, params: dict[str, Any]) -> set[int]:
        raise NotImplementedError

    def values(self, columns: list[str], params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Each row's id and the given SQL expressions, in id order."""
        select = ", ".join(["id", *columns])
        return list(self.conn.execute(f"SELECT {select} FROM events ORDER BY id", params))  # type: ignore[attr-defined]


class SQLiteEngine(Engine):
    dialect = SQLITE

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute(
            "CREATE TABLE events (id INTEGER, event TEXT, time_ms INTEGER, properties TEXT, user_props TEXT)"
        )

    def load(self, rows: list[GeneratedRow]) -> None:
        self.conn.execute("DELETE FROM events")
        self.conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            [
                (i, r.event, r.time_ms, _dump(r.properties, i), _dump(r.user, i))
                for i, r in enumerate(rows)
            ],
        )

    def select(self, sql: str, params: dict[str, Any]) -> set[int]:
        return {row[0] for row in self.conn.execute(f"SELECT id FROM events WHERE {sql}", params)}


def _dump(value: Any, index: int) -> str | None:
    # Alternate ASCII-escaped and raw UTF-8 JSON: the stored spelling of a
    # key must not change what a property lookup finds.
    return None if value is None else json.dumps(value, ensure_ascii=index % 2 == 0)


class PostgresEngine(Engine):
    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(
            "CREATE TABLE events (id integer, event text, time_ms bigint, properties jsonb, user_props jsonb)"
        )

    def load(self, rows: list[GeneratedRow]) -> None:
        self.conn.execute("TRUNCATE events")
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO events VALUES (%s, %s, %s, %s::jsonb, %s::jsonb)",
                [
                    (i, r.event, r.time_ms, _dump(r.properties, 0), _dump(r.user, 0))
                    for i, r in enumerate(rows)
                ],
            )

    def select(self, sql: str, params: dict[str, Any]) -> set[int]:
        return {row[0] for row in self.conn.execute(f"SELECT id FROM events WHERE {sql}", params)}


@pytest.fixture(scope="module")
def sqlite_engine() -> Iterator[Engine]:
    engine = SQLiteEngine()
    yield engine
    engine.conn.close()


@pytest.fixture(scope="module")
def postgres_engine() -> Iterator[Engine]:
    pytest.importorskip("psycopg", reason="psycopg is needed for the PostgreSQL half")
    from tests.postgres import fresh_database

    with fresh_database() as url:
        engine = PostgresEngine(url)
        yield engine
        engine.conn.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest) -> Engine:
    name = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    result: Engine = request.getfixturevalue(name)
    return result


# -- the checks ----------------------------------------------------------------------


def expected_ids(expr: Expr, rows: list[GeneratedRow]) -> set[int]:
    return {i for i, row in enumerate(rows) if matches(expr, row.as_row())}


def assert_agrees(engine: Engine, expr: Expr, rows: list[GeneratedRow]) -> bool:
    """Check both entry points against the evaluator; whether `to_sql` pushed down."""
    expected = expected_ids(expr, rows)
    exact = to_sql(expr, engine.dialect, COLUMNS)
    if exact is not None:
        assert engine.select(exact.sql, exact.params) == expected, exact.sql
    pushed = split_where(expr, engine.dialect, COLUMNS)
    candidates = set(range(len(rows)))
    if pushed.filter is not None:
        candidates = engine.select(pushed.filter.sql, pushed.filter.params)
    if pushed.residual is not None:
        candidates = {i for i in candidates if matches(pushed.residual, rows[i].as_row())}
    assert candidates == expected
    return exact is not None


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(source=EXPRESSIONS, rows=_ROWS)
def test_sql_and_per_row_evaluation_agree(
    engine: Engine, source: str, rows: list[GeneratedRow]
) -> None:
    expr = parse(source)
    engine.load(rows)
    event("pushed down" if assert_agrees(engine, expr, rows) else "evaluated per row")


_PAYLOADS = ("num", "text", "flag", "null", "lst", "obj", "dt")


def decode(payloads: tuple[Any, ...]) -> Any:
    """The expression value a row of payload columns stands for."""
    found = [
        (name, value) for name, value in zip(_PAYLOADS, payloads, strict=True) if value is not None
    ]
    assert len(found) <= 1, found
    if not found:
        return UNDEFINED
    name, value = found[0]
    if name in ("lst", "obj"):
        return json.loads(value) if isinstance(value, str) else value
    return {"num": float, "text": str, "flag": bool, "null": lambda _: None, "dt": DateTime}[name](
        value
    )


def same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and (a == b if isinstance(a, float | DateTime) else equal(a, b))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
@given(source=EXPRESSIONS, rows=_ROWS)
def test_sql_values_equal_evaluated_values(
    engine: Engine, source: str, rows: list[GeneratedRow]
) -> None:
    """Stronger than agreeing on filters: every row's value, of any type, is
    the one the evaluator computes."""
    expr = parse(source)
    compiled = to_sql_value(expr, engine.dialect, COLUMNS)
    event("pushed down" if compiled else "evaluated per row")
    if compiled is None:
        return
    engine.load(rows)
    columns = [getattr(compiled.typed, name) or "NULL" for name in _PAYLOADS]
    for (index, *payloads), row in zip(engine.values(columns, compiled.params), rows, strict=True):
        expected = evaluate(expr, row.as_row())
        got = decode(tuple(payloads))
        event(f"value kind: {type(expected).__name__}")
        assert same_value(got, expected), (index, got, expected)


ROWS_BY_HAND = [
    GeneratedRow(
        {"n": 12, "s": "hello", "l": ["a", 2, True], 'q"x': 1, "ü": "x"},
        "signup",
        1_709_287_200_000,
        None,
    ),
    GeneratedRow({"n": "12", "s": "", "l": [], "a.b": None}, "Signup", 0, {"a": "pro"}),
    GeneratedRow({"n": 2.5, "s": "false", "l": "a"}, "", 1_709_287_200_001, {}),
    GeneratedRow({}, "purchase", 86_400_000, None),
]


@pytest.mark.parametrize(
    "source",
    [
        'properties["n"] == 12',
        'properties["n"] in [12, "12"]',
        'number(properties["n"]) == 12',
        '"ell" in properties["s"]',
        '"a" in properties["l"]',
        'not "x" in properties["s"]',
        'properties["s"] and properties["n"] > 1',
        'defined(properties["a.b"]) or defined(properties["q\\"x"])',
        'properties["ü"] == "x"',
        'user["a"] == "pro"',
        'event["name"] == "signup"',
        'event["$time"] >= datetime("2024-03-01T10:00:00")',
        'event["time"] == "2024-03-01T10:00:00"',
        'floor(properties["n"] / 2) == 1',
        'properties["n"] % 5 == 2 or round(properties["n"]) == 3',
        'boolean(properties["s"])',
        'not properties["missing"]',
    ],
)
def test_examples_by_hand_push_down_and_agree(engine: Engine, source: str) -> None:
    expr = parse(source)
    assert to_sql(expr, engine.dialect, COLUMNS) is not None
    engine.load(ROWS_BY_HAND)
    assert_agrees(engine, expr, ROWS_BY_HAND)


@pytest.mark.parametrize(
    "source",
    [
        'properties["l"] == properties["l"]',  # deep JSON equality
        'string(properties["n"]) == "12"',  # number formatting
        'datetime(properties["s"]) > event["time"]',  # date parsing in SQL
        'event["time"] in properties["l"]',
    ],
)
def test_what_cannot_push_down_is_checked_per_row(engine: Engine, source: str) -> None:
    expr = parse(source)
    assert to_sql(expr, engine.dialect, COLUMNS) is None
    engine.load(ROWS_BY_HAND)
    assert_agrees(engine, expr, ROWS_BY_HAND)


def test_split_where_pushes_down_the_conjuncts_it_can(engine: Engine) -> None:
    expr = parse(
        'properties["n"] > 1 and string(properties["n"]) == "12" and defined(properties["s"])'
    )
    pushed = split_where(expr, engine.dialect, COLUMNS)
    assert pushed.filter is not None
    assert pushed.residual == parse('string(properties["n"]) == "12"')
    engine.load(ROWS_BY_HAND)
    assert_agrees(engine, expr, ROWS_BY_HAND)


def _nested(levels: int) -> str:
    source = 'properties["n"] == 12'
    for level in range(levels):
        source = f"not ({source})" if level % 2 else f"({source}) == true"
    return source


def test_a_where_nested_past_sqlites_parser_is_checked_per_row(engine: Engine) -> None:
    # 14 levels compiled to SQL that SQLite refused ("parser stack overflow"):
    # an export with such a `where` answered 500.
    expr = parse(_nested(14))
    engine.load(ROWS_BY_HAND)
    assert_agrees(engine, expr, ROWS_BY_HAND)
    if engine.dialect is SQLITE:
        assert split_where(expr, SQLITE, COLUMNS).residual == expr


def test_literals_are_bound_never_spliced_into_the_sql() -> None:
    secret = "x'; DROP TABLE events; --"
    for dialect in (SQLITE, POSTGRES):
        found = to_sql(
            parse(f'properties["{secret}"] == "{secret}" or 1234.5 in [987]'), dialect, COLUMNS
        )
        assert found is not None
        assert secret not in found.sql and "1234.5" not in found.sql and "987" not in found.sql
        assert secret in found.params.values()


def test_postgres_sql_has_no_percent_but_its_placeholders() -> None:
    found = to_sql(parse('properties["a"] % 3 == 1 and "%" in properties["s"]'), POSTGRES, COLUMNS)
    assert found is not None
    assert found.sql.replace("%(", "").replace(")s", "").count("%") == 0
