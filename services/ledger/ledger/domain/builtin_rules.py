"""The built-in business rules (A6R-37), versioned by name (A6R-39).

(a) which account types may send and receive, (b) which may generate units, (c) who may initiate,
given the accounts' statuses (A6R-41), their sections' statuses (issue 7) and the initiator's
(possibly impersonated, A6R-43) role.

The checks return every violation instead of raising, because a corrective transfer (A6R-55)
by a registry administrator may break rules but must record which ones; `enforce` turns the
list into a refusal or into that record. A few rules hold even for corrections.
"""

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from ledger.domain.errors import RuleRefused
from ledger.domain.model import Account, AccountStatus, AccountType, Role
from ledger.domain.status_rules import may_initiate

# The version of the built-in rule set. A journal entry decided under a later set than the first
# records it, and replay decides the entry again under the set it names: adding a rule never
# breaks the replay of the entries recorded before it existed (A6R-39, A6R-48).
# Rule set 3: a registry service acts on accounts only as the interop gateway, proven by its own key;
# the proxy account is never terminated.
# Rule set 4: an entry that generates units names the nomenclature version its codes were judged
# against (A6R-57); entries of earlier sets were judged against version 1, the only one then.
# Rule set 5: an application names a cooperative approach that exists and its section's Party takes
# part in; a suspended section's own administrators change no account status and decide no
# application there; a section's administrators open its issuance, holding and cancellation
# accounts directly (A6R-56 a).
# Rule set 6: a reversal takes back the serials of a transfer's supplementary operations into one
# account in one leg (two legs retired one joined block twice: such a transfer could not be
# reversed), and leaves those an operation sent back to the transfer's source where they are.
# Rule set 7: units appear only in the accounts of their cooperative approach (A6R-46, A6R-41): an
# account bound to an approach takes that approach's units only, and an account of a Party's
# section takes no units of an approach its Party takes no part in; units in an administrative
# cancellation account are out of use for good (A6R-55 b); units leave the proxy account only
# through incoming external transfers (A6R-54); the transaction a correction names as the one it
# corrects was recorded (A6R-55).
# Rule set 8: the registry's service accounts (proxy, administrative cancellation, administrative
# holding) belong to no Party-specific section, and the proxy account, common to the whole registry
# (A6R-54), to no cooperative approach: bound to one, it would refuse every other approach's units
# leaving for another registry, and a proxy is never replaced. Only registry administrators'
# corrective transfers are looked at: anyone else's is refused before any lookup (A6R-55). Nobody
# approves their own application for an account (A6R-41, A6R-56 c); they may withdraw it.
RULESET = 8


