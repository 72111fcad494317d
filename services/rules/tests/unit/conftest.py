"""Catalogues built in memory from the shipped rule pack, for the pure-domain tests."""

from __future__ import annotations

from datetime import UTC, datetime

from rules.adapters.plugins import installed_plugins
from rules.domain.bindings import Binding
from rules.domain.catalogue import RuleVersion
from rules.domain.evaluation import Snapshot
from rules.domain.validation import validate_version
from rules.service_layer.commands import VersionIn, to_version
from rules.service_layer.pack import read_pack

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def pack_versions(at: datetime = T0) -> dict[str, list[RuleVersion]]:
    """Every rule of the shipped pack as version 1, effective at `at`, checked as when saved."""
    found = {}
    for rule in read_pack("article6-basic").rules:
        version = to_version(rule.name, 1, VersionIn.model_validate(rule.model_dump(exclude={"name"})), at)
        validate_version(version, plugins=installed_plugins(), now=at)
        found[rule.name] = [version]
    return found


def bind(rule: str, target_type: str = "registry", target: str = "*", **params: object) -> Binding:
    return Binding(f"b-{rule}-{target}", rule, target_type, target, params, False, T0)


def snapshot(*bindings: Binding, versions: dict[str, list[RuleVersion]] | None = None, **kw: object) -> Snapshot:
    return Snapshot(
        sequence=1,
        versions=versions if versions is not None else pack_versions(),
        bindings=list(bindings),
        plugins=installed_plugins(),
        **kw,  # type: ignore[arg-type]
    )
