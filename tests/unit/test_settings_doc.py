"""docs/configuration.md lists every setting as the code declares it, and
`Settings.from_env` / `to_env` read and write the TRACKYARD_* environment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest

from trackyard.cli.serve import serve
from trackyard.settings import Settings

CONFIGURATION_MD = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
HEADER = ["Setting", "Flag", "Environment variable", "Default", "Meaning"]
_CODE_SPAN = re.compile(r"`([^`]*)`")


@dataclass(frozen=True)
class DocumentedSetting:
    name: str
    flags: list[str]
    env: str
    default: str
    meaning: str


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _code(cell: str) -> str:
    match = _CODE_SPAN.fullmatch(cell)
    assert match, f"expected one code span, got {cell!r}"
    return match.group(1)


def _default(cell: str) -> str:
    # `value`, optionally followed by a gloss such as "(10 MiB)"; "(empty)" for "".
    if cell == "(empty)":
        return ""
    match = _CODE_SPAN.match(cell)
    assert match, f"default must start with a code span or be (empty), got {cell!r}"
    return match.group(1)


def documented_settings(markdown: str) -> list[DocumentedSetting]:
    """The rows of the one table whose header is HEADER."""
    lines = markdown.splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith("|") and _cells(line) == HEADER
    )
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        name, flags, env, default, meaning = _cells(line)
        rows.append(
            DocumentedSetting(
                name=_code(name),
                flags=_CODE_SPAN.findall(flags),
                env=_code(env),
                default=_default(default),
                meaning=meaning,
            )
        )
    return rows


@pytest.fixture(scope="module")
def documented() -> dict[str, DocumentedSetting]:
    rows = documented_settings(CONFIGURATION_MD.read_text(encoding="utf-8"))
    by_name = {row.name: row for row in rows}
    assert len(by_name) == len(rows), "a setting is listed twice"
    return by_name


# The documentation -------------------------------------------------------------


def test_table_lists_exactly_the_settings_in_declaration_order(
    documented: dict[str, DocumentedSetting],
) -> None:
    assert list(documented) == [f.name for f in Settings.fields()]


@pytest.mark.parametrize("field", list(Settings.fields()), ids=lambda f: f.name)
def test_each_row_matches_the_code(documented: dict[str, DocumentedSetting], field: Any) -> None:
    row = documented[field.name]
    assert row.env == Settings.env_name(field.name)
    assert row.default == Settings().to_env()[row.env]
    assert row.meaning == field.metadata["help"]


@pytest.mark.parametrize("field", list(Settings.fields()), ids=lambda f: f.name)
def test_each_row_names_the_flags_the_cli_accepts(
    documented: dict[str, DocumentedSetting], field: Any
) -> None:
    [option] = [p for p in serve.params if p.name == field.name]
    assert isinstance(option, click.Option)
    assert documented[field.name].flags == [*option.opts, *option.secondary_opts]


def test_the_parser_reads_a_table_row() -> None:
    markdown = "\n".join(
        [
            "| " + " | ".join(HEADER) + " |",
            "|---|---|---|---|---|",
            "| `a_b` | `--a-b` / `--no-a-b` | `TRACKYARD_A_B` | `10` (ten) | Help. |",
            "| `c` | `--c` | `TRACKYARD_C` | (empty) | More help. |",
            "",
            "| not | part | of | it |",
        ]
    )
    assert documented_settings(markdown) == [
        DocumentedSetting("a_b", ["--a-b", "--no-a-b"], "TRACKYARD_A_B", "10", "Help."),
        DocumentedSetting("c", ["--c"], "TRACKYARD_C", "", "More help."),
    ]


# Settings.from_env and to_env --------------------------------------------------


def test_no_variables_give_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_variables_are_parsed_by_the_type_of_the_default() -> None:
    settings = Settings.from_env(
        {
            "TRACKYARD_PORT": "9000",
            "TRACKYARD_MAX_BODY_BYTES": " 1024 ",
            "TRACKYARD_PATH_PREFIX": "/mixpanel",
            "TRACKYARD_TRACK_KEEP_OLD_EVENTS": "true",
            "UNRELATED": "x",
            "trackyard_port": "1",
        }
    )
    assert settings == Settings(
        port=9000, max_body_bytes=1024, path_prefix="/mixpanel", track_keep_old_events=True
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        (" on ", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
    ],
)
def test_boolean_variables(raw: str, expected: bool) -> None:
    settings = Settings.from_env({"TRACKYARD_TRACK_KEEP_OLD_EVENTS": raw})
    assert settings.track_keep_old_events is expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("TRACKYARD_PORT", "http"),
        ("TRACKYARD_PORT", "80.5"),
        ("TRACKYARD_MAX_RECORDS_PER_REQUEST", ""),
        ("TRACKYARD_TRACK_KEEP_OLD_EVENTS", "maybe"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, raw: str) -> None:
    with pytest.raises(ValueError, match=f"^{name}: expected .*{re.escape(repr(raw))}"):
        Settings.from_env({name: raw})


def test_explicit_values_win_over_variables_and_none_does_not() -> None:
    environ = {"TRACKYARD_PORT": "9000", "TRACKYARD_HOST": "0.0.0.0"}
    settings = Settings.from_env(environ, port=9100, host=None)
    assert (settings.port, settings.host) == (9100, "0.0.0.0")


def test_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKYARD_WORKERS", "4")
    assert Settings.from_env().workers == 4


def test_to_env_names_every_setting() -> None:
    assert set(Settings().to_env()) == {Settings.env_name(f.name) for f in Settings.fields()}


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(
            db="/var/lib/trackyard/t.db",
            host="0.0.0.0",
            port=443,
            workers=4,
            path_prefix="/mixpanel",
            tls_cert="cert.pem",
            tls_key="key.pem",
            log_level="debug",
            max_body_bytes=1,
            track_keep_old_events=True,
            retry_after_seconds=0,
        ),
    ],
    ids=["defaults", "changed"],
)
def test_to_env_round_trips(settings: Settings) -> None:
    assert Settings.from_env(settings.to_env()) == settings
