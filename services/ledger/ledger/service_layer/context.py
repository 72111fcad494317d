"""What a handler works with: the proposal, the repository, id counters, and what it records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.adapters.repository import LedgerRepository
from ledger.domain import builtin_rules
from ledger.domain.builtin_rules import AUTHORIZATION, BuiltinRule
from ledger.domain.errors import RuleRefused
from ledger.domain.live_holdings import LiveHoldings
from ledger.domain.model import Account, AccountType, Role, SectionStatus
from ledger.service_layer.commands import Command, SerialScope
from registry_contracts.nomenclatures import Nomenclature, NomenclatureVersions
from registry_platform.auth import (
    ACCOUNT_APPROVER,
    ACCOUNT_INITIATOR,
    INTEROP_GATEWAY,
    REGISTRY_ADMINISTRATOR,
    REGISTRY_SERVICE,
    SECTION_ADMINISTRATOR,
    Grant,
    Principal,
)


@dataclass(frozen=True)
class Proposal:
    """A transaction proposal (A6R-47 step 1): the client's id, the command, who proposes it, when."""

    transaction_id: uuid.UUID
    command: Command
    principal: Principal
    proposed_at: datetime
    # The rules service's verdict (issue 5 saga), when one decided this proposal.
    verdict: dict[str, Any] | None = None
    # Idempotency digest of the request as the client sent it, when the command was resolved since.
    request_digest: bytes | None = None
    # The command as the client sent it, when the registry spelled out its choices since (a
    # selection's units, an issuance's first serial): the journal keeps both (A6R-48 d).
    requested: Command | None = None
    # The built-in rule set a replayed entry was decided under; None: the current one.
    ruleset: int | None = None
    # The nomenclature version a replayed entry was judged against; None: the latest at hand.
    nomenclature_version: int | None = None
    # Replay only: the refusal a journal entry records as made at proposal time, with the rules it
    # names as applied (see writer._propose): {"error": ..., "rules_applied": [...]}.
    refused_at_proposal: dict[str, Any] | None = None

    def identity(self) -> dict[str, Any]:
        """Who acted, as the journal records it (A6R-48 b, c) and replay re-checks it."""
        return {
            "subject": self.principal.subject,
            "actor": self.principal.actor,
            "grants": [g.claim() for g in self.principal.grants],
            # Only when a service's own key signed the token: older entries keep their bytes.
            **({"service": self.principal.service} if self.principal.service else {}),
        }


def principal_from_identity(identity: dict[str, Any]) -> Principal:
    return Principal(
        subject=identity["subject"],
        actor=identity.get("actor"),
        grants=tuple(Grant(**g) for g in identity.get("grants", [])),
        service=identity.get("service"),
    )


@dataclass
class Counters:
    """Ids the writer hands out. Deterministic, so that a replay of the journal recreates them."""

    block: int = 1
    issuance: int = 1
    scope: int = 1
    account: int = 1

    def take(self, name: str) -> int:
        value: int = getattr(self, name)
        setattr(self, name, value + 1)
        return value


ScopeKey = tuple[str, str, str, int, str]


def scope_key(scope: SerialScope) -> ScopeKey:
    return (scope.originating_registry, scope.issuing_party, scope.activity_id, scope.vintage, scope.metric)


@dataclass
class Catalogue:
    """Every account, serial scope, cooperative approach (with its Parties) and suspended section,
    in memory. Only the single writer changes them, so after each commit memory and database agree;
    a failed batch reloads both from the database."""

    accounts: dict[str, Account] = field(default_factory=dict)
    scopes: dict[ScopeKey, int] = field(default_factory=dict)
    scope_views: dict[int, dict[str, Any]] = field(default_factory=dict)
    suspended_sections: set[str] = field(default_factory=set)
    approaches: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def copy(self) -> Catalogue:
        return Catalogue(
            dict(self.accounts),
            dict(self.scopes),
            dict(self.scope_views),
            set(self.suspended_sections),
            dict(self.approaches),
        )


