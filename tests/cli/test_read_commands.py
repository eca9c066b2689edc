"""`trackyard export` and `trackyard profiles export` over a database filled through the API."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from trackyard.cli import main
from trackyard.http.app import create_app
from trackyard.service.projects import create_project
from trackyard.settings import Settings

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "read.db")
    with TestClient(create_app(Settings(db=path))) as client:
        project = client.portal.call(create_project, client.app.state.services.store, "P")  # type: ignore[union-attr,attr-defined]
        auth = {"authorization": "Basic " + base64.b64encode(f"{project.token}:".encode()).decode()}
        events = [
            {
                "event": name,
                "properties": {
                    "time": T0 + i * 86_400,
                    "distinct_id": f"u{i}",
                    "$insert_id": f"i{i}",
                    "n": i,
                },
            }
            for i, name in enumerate(["a", "b", "a", "c"])
        ]
        client.post(
            "/import",
            content=orjson.dumps(events),
            headers={"content-type": "application/json", **auth},
        )
        updates = [
            {
                "$token": project.token,
                "$distinct_id": f"u{i}",
                "$set": {"n": i},
                "$ignore_time": True,
            }
            for i in range(3)
        ]
        client.post("/engage", data={"data": orjson.dumps(updates).decode()})
    return path


def run(db: str, *args: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(main, [*args, "--db", db])
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def test_export_every_day_of_the_range(db: str) -> None:
    rows = run(db, "export", "--from", "2023-11-14", "--to", "2023-11-16")
    assert [(r["event"], r["properties"]["time"]) for r in rows] == [
        ("a", T0),
        ("b", T0 + 86_400),
        ("a", T0 + 2 * 86_400),
    ]


def test_export_filters_and_limit(db: str) -> None:
    rows = run(
        db, "export", "--from", "2023-11-14", "--to", "2023-11-20", "--event", "a", "--time-in-ms"
    )
    assert [r["properties"]["time"] for r in rows] == [T0 * 1000, (T0 + 2 * 86_400) * 1000]
    assert len(run(db, "export", "--from", "2023-11-14", "--to", "2023-11-20", "--limit", "2")) == 2
    where = run(
        db,
        "export",
        "--from",
        "2023-11-14",
        "--to",
        "2023-11-20",
        "--where",
        'properties["n"] >= 2',
    )
    assert [r["properties"]["n"] for r in where] == [2, 3]


def test_export_bad_parameters_are_usage_errors(db: str) -> None:
    result = CliRunner().invoke(main, ["export", "--from", "2023-11-14", "--to", "x", "--db", db])
    assert result.exit_code == 2 and "yyyy-mm-dd" in result.output
    result = CliRunner().invoke(
        main, ["export", "--from", "2023-11-14", "--to", "2023-11-14", "--project", "9", "--db", db]
    )
    assert result.exit_code == 1 and "does not exist" in result.output


def test_profiles_export(db: str) -> None:
    rows = run(db, "profiles", "export")
    assert rows == [{"$distinct_id": f"u{i}", "$properties": {"n": i}} for i in range(3)]
    assert [
        r["$distinct_id"] for r in run(db, "profiles", "export", "--where", 'properties["n"] > 0')
    ] == ["u1", "u2"]
