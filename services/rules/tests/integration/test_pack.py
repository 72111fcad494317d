"""The rule pack ships as data and loads through the API and the CLI, idempotently (A6R-38)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from rules import samples
from rules.adapters.plugins import code_digest, installed_plugins
from rules.entrypoints import cli
from rules.service_layer import service as service_module

from .conftest import T0, RulesClient, bind

pytestmark = pytest.mark.integration


async def test_a6r38_the_pack_loads_through_the_api_and_the_cli(
    rules: RulesClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (shipped,) = await rules.ok("GET", "/packs")
    assert shipped["pack"] == "article6-basic" and len(shipped["rules"]) == 7
    loaded = await rules.ok("POST", "/packs/article6-basic")
    assert len(loaded["added"]) == 7 and loaded["unchanged"] == []

    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("REGISTRY_TOPIC_PREFIX", rules.prefix)
    assert await asyncio.to_thread(cli.main, ["load-pack", "article6-basic"]) == 0
    assert await asyncio.to_thread(cli.main, ["verify-journal"]) == 0
    again = await rules.ok("POST", "/packs/article6-basic")
    assert again["added"] == [] and len(again["unchanged"]) == 7

    await bind(rules, "vintage-window", "section", "GHA", vintage_from=2021)
    old = samples.proposal(units=[samples.unit(vintage=2019)], proposed_at=T0 + timedelta(hours=1))
    denied = await rules.preview(old)
    assert denied["denials"][0]["code"] == "vintage_outside_window"
    missing = await rules.call("POST", "/packs/not-a-pack")
    assert missing.status_code == 404


async def test_a6r39_a_plugin_version_pins_its_code_and_changed_code_loads_as_a_new_version(
    rules: RulesClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A6R-39: the version naming a plugin records the digest of the plugin's code; loading the pack
    with other code installed under the same name records a new version, so each verdict names the
    code that decided it."""
    await rules.ok("POST", "/packs/article6-basic")
    pinned = await rules.ok("GET", "/rules/omge-cancellation")
    latest = pinned["versions"][-1]
    assert latest["plugin_digest"] == code_digest(installed_plugins()[latest["plugin"]])
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("REGISTRY_TOPIC_PREFIX", rules.prefix)
    monkeypatch.setattr(service_module, "code_digests", lambda plugins: {name: "c" * 64 for name in plugins})
    assert await asyncio.to_thread(cli.main, ["load-pack", "article6-basic"]) == 0
    again = await rules.ok("GET", f"/rules/{pinned['name']}")
    assert [v["plugin_digest"] for v in again["versions"]] == [latest["plugin_digest"], "c" * 64]
