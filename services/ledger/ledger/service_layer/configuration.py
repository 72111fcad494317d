"""Configuration changes (A6R-44 d) and the account lifecycle (A6R-41)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from ledger.domain.builtin_rules import (
    AUTHORIZATION,
    SECTION_STATUS,
    SERVICE_ACCOUNT,
    BuiltinRule,
    require_open_section,
    require_section_acting,
)
from ledger.domain.errors import DomainError, RuleRefused
from ledger.domain.model import Account, AccountStatus, AccountType, Role
from ledger.domain.status_rules import check_proxy_kept, check_status_change
from ledger.service_layer import commands as c
from ledger.service_layer.context import Event, TxContext
from registry_contracts.nomenclatures.codes import is_party_code
from registry_platform.auth import SECTION_ADMINISTRATOR, SECTION_USER


class NotFound(DomainError):
    """A named thing (account, section, application...) that does not exist."""


class Conflict(DomainError):
    """The request contradicts the registry's current state."""


def _require_party(party: str) -> None:
    if not is_party_code(party):
        raise DomainError(f"{party} is not an ISO 3166-1 alpha-3 country code", code="unknown_party")


async def create_section(ctx: TxContext, cmd: c.CreateSection) -> dict[str, Any]:
    ctx.require_registry_administrator("create Party-specific sections")
    _require_party(cmd.party)
    if await ctx.repo.section_exists(cmd.party):
        raise Conflict(f"section {cmd.party} already exists", code="section_exists")
    await ctx.repo.add_section(cmd.party, cmd.name, ctx.tx, ctx.now)
    return {"section": cmd.party}


async def change_section_status(ctx: TxContext, cmd: c.ChangeSectionStatus) -> dict[str, Any]:
    ctx.require_registry_administrator("suspend and reactivate sections")
    old = await ctx.repo.section_status(cmd.party)
    if old is None:
        raise NotFound(f"there is no section {cmd.party}", code="unknown_section")
    if old == cmd.status:
        # Refused so that the journal never records a change that changed nothing.
        raise Conflict(f"section {cmd.party} is already {cmd.status}", code="status_unchanged")
    await ctx.repo.set_section_status(cmd.party, cmd.status)
    ctx.put_section_status(cmd.party, cmd.status)
    return {"section": cmd.party, "old_status": old.value, "status": cmd.status.value}


def _applied(ctx: TxContext, rule: BuiltinRule) -> None:
    # Once per entry, though an approval checks the section twice (who decides, what opens).
    ctx.rules_applied += [ref for ref in ctx.rule_refs((rule,)) if ref not in ctx.rules_applied]


def _require_open_section(ctx: TxContext, section: str) -> None:
    require_open_section(section, ctx.suspended_sections)
    _applied(ctx, SECTION_STATUS)


def _require_section_acting(ctx: TxContext, section: str | None, role: Role) -> None:
    require_section_acting(section, ctx.suspended_sections, role)
    _applied(ctx, SECTION_STATUS)


async def create_cooperative_approach(ctx: TxContext, cmd: c.CreateCooperativeApproach) -> dict[str, Any]:
    ctx.require_registry_administrator("create cooperative approaches")
    for party in cmd.parties:
        _require_party(party)
    if len(set(cmd.parties)) != len(cmd.parties):
        raise DomainError("a Party is listed twice", code="duplicate_party")
    if ctx.approach_parties(cmd.id) is not None:
        raise Conflict(f"cooperative approach {cmd.id} already exists", code="cooperative_approach_exists")
    await ctx.repo.add_approach(cmd.id, cmd.name, sorted(cmd.parties), ctx.tx, ctx.now)
    ctx.put_approach(cmd.id, sorted(cmd.parties))
    return {"cooperative_approach": cmd.id}


