"""Schemathesis runs trackyard's own OpenAPI document against a live server:
generated requests for every operation, and every answer checked against the
document (no 5xx; documented status, content type, headers and body)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.hardening.servers import serve
from tests.live_server import cli

OPENAPI = Path(__file__).resolve().parents[2] / "src" / "trackyard" / "openapi.yaml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)

pytestmark = pytest.mark.e2e


def test_every_operation_answers_as_documented(tmp_path: Path) -> None:
    db = tmp_path / "schemathesis.db"
    project = cli(db, "projects", "create", "Schemathesis")
    account = project["service_account"]
    with serve(tmp_path, db) as server:
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                str(OPENAPI),
                "--url",
                server.url,
                "--checks",
                CHECKS,
                # Credentials of the project, so that /import and the lookup-table
                # and read endpoints are exercised past authentication too.
                "--auth",
                f"{account['username']}:{account['secret']}",
                # Bounded: about 10 s here. The coverage phase alone takes 30 s,
                # and with several workers it trips a CPython 3.11 race in ast.parse.
                "--phases",
                "examples,fuzzing",
                "--max-examples",
                "10",
                "--workers",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,  # schemathesis keeps a cache directory where it runs
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
