"""Committed JSON Schemas match the models (A6R-31: the contracts other systems integrate against)."""

import json

import jsonschema

from registry_contracts.events import EVENT_TYPES
from registry_contracts.schemas import committed_schemas, expected_schemas, schema_file_name

REGENERATE = "run `python -m registry_contracts.schemas` and commit the result"


def test_a6r31_every_model_has_its_committed_schema() -> None:
    committed = committed_schemas()
    missing = sorted(expected_schemas().keys() - committed.keys())
    assert not missing, f"no committed schema for {missing}; {REGENERATE}"


def test_a6r31_committed_schemas_match_their_models() -> None:
    committed = committed_schemas()
    drifted = sorted(name for name, text in expected_schemas().items() if committed.get(name, text) != text)
    assert not drifted, f"schema files differ from their models: {drifted}; {REGENERATE}"


def test_a6r31_no_schema_without_a_model() -> None:
    orphans = sorted(committed_schemas().keys() - expected_schemas().keys())
    assert not orphans, f"schema files with no model: {orphans}; {REGENERATE}"


def test_a6r31_schema_files_cover_envelope_and_event_types() -> None:
    names = set(expected_schemas())
    assert "envelope.v1.json" in names
    assert {schema_file_name(t, v) for t, v in EVENT_TYPES} <= names
    assert len(names) == len(EVENT_TYPES) + 1


def test_a6r31_committed_schemas_are_valid_json_schemas() -> None:
    for text in committed_schemas().values():
        jsonschema.Draft202012Validator.check_schema(json.loads(text))
