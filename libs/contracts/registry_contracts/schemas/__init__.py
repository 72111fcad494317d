"""Committed JSON Schemas of the envelope and every event payload, generated from the models.

Regenerate with `python -m registry_contracts.schemas` after changing a model; a test fails
while a committed file and its model disagree.
"""

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from registry_contracts.envelope import EventEnvelope
from registry_contracts.events import EVENT_TYPES

ENVELOPE_SCHEMA_VERSION = 1
SCHEMA_DIR = Path(__file__).parent


def schema_file_name(type: str, schema_version: int) -> str:
    return f"{type}.v{schema_version}.json"


def render(schema: dict[str, Any]) -> str:
    # Sorted keys and a trailing newline: regenerating an unchanged model changes no byte.
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def expected_schemas() -> dict[str, str]:
    """File name -> schema text, for every model that must have a committed schema."""
    models: dict[str, type[BaseModel]] = {schema_file_name(t, v): model for (t, v), model in EVENT_TYPES.items()}
    models[schema_file_name("envelope", ENVELOPE_SCHEMA_VERSION)] = EventEnvelope
    return {name: render(model.model_json_schema()) for name, model in sorted(models.items())}


def committed_schemas() -> dict[str, str]:
    """File name -> text of every schema file shipped in this package."""
    package = files(__name__)
    return {
        entry.name: entry.read_text(encoding="utf-8") for entry in package.iterdir() if entry.name.endswith(".json")
    }


def write_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Make `directory` hold exactly the expected schemas; returns the names written or removed."""
    expected = expected_schemas()
    changed = []
    for stale in sorted(set(p.name for p in directory.glob("*.json")) - expected.keys()):
        (directory / stale).unlink()
        changed.append(stale)
    for name, text in expected.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(name)
    return changed
