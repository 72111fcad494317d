"""Configuration changes: rule versions, retirements, bindings, suspensions (A6R-17, A6R-38, A6R-39).

Each change is one journal entry, its record, and a rules.ConfigurationChanged event, in the
caller's transaction, under the configuration lock; the instants it takes effect at are read from
the clock under that lock (domain.catalogue, the invariant). Registry administrators make every
change; section administrators bind (and unbind) only rules whose versions allow it, and only to
their own section.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from registry_contracts.timestamps import iso_utc
from registry_platform.auth import REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, Principal
from registry_platform.outbox import add_events
from rules.adapters.repository import Repository
from rules.domain.bindings import REGISTRY_TARGET, Binding
from rules.domain.catalogue import RuleVersion, definition_to_json
from rules.domain.journal import JournalEntry, next_entry
from rules.domain.validation import RuleRefused, binding_params, validate_version
from rules.service_layer import views
from rules.service_layer.commands import BindingIn, RetirementIn, VersionIn, to_version
from rules.service_layer.service import CONFIGURATION_TOPIC, RulesService, actor

_PARTY = re.compile(r"^[A-Z]{3}$")


async def _journal(
    service: RulesService, conn: AsyncConnection, kind: str, body: dict[str, Any], at: datetime
) -> JournalEntry:
    """Append one entry (the caller holds the journal lock) and queue its event. `at`, the change's
    instant, read from the clock under the lock (catalogue, the invariant), is the entry's
    recorded_at: the records that restate it (a suspension's changed_at) are rebuilt from it."""
    repo = Repository(conn)
    entry = next_entry(await repo.journal_head(), at, kind, body)
    await repo.append_journal(entry)
    event = service.envelope("rules.ConfigurationChanged", "journal", views.journal_entry(entry))
    await add_events(conn, [(service.topic(CONFIGURATION_TOPIC), event)])
    return entry


async def add_version(
    service: RulesService,
    conn: AsyncConnection,
    *,
    rule: str,
    spec: VersionIn,
    caller: Principal,
    pack: str | None = None,
) -> dict[str, Any]:
    repo = Repository(conn)
    await repo.lock_journal()
    now = service.clock()
    existing = await repo.versions(rule)
    version = to_version(rule, len(existing) + 1, spec, now)
    if existing and existing[0].kind != version.kind:
        raise RuleRefused(
            "kind_mismatch", f"{rule} is a {existing[0].kind} rule; name a new rule for a {version.kind} one"
        )
    validate_version(version, plugins=service.plugins, now=now)
    version = pinned(service, version)
    await _check_bindings_fit(repo, version)
    body = {
        "rule": rule,
        "version": version.version,
        "effective_from": iso_utc(now if version.effective_from is None else version.effective_from),
        "retire_at": iso_utc(version.retire_at) if version.retire_at else None,
        "definition": definition_to_json(version),
        "pack": pack,
        "by": actor(caller),
    }
    entry = await _journal(service, conn, "rule_version_added", body, now)
    await repo.add_version(version, created_by=caller.subject, sequence=entry.sequence)
    return views.version(version)


def pinned(service: RulesService, version: RuleVersion) -> RuleVersion:
    """The version with the code digest of the plugin it names, as installed now (A6R-39)."""
    if version.plugin is None:
        return version
    return replace(version, plugin_digest=service.plugin_digests.get(version.plugin))


async def _check_bindings_fit(repo: Repository, version: RuleVersion) -> None:
    """A new version must accept the parameters of the rule's current bindings: a binding that does
    not fit would fail at evaluation time, which A6R-38 asks to prevent at save time."""
    for b in await repo.bindings(rule=version.rule):
        if b["removed"]:
            continue
        try:
            binding_params(version.params, b["params"])
        except RuleRefused as exc:
            raise RuleRefused(
                "bindings_incompatible", f"binding {b['id']} does not fit the new version: {exc.message}"
            ) from exc


async def retire_version(
    service: RulesService, conn: AsyncConnection, *, rule: str, number: int, spec: RetirementIn, caller: Principal
) -> dict[str, Any]:
    repo = Repository(conn)
    await repo.lock_journal()
    now = service.clock()
    version = next((v for v in await repo.versions(rule) if v.version == number), None)
    if version is None:
        raise RuleRefused("unknown_rule_version", f"there is no version {number} of rule {rule}", status=404)
    if spec.retire_at <= now:
        raise RuleRefused("retire_at_in_past", "a version retires at a future instant (A6R-39)")
    if version.retire_at is not None and version.retire_at <= spec.retire_at:
        raise RuleRefused("already_retiring", f"{version.ref} already retires at {iso_utc(version.retire_at)}", 409)
    body = {
        "rule": rule,
        "version": number,
        "retire_at": iso_utc(spec.retire_at),
        "reason": spec.reason,
        "by": actor(caller),
    }
    entry = await _journal(service, conn, "rule_version_retired", body, now)
    await repo.add_retirement(rule, number, spec.retire_at, spec.reason, entry.sequence)
    return views.version(version, retire_at=spec.retire_at)


def _section_scope(caller: Principal, target_type: str, target: str, what: str) -> None:
    if caller.has(REGISTRY_ADMINISTRATOR):
        return
    if target_type == "section" and caller.has(SECTION_ADMINISTRATOR, section=target):
        return
    raise RuleRefused(
        "not_authorized", f"section administrators {what} only on their own section; ask a registry administrator", 403
    )


def may_read_binding(caller: Principal, target_type: str, target: str) -> bool:
    """Section administrators see the bindings of the registry, approaches, accounts and their own
    sections, not another Party's section configuration."""
    return (
        target_type != "section"
        or caller.has(REGISTRY_ADMINISTRATOR)
        or caller.has(SECTION_ADMINISTRATOR, section=target)
    )


def may_dry_run(caller: Principal, sections: list[str | None]) -> bool:
    """A dry run's verdict names the bindings that applied, their targets and parameters: a section
    administrator dry-runs only proposals whose accounts' sections they may read bindings of."""
    return all(s is None or may_read_binding(caller, "section", s) for s in sections)


async def add_binding(
    service: RulesService, conn: AsyncConnection, *, spec: BindingIn, caller: Principal
) -> dict[str, Any]:
    repo = Repository(conn)
    await repo.lock_journal()
    now = service.clock()
    versions = await repo.versions(spec.rule)
    if not versions:
        raise RuleRefused("unknown_rule", f"there is no rule {spec.rule}", status=404)
    if (spec.target_type == "registry") != (spec.target == REGISTRY_TARGET):
        raise RuleRefused("invalid_target", f'the target "{REGISTRY_TARGET}" means the whole registry, and only it')
    if spec.target_type == "section" and not _PARTY.match(spec.target):
        raise RuleRefused(
            "invalid_target", f"a section is named by its Party's ISO 3166-1 alpha-3 code, not {spec.target!r}"
        )
    _section_scope(caller, spec.target_type, spec.target, "bind rules")
    by_section = not caller.has(REGISTRY_ADMINISTRATOR)
    if by_section and not versions[-1].section_bindable:
        raise RuleRefused("not_section_bindable", f"only registry administrators bind {spec.rule}", 403)
    for v in versions:
        if v.retire_at is None or v.retire_at > now:
            binding_params(v.params, spec.params)
    binding = Binding(str(uuid.uuid4()), spec.rule, spec.target_type, spec.target, spec.params, by_section, now)
    body = {**views.binding(binding), "by": actor(caller)}
    entry = await _journal(service, conn, "binding_added", body, now)
    await repo.add_binding(binding, created_by=caller.subject, sequence=entry.sequence)
    return views.binding(binding)


def _binding_id(text: str) -> str:
    """A binding id in its canonical text: the snapshot compares suspensions with str(uuid)."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise RuleRefused("unknown_binding", f"there is no binding {text}: a binding id is a UUID", 404) from None


async def remove_binding(
    service: RulesService, conn: AsyncConnection, *, binding_id: str, reason: str, caller: Principal
) -> dict[str, Any]:
    binding_id = _binding_id(binding_id)
    repo = Repository(conn)
    await repo.lock_journal()
    found = await repo.binding(binding_id)
    if found is None or found[1]:
        raise RuleRefused("unknown_binding", f"there is no binding {binding_id} in force", status=404)
    binding = found[0]
    _section_scope(caller, binding.target_type, binding.target, "remove bindings")
    if not caller.has(REGISTRY_ADMINISTRATOR) and not binding.by_section_administrator:
        raise RuleRefused("not_authorized", "a registry administrator made this binding; only one may remove it", 403)
    body = {"binding_id": binding_id, "rule": binding.rule, "reason": reason, "by": actor(caller)}
    entry = await _journal(service, conn, "binding_removed", body, service.clock())
    await repo.remove_binding(binding_id, reason, entry.sequence)
    return {**views.binding(binding), "removed": True}


async def set_suspension(
    service: RulesService,
    conn: AsyncConnection,
    *,
    target_type: str,
    target: str,
    suspended: bool,
    reason: str,
    caller: Principal,
) -> dict[str, Any]:
    """Suspend or reactivate a rule or a binding (A6R-17): traceable, with the reason and who."""
    if target_type == "binding":
        target = _binding_id(target)
    repo = Repository(conn)
    await repo.lock_journal()
    if target_type == "rule" and not await repo.versions(target):
        raise RuleRefused("unknown_rule", f"there is no rule {target}", status=404)
    if target_type == "binding":
        found = await repo.binding(target)
        if found is None or found[1]:
            raise RuleRefused("unknown_binding", f"there is no binding {target} in force", status=404)
    current = await repo.suspension(target_type, target)
    if suspended and current is not None and current["suspended"]:
        raise RuleRefused("already_suspended", f"{target_type} {target} is already suspended", status=409)
    if not suspended and (current is None or not current["suspended"]):
        raise RuleRefused("not_suspended", f"{target_type} {target} is not suspended", status=409)
    now = service.clock()
    kind = "suspended" if suspended else "reactivated"
    body = {"target_type": target_type, "target": target, "reason": reason, "by": actor(caller)}
    entry = await _journal(service, conn, kind, body, now)
    await repo.add_suspension(
        target_type, target, suspended=suspended, reason=reason, by=caller.subject, at=now, sequence=entry.sequence
    )
    return {
        "target_type": target_type,
        "target": target,
        "suspended": suspended,
        "reason": reason,
        "changed_by": caller.subject,
        "changed_at": now,
        "journal_sequence": entry.sequence,
    }