@dataclass
class IssuanceApproaches:
    """The cooperative approach of every issuance that has one, by issuance id: what the rule on
    where units may appear (A6R-46) reads for every transfer, kept in memory so that no transfer
    reads the database for it. Issuances never change; the single writer adds a proposal's when it
    is recorded."""

    by_id: dict[int, str] = field(default_factory=dict)

    def forget_from(self, first_id: int) -> None:
        """A failed batch gives issuance ids out again from `first_id`."""
        for issuance_id in [i for i in self.by_id if i >= first_id]:
            del self.by_id[issuance_id]


@dataclass
class Event:
    type: str
    key: str
    payload: dict[str, Any]


@dataclass
class TxContext:
    repo: LedgerRepository
    proposal: Proposal
    counters: Counters
    catalogue: Catalogue
    # The live blocks, kept by the writer (a dry run reads them and changes nothing).
    live: LiveHoldings
    nomenclatures: NomenclatureVersions
    issuance_approaches: IssuanceApproaches
    # What this proposal adds to the catalogue; merged only if the proposal is recorded.
    new_accounts: dict[str, Account] = field(default_factory=dict)
    new_approaches: dict[str, tuple[str, ...]] = field(default_factory=dict)
    new_issuance_approaches: dict[int, str] = field(default_factory=dict)
    new_scopes: dict[ScopeKey, int] = field(default_factory=dict)
    section_statuses: dict[str, SectionStatus] = field(default_factory=dict)
    rules_applied: list[str] = field(default_factory=list)
    broken_rules: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    # Serials (scope id, first, last) this proposal moves, and those promised to other proposals
    # awaiting their verdict, which implicit selection passes over (see saga.Reservations).
    taken: list[tuple[int, int, int]] = field(default_factory=list)
    reserved: tuple[tuple[int, int, int], ...] = ()
    # Serials (scope key: the scope may be new, first, last) this proposal generates: an issuance's,
    # or units new to this registry arriving from another; promised to it while it awaits its verdict.
    generated: list[tuple[ScopeKey, int, int]] = field(default_factory=list)
    # The lowest serial a new issuance of each scope may take, past those promised to waiting proposals.
    serial_floor: dict[ScopeKey, int] = field(default_factory=dict)
    # A proposal's look ahead at a transfer (saga step 1): choose and check, write nothing.
    dry_run: bool = False
    # Refused at proposal time, before any verdict (the journal entry says so: replay.py).
    refused_at_proposal: bool = False

    @property
    def tx(self) -> uuid.UUID:
        return self.proposal.transaction_id

    @property
    def now(self) -> datetime:
        return self.proposal.proposed_at

    @property
    def principal(self) -> Principal:
        return self.proposal.principal

    def account(self, number: str) -> Account | None:
        return self.new_accounts.get(number) or self.catalogue.accounts.get(number)

    def put_account(self, account: Account) -> None:
        self.new_accounts[account.number] = account

    def proxy(self) -> Account | None:
        for accounts in (self.new_accounts, self.catalogue.accounts):
            for account in accounts.values():
                if account.type == AccountType.PROXY:
                    return account
        return None

    def approach_parties(self, approach: str) -> tuple[str, ...] | None:
        """The Parties of a cooperative approach; None if there is no such approach."""
        return self.new_approaches.get(approach) or self.catalogue.approaches.get(approach)

    def put_approach(self, approach: str, parties: Sequence[str]) -> None:
        self.new_approaches[approach] = tuple(parties)

    def approach_of(self, issuance_id: int) -> str | None:
        """The cooperative approach of an issuance's units; None if they belong to none."""
        return self.new_issuance_approaches.get(issuance_id) or self.issuance_approaches.by_id.get(issuance_id)

    @property
    def ruleset(self) -> int:
        return self.proposal.ruleset or builtin_rules.RULESET

    def rule_refs(self, rules: tuple[BuiltinRule, ...]) -> list[str]:
        return builtin_rules.refs(rules, self.ruleset)

    @property
    def nomenclature(self) -> Nomenclature:
        """What registry ids, metrics, sectors and activity types this proposal is judged against."""
        version = self.proposal.nomenclature_version
        return self.nomenclatures.latest if version is None else self.nomenclatures.get(version)

    @property
    def suspended_sections(self) -> set[str]:
        """As recorded before this proposal: a status change is a proposal of its own."""
        return self.catalogue.suspended_sections

    def put_section_status(self, party: str, status: SectionStatus) -> None:
        self.section_statuses[party] = status

    def scope_id(self, scope: SerialScope) -> int | None:
        key = scope_key(scope)
        return self.new_scopes.get(key) or self.catalogue.scopes.get(key)

    def put_scope(self, scope_id: int, scope: SerialScope) -> None:
        self.new_scopes[scope_key(scope)] = scope_id

    def scope_view(self, scope_id: int) -> dict[str, Any]:
        view = self.catalogue.scope_views.get(scope_id)
        if view is None:
            key = next(k for k, v in self.new_scopes.items() if v == scope_id)
            view = scope_view(key)
        return view

    def merge(self) -> None:
        """The proposal was recorded: what it added becomes part of the catalogue."""
        self.catalogue.accounts.update(self.new_accounts)
        self.catalogue.approaches.update(self.new_approaches)
        self.issuance_approaches.by_id.update(self.new_issuance_approaches)
        for key, scope_id in self.new_scopes.items():
            self.catalogue.scopes[key] = scope_id
            self.catalogue.scope_views[scope_id] = scope_view(key)
        for party, status in self.section_statuses.items():
            if status == SectionStatus.SUSPENDED:
                self.catalogue.suspended_sections.add(party)
            else:
                self.catalogue.suspended_sections.discard(party)

    def role_for(self, account: Account) -> Role | None:
        """The principal's strongest role over `account`, from the verified grants (A6R-37 c)."""
        return role_over(self.principal, account.party, account.number, self.ruleset)

    def require_role(self, account: Account) -> Role:
        role = self.role_for(account)
        if role is None and self.principal.has(REGISTRY_SERVICE):
            raise RuleRefused(
                AUTHORIZATION.ref,
                "not_authorized",
                f"a registry service acts on account {account.number} only as the interop gateway, "
                "with a token signed by the gateway's own key (REGISTRY_SERVICE_KEYS)",
            )
        if role is None:
            raise RuleRefused(
                AUTHORIZATION.ref,
                "not_authorized",
                f"{self.principal.initiator} holds no role over account {account.number}",
            )
        return role

    def require_registry_administrator(self, what: str) -> None:
        if not self.principal.has(REGISTRY_ADMINISTRATOR):
            raise RuleRefused(AUTHORIZATION.ref, "not_authorized", f"only registry administrators {what}")
        self.rules_applied.append(AUTHORIZATION.ref)


def scope_view(key: ScopeKey) -> dict[str, Any]:
    names = ("originating_registry", "issuing_party", "activity_id", "vintage", "metric")
    return dict(zip(names, key, strict=True))


def role_over(p: Principal, party: str | None, number: str, ruleset: int) -> Role | None:
    """`p`'s strongest role over the account `number` of section `party`, from the verified grants
    (A6R-37 c), under built-in rule set `ruleset`."""
    if p.has(REGISTRY_ADMINISTRATOR):
        return Role.REGISTRY_ADMINISTRATOR
    if p.has(REGISTRY_SERVICE):
        # Since rule set 3, acting as the registry (A6R-54) takes the interop gateway's own
        # key: every service holds the shared key, and whoever holds it must not create units.
        if ruleset >= 3 and p.service != INTEROP_GATEWAY:
            return None
        return Role.SYSTEM
    if party is not None and p.has(SECTION_ADMINISTRATOR, section=party):
        return Role.SECTION_ADMINISTRATOR
    # Viewers only look; initiators and approvers act for the holder (A6R-12).
    if any(p.has(r, section=party, account=number) for r in (ACCOUNT_INITIATOR, ACCOUNT_APPROVER)):
        return Role.ACCOUNT_HOLDER
    return None
