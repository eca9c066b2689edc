"""trackyard's own OpenAPI document, kept in the package as YAML and served as JSON."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml


@functools.cache
def openapi_document() -> dict[str, Any]:
    text = resources.files("trackyard").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)