async def _new_account(
    ctx: TxContext, holder: str, section: str | None, approach: str | None, type: AccountType
) -> Account:
    if ctx.ruleset >= 8:
        ctx.rules_applied.append(SERVICE_ACCOUNT.ref)
        _require_service_account_fits(type, section, approach)
    if section is not None:
        if not await ctx.repo.section_exists(section):
            raise NotFound(f"there is no section {section}", code="unknown_section")
        _require_open_section(ctx, section)
    if approach is not None:
        require_approach(ctx, approach, section)
    if type == AccountType.PROXY and ctx.proxy() is not None:
        raise Conflict("the registry already has its proxy account (A6R-54)", code="proxy_exists")
    number = f"{section or 'REG'}-{100000 + ctx.counters.take('account')}"
    account = Account(number=number, holder=holder, party=section, cooperative_approach=approach, type=type)
    await ctx.repo.add_account(account, ctx.tx, ctx.now)
    ctx.put_account(account)
    ctx.events.append(
        Event(
            "ledger.AccountStatusChanged",
            number,
            {
                "account_number": number,
                "old_status": "none",
                "new_status": account.status.value,
                "changed_by": ctx.principal.initiator,
                "changed_at": ctx.now,
            },
        )
    )
    return account


# What registry administrators open directly for the registry itself, in no section (A6R-41).
SERVICE_ACCOUNTS = (AccountType.PROXY, AccountType.ADMINISTRATIVE_CANCELLATION, AccountType.ADMINISTRATIVE_HOLDING)


def _require_service_account_fits(type: AccountType, section: str | None, approach: str | None) -> None:
    """Rule set 8: service accounts belong to no section, and the proxy to no approach (A6R-54)."""
    if type in SERVICE_ACCOUNTS and section is not None:
        raise RuleRefused(
            SERVICE_ACCOUNT.ref,
            "service_account_in_section",
            f"a {type} account is a registry service account: it belongs to no section; open it with no section",
        )
    if type == AccountType.PROXY and approach is not None:
        raise RuleRefused(
            SERVICE_ACCOUNT.ref,
            "proxy_bound_to_approach",
            "the proxy account carries the external transfers of every cooperative approach (A6R-54); "
            "open it with no cooperative approach",
        )


def require_approach(ctx: TxContext, approach: str, section: str | None = None) -> tuple[str, ...]:
    """The Parties of an approach that exists (checked before any write: the database's foreign key
    would refuse it later, as a failed batch) and, for an account of a section, the section's Party
    takes part in (A6R-46)."""
    parties = ctx.approach_parties(approach)
    if parties is None:
        raise NotFound(f"there is no cooperative approach {approach}", code="unknown_cooperative_approach")
    if section is not None and section not in parties:
        raise Conflict(f"{section} takes no part in cooperative approach {approach}", code="party_not_in_approach")
    return parties


# The Party's own administrative accounts, which its section administrators open directly
# (A6R-56 a, from rule set 5); registry administrators open any account directly.
SECTION_OPENED = (AccountType.ISSUANCE, AccountType.HOLDING, AccountType.CANCELLATION)


async def open_account(ctx: TxContext, cmd: c.OpenAccount) -> dict[str, Any]:
    p = ctx.principal
    section_admin = cmd.section is not None and p.has(SECTION_ADMINISTRATOR, section=cmd.section)
    if ctx.ruleset >= 5 and section_admin and not p.is_registry_administrator:
        if cmd.type not in SECTION_OPENED:
            raise RuleRefused(
                AUTHORIZATION.ref,
                "not_authorized",
                f"section administrators open only their section's {', '.join(SECTION_OPENED)} accounts "
                f"directly (A6R-56); a {cmd.type} account is opened by a registry administrator",
            )
        ctx.rules_applied.append(AUTHORIZATION.ref)
    else:
        ctx.require_registry_administrator("and a section's administrators open accounts directly; others apply")
    account = await _new_account(ctx, cmd.holder, cmd.section, cmd.cooperative_approach, cmd.type)
    return {"account": account.number, "status": account.status.value}


# Who may apply for an account in a section: its users and its administrators (A6R-13).
APPLICANT_ROLES = (SECTION_USER, SECTION_ADMINISTRATOR)