@dataclass(frozen=True, slots=True)
class BuiltinRule:
    name: str
    version: str
    # False for the rules that even a corrective transfer may not break.
    overridable: bool = True
    # The first rule set that has this rule.
    since: int = 1

    @property
    def ref(self) -> str:
        """The id the journal records for this rule version (A6R-39, A6R-48)."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class RuleViolation:
    rule: BuiltinRule
    code: str
    message: str


DISTINCT_ACCOUNTS = BuiltinRule("builtin.account.distinct", "1", overridable=False)
# Terminated is permanent (A6R-41); a correction must not put units into a closed account.
NOT_TERMINATED = BuiltinRule("builtin.account_status.terminated", "1", overridable=False)
SEND = BuiltinRule("builtin.account_type.send", "1")
RECEIVE = BuiltinRule("builtin.account_type.receive", "1")
GENERATE = BuiltinRule("builtin.account_type.generate", "1")
SOURCE_STATUS = BuiltinRule("builtin.account_status.source", "1")
DESTINATION_STATUS = BuiltinRule("builtin.account_status.destination", "1")
# Binds all but registry administrators, whose corrective transfers still reach a suspended section.
SECTION_STATUS = BuiltinRule("builtin.section_status", "1", since=2)
AUTHORIZATION = BuiltinRule("builtin.authorization", "1")
CORRECTION_INITIATOR = BuiltinRule("builtin.correction.initiator", "1", overridable=False)
COOPERATIVE_APPROACH = BuiltinRule("builtin.cooperative_approach", "1", since=7)
# "Taken permanently out of use" (A6R-55 b): not even a correction takes them out again.
PERMANENT_CANCELLATION = BuiltinRule("builtin.account_type.permanent", "1", overridable=False, since=7)
# The registry's service accounts are the registry's, and the proxy every approach's (A6R-41, A6R-54).
SERVICE_ACCOUNT = BuiltinRule("builtin.account_type.service_account", "1", since=8)

# The versions the journal records as applied to each kind of transaction.
TRANSFER_RULES = (
    DISTINCT_ACCOUNTS,
    NOT_TERMINATED,
    SEND,
    RECEIVE,
    SOURCE_STATUS,
    DESTINATION_STATUS,
    SECTION_STATUS,
    AUTHORIZATION,
    PERMANENT_CANCELLATION,
    COOPERATIVE_APPROACH,
)
CORRECTION_RULES = (*TRANSFER_RULES, CORRECTION_INITIATOR)
ISSUANCE_RULES = (NOT_TERMINATED, GENERATE, DESTINATION_STATUS, SECTION_STATUS, AUTHORIZATION, COOPERATIVE_APPROACH)

# Use and cancellation accounts are terminal; the proxy sends what arrives from another registry
# and receives what leaves for one (A6R-54).
SENDERS = frozenset({AccountType.ISSUANCE, AccountType.HOLDING, AccountType.PROXY})
RECEIVERS = frozenset(
    {
        AccountType.HOLDING,
        AccountType.USE_NDC,
        AccountType.USE_OIMP,
        AccountType.CANCELLATION,
        AccountType.PROXY,
    }
)
# Administrative accounts take part in corrective transfers only (A6R-55 b, c).
CORRECTIVE_SENDERS = SENDERS | {AccountType.ADMINISTRATIVE_HOLDING}
CORRECTIVE_RECEIVERS = RECEIVERS | {
    AccountType.ADMINISTRATIVE_HOLDING,
    AccountType.ADMINISTRATIVE_CANCELLATION,
}

_TRANSFER_INITIATORS = frozenset({Role.ACCOUNT_HOLDER, Role.SECTION_ADMINISTRATOR, Role.REGISTRY_ADMINISTRATOR})
# A6R-56 (e): section administrators issue; registry administrators act on service accounts.
_ISSUERS = frozenset({Role.SECTION_ADMINISTRATOR, Role.REGISTRY_ADMINISTRATOR})


def check_transfer(
    source: Account,
    destination: Account,
    initiator_role: Role,
    is_correction: bool,
    suspended: Set[str] = frozenset(),
    ruleset: int = RULESET,
) -> list[RuleViolation]:
    """Every built-in rule a transfer from `source` to `destination` breaks, in TRANSFER_RULES order,
    under rule set `ruleset`. `suspended` are the parties of the suspended sections. Which units
    move is checked apart, once they are chosen (`check_approach`)."""
    violations: list[RuleViolation] = []
    if source.number == destination.number:
        violations.append(RuleViolation(DISTINCT_ACCOUNTS, "same_account", "source and destination are the same"))
    violations += _terminated(source, destination)
    senders = CORRECTIVE_SENDERS if is_correction else SENDERS
    if source.type not in senders:
        violations.append(RuleViolation(SEND, "account_type_cannot_send", f"a {source.type} account cannot send units"))
    receivers = CORRECTIVE_RECEIVERS if is_correction else RECEIVERS
    if destination.type not in receivers:
        violations.append(
            RuleViolation(RECEIVE, "account_type_cannot_receive", f"a {destination.type} account cannot receive units")
        )
    violations += _status(SOURCE_STATUS, source, initiator_role)
    violations += _status(DESTINATION_STATUS, destination, initiator_role)
    violations += _section(initiator_role, suspended, source, destination)
    # Units leave the proxy only when the registry forwards an incoming external transfer (A6R-54).
    allowed = {Role.SYSTEM} if source.type == AccountType.PROXY else _TRANSFER_INITIATORS
    if initiator_role not in allowed:
        violations.append(
            RuleViolation(
                AUTHORIZATION,
                "not_authorized",
                f"a {initiator_role} may not transfer from a {source.type} account",
            )
        )
    if ruleset >= PERMANENT_CANCELLATION.since and source.type == AccountType.ADMINISTRATIVE_CANCELLATION:
        violations.append(
            RuleViolation(
                PERMANENT_CANCELLATION,
                "units_cancelled_for_good",
                f"the units in administrative cancellation account {source.number} are out of use for good",
            )
        )
    return violations


def check_approach(destination: Account, approaches: Mapping[str | None, Sequence[str]]) -> list[RuleViolation]:
    """Every violation of COOPERATIVE_APPROACH if units of `approaches` (each unit's cooperative
    approach, None for units of none, with the approach's Parties) come into `destination`.

    A cooperative approach is the subset of accounts in which its units may appear (A6R-46): the
    accounts bound to it, and the generic accounts of its Parties' sections. An account bound to
    an approach (at most one, A6R-41) takes that approach's units only; an account of no section
    (the registry's service accounts) takes any."""
    violations = []
    for approach in sorted(approaches, key=lambda a: a or ""):
        units = f"units of cooperative approach {approach}" if approach else "units of no cooperative approach"
        bound = destination.cooperative_approach
        if bound is not None and approach != bound:
            message = f"account {destination.number} is bound to cooperative approach {bound}: it takes no {units}"
            violations.append(RuleViolation(COOPERATIVE_APPROACH, "approach_mismatch", message))
        elif approach is not None and destination.party is not None and destination.party not in approaches[approach]:
            message = (
                f"{destination.party} takes no part in cooperative approach {approach}: its account "
                f"{destination.number} takes none of its units"
            )
            violations.append(RuleViolation(COOPERATIVE_APPROACH, "party_not_in_approach", message))
    return violations


def check_issuance(
    account: Account, initiator_role: Role, *, external: bool = False, suspended: Set[str] = frozenset()
) -> list[RuleViolation]:
    """Every built-in rule that generating units in `account` breaks, in ISSUANCE_RULES order.

    Issuance happens in issuance accounts, initiated by administrators (A6R-44 a). With
    `external`, the units arrive from another registry: the registry itself generates them in
    the proxy account before forwarding them (A6R-54).
    """
    violations = _terminated(account)
    expected = AccountType.PROXY if external else AccountType.ISSUANCE
    if account.type != expected:
        violations.append(
            RuleViolation(GENERATE, "account_type_cannot_generate", f"a {account.type} account cannot generate units")
        )
    violations += _status(DESTINATION_STATUS, account, initiator_role)
    violations += _section(initiator_role, suspended, account)
    allowed = {Role.SYSTEM} if external else _ISSUERS
    if initiator_role not in allowed:
        violations.append(RuleViolation(AUTHORIZATION, "not_authorized", f"a {initiator_role} may not generate units"))
    return violations


def require_open_section(party: str, suspended: Set[str]) -> None:
    """A suspended section takes no new accounts and no applications for them, from anyone."""
    if party in suspended:
        _refuse(
            RuleViolation(
                SECTION_STATUS, "section_suspended", f"section {party} is suspended: it takes no new accounts"
            )
        )


def require_section_acting(party: str | None, suspended: Set[str], initiator_role: Role) -> None:
    """A suspended section's own administrators and users no longer act in it (A6R-42): its
    account statuses and applications are left to registry administrators until it is reactivated."""
    if initiator_role != Role.REGISTRY_ADMINISTRATOR and party is not None and party in suspended:
        _refuse(
            RuleViolation(
                SECTION_STATUS,
                "section_suspended",
                f"section {party} is suspended: only registry administrators act in it until it is reactivated",
            )
        )


def enforce(violations: list[RuleViolation], is_correction: bool, initiator_role: Role) -> list[RuleViolation]:
    """Refuse, or return the rules a correction breaks, for the journal (A6R-55).

    A normal transaction is refused on its first violation. A corrective transfer is refused
    unless a registry administrator initiates it and it breaks only overridable rules.
    """
    if not is_correction:
        if violations:
            _refuse(violations[0])
        return []
    if initiator_role != Role.REGISTRY_ADMINISTRATOR:
        raise RuleRefused(
            CORRECTION_INITIATOR.ref,
            "correction_not_permitted",
            f"only registry administrators initiate corrective transfers, not a {initiator_role}",
        )
    for violation in violations:
        if not violation.rule.overridable:
            _refuse(violation)
    return list(violations)


def _refuse(violation: RuleViolation) -> None:
    raise RuleRefused(violation.rule.ref, violation.code, violation.message)


def _terminated(*accounts: Account) -> list[RuleViolation]:
    return [
        RuleViolation(NOT_TERMINATED, "account_terminated", f"account {account.number} is terminated")
        for account in accounts
        if account.status == AccountStatus.TERMINATED
    ]


def _status(rule: BuiltinRule, account: Account, initiator_role: Role) -> list[RuleViolation]:
    # Terminated accounts are already reported by NOT_TERMINATED.
    if account.status == AccountStatus.TERMINATED or may_initiate(account.status, initiator_role):
        return []
    message = f"a {initiator_role} may not initiate a transaction involving {account.status} account"
    return [RuleViolation(rule, "wrong_status", f"{message} {account.number}")]


def _section(initiator_role: Role, suspended: Set[str], *accounts: Account) -> list[RuleViolation]:
    # Like a restricted account (A6R-41 b): registry administrators still act, e.g. to correct.
    if initiator_role == Role.REGISTRY_ADMINISTRATOR:
        return []
    return [
        RuleViolation(
            SECTION_STATUS,
            "section_suspended",
            f"section {account.party} is suspended: only registry administrators initiate transactions "
            f"involving its account {account.number}",
        )
        for account in accounts
        if account.party in suspended
    ]


def refs(rules: tuple[BuiltinRule, ...], ruleset: int) -> list[str]:
    """The journal's ids of the rules of `rules` that rule set `ruleset` has."""
    return [r.ref for r in rules if r.since <= ruleset]
