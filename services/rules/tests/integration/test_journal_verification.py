"""The configuration journal's check compares the catalogue tables with the journal (A6R-48): a
record changed or deleted beside the journal (a superuser past the immutability triggers) is named,
through the API and the CLI."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from registry_platform import db
from rules.entrypoints import cli

from .conftest import CAP, RulesClient, add_rule, bind

pytestmark = pytest.mark.integration


async def _tamper(database_url: str, statement: str, **params: Any) -> None:
    """As a superuser can: past the insert-only triggers, leaving the journal as it is."""
    engine = db.create_engine(database_url, "rules")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


async def _checked(
    rules: RulesClient, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], int, str]:
    """The API's answer, and the CLI's exit code and output."""
    answer: dict[str, Any] = await rules.ok("GET", "/journal/verification")
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("REGISTRY_TOPIC_PREFIX", rules.prefix)
    capsys.readouterr()
    code = await asyncio.to_thread(cli.main, ["verify-journal"])
    return answer, code, capsys.readouterr().out


async def _catalogue(rules: RulesClient) -> str:
    await add_rule(rules, "cap", **CAP)
    binding = await bind(rules, "cap", max_quantity=10)
    await rules.ok("POST", "/rules/cap/suspension", {"reason": "cap under review"})
    return binding


async def test_a6r48_an_altered_version_is_named_by_the_journal_check(
    rules: RulesClient, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await _catalogue(rules)
    sound, code, out = await _checked(rules, database_url, monkeypatch, capsys)
    assert (sound["valid"], sound["catalogue_matches"], sound["entries"], code) == (True, True, 3, 0), out
    assert "catalogue tables match" in out

    await _tamper(
        database_url,
        "UPDATE rule_versions SET definition = jsonb_set(definition, '{expression}', '\"false\"') WHERE rule = 'cap'",
    )
    found, code, out = await _checked(rules, database_url, monkeypatch, capsys)
    assert found["valid"] is False and found["first_broken_sequence"] is None, "the chain itself is sound"
    difference = found["first_difference"]
    assert (difference["table"], difference["record"], difference["field"]) == ("rule_versions", "cap@1", "definition")
    assert difference["journal_sequence"] == 1
    assert difference["journal"]["expression"] == CAP["expression"] and difference["stored"]["expression"] == "false"
    assert code == 1 and "rule_versions record cap@1: definition" in out, out


async def test_a6r48_an_altered_binding_is_named_by_the_journal_check(
    rules: RulesClient, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    binding = await _catalogue(rules)
    await _tamper(database_url, """UPDATE bindings SET params = '{"max_quantity": 1000000}'""")
    found, code, out = await _checked(rules, database_url, monkeypatch, capsys)
    assert found["valid"] is False and found["catalogue_matches"] is False
    assert found["first_difference"] == {
        "table": "bindings",
        "record": binding,
        "field": "params",
        "journal": {"max_quantity": 10},
        "stored": {"max_quantity": 1000000},
        "journal_sequence": 2,
        "message": found["first_difference"]["message"],
    }
    assert code == 1 and f"bindings record {binding}: params" in out, out


async def test_a6r48_a_deleted_record_is_named_by_the_journal_check(
    rules: RulesClient, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The rule's suspension deleted: evaluations would apply the rule again."""
    await _catalogue(rules)
    await _tamper(database_url, "DELETE FROM suspensions")
    found, code, out = await _checked(rules, database_url, monkeypatch, capsys)
    difference = found["first_difference"]
    assert found["valid"] is False
    assert (difference["table"], difference["record"], difference["field"], difference["stored"]) == (
        "suspensions",
        "3",
        None,
        None,
    )
    assert difference["journal"]["target"] == "cap" and difference["journal"]["suspended"] is True
    assert code == 1 and "suspensions record 3 is missing" in out, out