async def apply_for_account(ctx: TxContext, cmd: c.ApplyForAccount) -> dict[str, Any]:
    if not await ctx.repo.section_exists(cmd.section):
        raise NotFound(f"there is no section {cmd.section}", code="unknown_section")
    p = ctx.principal
    if not (p.is_registry_administrator or any(p.has(r, section=cmd.section) for r in APPLICANT_ROLES)):
        raise RuleRefused(
            AUTHORIZATION.ref,
            "not_authorized",
            f"only users authorized in section {cmd.section} apply for accounts there (A6R-13)",
        )
    ctx.rules_applied.append(AUTHORIZATION.ref)
    _require_open_section(ctx, cmd.section)
    if cmd.type in SERVICE_ACCOUNTS:
        raise DomainError(
            f"a {cmd.type} account is a registry service account; nobody applies for it",
            code="account_type_not_applicable",
        )
    if ctx.ruleset >= 5 and cmd.cooperative_approach is not None:
        # Refused now rather than at approval, which would open nothing (checked again there).
        require_approach(ctx, cmd.cooperative_approach, cmd.section)
    return {"application_id": str(ctx.tx), "applicant": ctx.principal.subject, "state": "pending"}


async def decide_application(ctx: TxContext, cmd: c.DecideApplication) -> dict[str, Any]:
    application = await ctx.repo.application(uuid.UUID(cmd.application_id))
    if application is None:
        raise NotFound(f"there is no pending application {cmd.application_id}", code="unknown_application")
    if application.decided is not None:
        raise Conflict(f"application {cmd.application_id} was already decided", code="application_decided")
    request = c.ApplyForAccount.model_validate(application.input["command"])
    p = ctx.principal
    if not (p.is_registry_administrator or p.has("section_administrator", section=request.section)):
        raise RuleRefused(
            AUTHORIZATION.ref,
            "not_authorized",
            f"only administrators of section {request.section} decide its applications",
        )
    if ctx.ruleset >= 8 and cmd.approve and p.subject == application.input["identity"]["subject"]:
        # Four eyes: a section administrator would otherwise open, by applying and approving, the
        # accounts rule set 5 keeps for others to decide (A6R-41, A6R-56 c). Withdrawing is fine.
        raise RuleRefused(
            AUTHORIZATION.ref,
            "own_application",
            f"{p.subject} applied for this account; another administrator of section {request.section} "
            "or a registry administrator decides the application",
        )
    ctx.rules_applied.append(AUTHORIZATION.ref)
    if ctx.ruleset >= 5:
        role = Role.REGISTRY_ADMINISTRATOR if p.is_registry_administrator else Role.SECTION_ADMINISTRATOR
        _require_section_acting(ctx, request.section, role)
    number = None
    if cmd.approve:
        account = await _new_account(ctx, request.holder, request.section, request.cooperative_approach, request.type)
        number = account.number
    await ctx.repo.decide_application(uuid.UUID(cmd.application_id), cmd.approve, number, ctx.tx)
    return {
        "application_id": cmd.application_id,
        "approved": cmd.approve,
        "account": number,
        "applicant": application.input["identity"]["subject"],
    }


async def change_account_status(ctx: TxContext, cmd: c.ChangeAccountStatus) -> dict[str, Any]:
    account = ctx.account(cmd.account)
    if account is None:
        raise NotFound(f"there is no account {cmd.account}", code="unknown_account")
    role = ctx.role_for(account)
    if role is None:
        raise RuleRefused(AUTHORIZATION.ref, "not_authorized", f"no role over account {account.number}")
    if role == Role.SYSTEM:
        role = Role.ACCOUNT_HOLDER  # a registry service never decides a status
    if ctx.ruleset >= 5:
        _require_section_acting(ctx, account.party, role)
    balance = ctx.live.total(account.number) if cmd.status == AccountStatus.TERMINATED else 0
    check_status_change(account, cmd.status, role, balance)
    if ctx.ruleset >= 3:
        check_proxy_kept(account, cmd.status)
    ctx.rules_applied.append("builtin.account_status.transition@1")
    await ctx.repo.set_status(account, cmd.status, ctx.tx, ctx.now)
    ctx.put_account(replace(account, status=cmd.status))
    ctx.events.append(
        Event(
            "ledger.AccountStatusChanged",
            account.number,
            {
                "account_number": account.number,
                "old_status": account.status.value,
                "new_status": cmd.status.value,
                "changed_by": ctx.principal.initiator,
                "changed_at": ctx.now,
            },
        )
    )
    return {"account": account.number, "old_status": account.status.value, "status": cmd.status.value}
