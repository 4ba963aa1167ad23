"""The config's JSON schema (``workflow/schemas/config.schema.yaml``) and the defaults it fills.

A leaf module: an implementation reads its section's defaults here without importing the config
check (``config.py``), which imports every registry.
"""

from __future__ import annotations

import functools
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    import yaml

    return yaml.safe_load(SCHEMA_PATH.read_text())


def schema_defaults(section: str) -> dict:
    """The schema's default of every option of an experiment section."""
    properties = load_schema()["$defs"]["experiment"]["properties"][section]["properties"]
    return {name: option["default"] for name, option in properties.items() if "default" in option}
