"""The `trackyard` command, run as a user would (in-process via click's runner)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from trackyard.cli import main


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = str(tmp_path / "cli.db")

    def invoke(*args: str, ok: bool = True) -> str:
        result = CliRunner().invoke(main, [*args, "--db", db])
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    return invoke


def test_projects_create_json_has_every_credential(run) -> None:  # type: ignore[no-untyped-def]
    created = orjson.loads(run("projects", "create", "Shop", "--json"))
    assert set(created) == {
        "project_id",
        "name",
        "token",
        "api_secret",
        "service_account",
        "identity_mode",
    }
    assert set(created["service_account"]) == {"username", "secret"}
    assert created["name"] == "Shop" and created["project_id"] == 1
    assert len(created["token"]) == 32


def test_projects_list(run) -> None:  # type: ignore[no-untyped-def]
    run("projects", "create", "A")
    run("projects", "create", "B")
    rows = [orjson.loads(line) for line in run("projects", "list", "--json").splitlines()]
    assert [r["name"] for r in rows] == ["A", "B"]
    assert "A" in run("projects", "list")


def test_secrets_are_stored_hashed(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    created = orjson.loads(run("projects", "create", "A", "--json"))
    raw = (tmp_path / "cli.db").read_bytes()
    assert created["api_secret"].encode() not in raw
    assert created["service_account"]["secret"].encode() not in raw


def test_service_accounts_create(run) -> None:  # type: ignore[no-untyped-def]
    run("projects", "create", "A")
    run("projects", "create", "B")
    account = orjson.loads(
        run(
            "service-accounts",
            "create",
            "--project",
            "1",
            "--project",
            "2",
            "--username",
            "ci",
            "--json",
        )
    )
    assert account["username"] == "ci" and account["project_ids"] == [1, 2]
    assert "already exists" in run(
        "service-accounts", "create", "--project", "1", "--username", "ci", ok=False
    )
    assert "does not exist" in run("service-accounts", "create", "--project", "9", ok=False)


def test_lookup_tables_create_and_list(run) -> None:  # type: ignore[no-untyped-def]
    run("projects", "create", "A")
    table_id = run("lookup-tables", "create", "Accounts", "--project", "1").strip()
    assert len(table_id) == 36
    [row] = [
        orjson.loads(line)
        for line in run("lookup-tables", "list", "--project", "1", "--json").splitlines()
    ]
    assert row["id"] == table_id and row["name"] == "Accounts"
    assert "does not exist" in run("lookup-tables", "create", "X", "--project", "7", ok=False)


def test_bad_environment_value_is_a_usage_error(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKYARD_PORT", "eighty")
    assert "TRACKYARD_PORT" in run("projects", "list", ok=False)


def test_identity_mode(run) -> None:  # type: ignore[no-untyped-def]
    created = orjson.loads(run("projects", "create", "A", "--identity-mode", "original", "--json"))
    assert created["identity_mode"] == "original"
    assert "simplified" in run("projects", "set-identity-mode", "1", "simplified")
    assert "does not exist" in run("projects", "set-identity-mode", "5", "original", ok=False)
    assert "Invalid value" in run("projects", "set-identity-mode", "1", "chaos", ok=False)
