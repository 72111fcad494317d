"""A6R-37 (a, b, c), A6R-39, A6R-54, A6R-55: the built-in rules (ledger.domain.builtin_rules)."""

import itertools
import re

import pytest

from ledger.domain.builtin_rules import (
    AUTHORIZATION,
    COOPERATIVE_APPROACH,
    CORRECTION_RULES,
    DESTINATION_STATUS,
    DISTINCT_ACCOUNTS,
    GENERATE,
    ISSUANCE_RULES,
    NOT_TERMINATED,
    PERMANENT_CANCELLATION,
    RECEIVE,
    SECTION_STATUS,
    SEND,
    SOURCE_STATUS,
    TRANSFER_RULES,
    BuiltinRule,
    RuleViolation,
    check_approach,
    check_issuance,
    check_transfer,
    enforce,
    require_open_section,
)
from ledger.domain.errors import RuleRefused
from ledger.domain.model import Account, AccountStatus, AccountType, Role

T = AccountType
ACTIVE = AccountStatus.ACTIVE
HOLDER = Role.ACCOUNT_HOLDER
ADMIN = Role.REGISTRY_ADMINISTRATOR
SECTION = Role.SECTION_ADMINISTRATOR

# type: (sends in a normal transfer, receives in one, sends in a correction, receives in one)
CAPABILITIES = {
    T.ISSUANCE: (True, False, True, False),
    T.HOLDING: (True, True, True, True),
    T.USE_NDC: (False, True, False, True),
    T.USE_OIMP: (False, True, False, True),
    T.CANCELLATION: (False, True, False, True),
    T.ADMINISTRATIVE_CANCELLATION: (False, False, False, True),
    T.ADMINISTRATIVE_HOLDING: (False, False, True, True),
    T.PROXY: (True, True, True, True),
}


def account(number: str = "GH-1", type_: AccountType = T.HOLDING, status: AccountStatus = ACTIVE) -> Account:
    party = None if type_ is T.PROXY else "GHA"
    return Account(number, "Acme", party, None, type_, status)


def rules(violations: list[RuleViolation]) -> list[str]:
    return [v.rule.ref for v in violations]


def test_a6r39_every_builtin_rule_has_a_unique_versioned_id() -> None:
    refs = [rule.ref for rule in (*CORRECTION_RULES, GENERATE)]
    assert len(refs) == len(set(refs))
    assert all(re.fullmatch(r"builtin(\.[a-z_]+)+@\d+", ref) for ref in refs)
    assert SEND.ref == "builtin.account_type.send@1"


@pytest.mark.parametrize(("type_", "is_correction"), list(itertools.product(T, [False, True])))
def test_a6r37a_which_account_types_may_send(type_: AccountType, is_correction: bool) -> None:
    sends = CAPABILITIES[type_][2 if is_correction else 0]
    found = check_transfer(account("A", type_), account("B"), ADMIN, is_correction)
    assert (SEND.ref in rules(found)) is not sends


@pytest.mark.parametrize(("type_", "is_correction"), list(itertools.product(T, [False, True])))
def test_a6r37a_which_account_types_may_receive(type_: AccountType, is_correction: bool) -> None:
    receives = CAPABILITIES[type_][3 if is_correction else 1]
    found = check_transfer(account("A"), account("B", type_), HOLDER, is_correction)
    assert (RECEIVE.ref in rules(found)) is not receives


def test_a6r37_a_valid_transfer_breaks_nothing() -> None:
    assert check_transfer(account("A"), account("B", T.USE_NDC), HOLDER, False) == []


def test_a6r37_source_and_destination_must_differ() -> None:
    assert rules(check_transfer(account("A"), account("A"), HOLDER, False)) == [DISTINCT_ACCOUNTS.ref]


@pytest.mark.parametrize("status", [AccountStatus.INITIAL, AccountStatus.SUSPENDED, AccountStatus.FROZEN])
def test_a6r37c_nobody_initiates_from_or_to_a_blocked_account(status: AccountStatus) -> None:
    blocked = account("A", status=status)
    assert rules(check_transfer(blocked, account("B"), ADMIN, False)) == [SOURCE_STATUS.ref]
    assert rules(check_transfer(account("B"), blocked, ADMIN, False)) == [DESTINATION_STATUS.ref]


def test_a6r37c_restricted_accounts_are_for_registry_administrators_only() -> None:
    restricted = account("A", status=AccountStatus.RESTRICTED)
    assert check_transfer(restricted, account("B"), ADMIN, False) == []
    found = check_transfer(restricted, account("B"), SECTION, False)
    assert [(v.rule, v.code) for v in found] == [(SOURCE_STATUS, "wrong_status")]


def test_a6r42_a_suspended_sections_accounts_are_for_registry_administrators_only() -> None:
    gha, che = account("GH-1"), Account("CH-1", "Acme", "CHE", None, T.HOLDING, ACTIVE)
    for role in (HOLDER, SECTION):
        out, into = check_transfer(gha, che, role, False, {"GHA"}), check_transfer(che, gha, role, False, {"GHA"})
        assert [(v.rule, v.code) for v in out + into] == [(SECTION_STATUS, "section_suspended")] * 2
        assert SECTION_STATUS.ref in rules(check_issuance(account("I", T.ISSUANCE), role, suspended={"GHA"}))
    assert check_transfer(gha, che, ADMIN, False, {"GHA"}) == []
    assert check_transfer(gha, che, HOLDER, False, {"PER"}) == []
    # A registry administrator's correction breaks no rule for it: the rule does not bind them.
    assert enforce(check_transfer(gha, che, ADMIN, True, {"GHA"}), True, ADMIN) == []


def test_a6r42_a_suspended_section_takes_no_new_accounts() -> None:
    with pytest.raises(RuleRefused) as refused:
        require_open_section("GHA", {"GHA"})
    assert (refused.value.rule, refused.value.code) == (SECTION_STATUS.ref, "section_suspended")
    require_open_section("CHE", {"GHA"})  # an active section: no refusal


def test_a6r41_terminated_accounts_are_reported_once_by_their_own_rule() -> None:
    closed = account("B", status=AccountStatus.TERMINATED)
    found = check_transfer(account("A"), closed, ADMIN, False)
    assert [(v.rule, v.code) for v in found] == [(NOT_TERMINATED, "account_terminated")]


@pytest.mark.parametrize("role", list(Role))
def test_a6r37c_who_may_initiate_a_transfer(role: Role) -> None:
    found = check_transfer(account("A"), account("B"), role, False)
    assert (AUTHORIZATION.ref in rules(found)) is (role is Role.SYSTEM)


@pytest.mark.parametrize("role", list(Role))
def test_a6r54_only_the_registry_forwards_units_from_the_proxy(role: Role) -> None:
    found = check_transfer(account("PX", T.PROXY), account("B"), role, False)
    assert (AUTHORIZATION.ref in rules(found)) is (role is not Role.SYSTEM)


def test_a6r54_external_transfer_goes_to_the_proxy() -> None:
    assert check_transfer(account("A"), account("PX", T.PROXY), HOLDER, False) == []


def test_a6r37_violations_are_reported_together_in_rule_order() -> None:
    found = check_transfer(
        account("A", T.CANCELLATION, AccountStatus.SUSPENDED), account("B", T.ISSUANCE), Role.SYSTEM, False
    )
    assert rules(found) == [SEND.ref, RECEIVE.ref, SOURCE_STATUS.ref, AUTHORIZATION.ref]


def test_a6r37_every_reported_rule_is_listed_for_the_journal() -> None:
    accounts = [account(str(n), t, s) for n, (t, s) in enumerate(itertools.product(T, AccountStatus))]
    for source, destination, role, correction in itertools.product(accounts, accounts, Role, [False, True]):
        listed = CORRECTION_RULES if correction else TRANSFER_RULES
        assert all(v.rule in listed for v in check_transfer(source, destination, role, correction))


def test_a6r37_enforce_refuses_a_normal_transfer_on_its_first_violation() -> None:
    found = check_transfer(account("A", T.CANCELLATION), account("B", T.ISSUANCE), HOLDER, False)
    with pytest.raises(RuleRefused) as refused:
        enforce(found, False, HOLDER)
    assert (refused.value.rule, refused.value.code) == (SEND.ref, "account_type_cannot_send")


def test_a6r37_enforce_lets_a_clean_transfer_through() -> None:
    assert enforce([], False, HOLDER) == []


def test_a6r55a_reversing_a_use_transfer_reports_the_broken_send_rule() -> None:
    found = check_transfer(account("U", T.USE_NDC), account("H"), ADMIN, True)
    broken = enforce(found, True, ADMIN)
    assert rules(broken) == [SEND.ref]


def test_a6r55b_mistaken_issuance_goes_to_administrative_cancellation_without_breaking_rules() -> None:
    found = check_transfer(account("I", T.ISSUANCE), account("X", T.ADMINISTRATIVE_CANCELLATION), ADMIN, True)
    assert enforce(found, True, ADMIN) == []


def test_a6r55c_withholding_and_returning_units_through_administrative_holding() -> None:
    withhold = check_transfer(account("H"), account("W", T.ADMINISTRATIVE_HOLDING), ADMIN, True)
    release = check_transfer(account("W", T.ADMINISTRATIVE_HOLDING), account("H"), ADMIN, True)
    assert enforce(withhold, True, ADMIN) == enforce(release, True, ADMIN) == []


def test_a6r55_corrections_may_break_status_rules() -> None:
    found = check_transfer(account("F", status=AccountStatus.FROZEN), account("H"), ADMIN, True)
    assert rules(enforce(found, True, ADMIN)) == [SOURCE_STATUS.ref]


@pytest.mark.parametrize("role", [HOLDER, SECTION, Role.SYSTEM])
def test_a6r55_only_registry_administrators_correct(role: Role) -> None:
    with pytest.raises(RuleRefused) as refused:
        enforce([], True, role)
    assert refused.value.code == "correction_not_permitted"


@pytest.mark.parametrize(
    ("source", "destination", "rule"),
    [
        (account("A"), account("A"), DISTINCT_ACCOUNTS),
        (account("A"), account("B", status=AccountStatus.TERMINATED), NOT_TERMINATED),
        (account("A", status=AccountStatus.TERMINATED), account("B"), NOT_TERMINATED),
        (account("A", T.ADMINISTRATIVE_CANCELLATION), account("B", T.ADMINISTRATIVE_HOLDING), PERMANENT_CANCELLATION),
    ],
)
def test_a6r55_corrections_cannot_break_hard_rules(source: Account, destination: Account, rule: BuiltinRule) -> None:
    found = check_transfer(source, destination, ADMIN, True)
    with pytest.raises(RuleRefused) as refused:
        enforce(found, True, ADMIN)
    assert refused.value.rule == rule.ref


@pytest.mark.parametrize("role", [SECTION, ADMIN])
def test_a6r37b_administrators_issue_into_issuance_accounts(role: Role) -> None:
    assert check_issuance(account("I", T.ISSUANCE), role) == []


@pytest.mark.parametrize("type_", [t for t in T if t is not T.ISSUANCE])
def test_a6r37b_only_issuance_accounts_generate_issued_units(type_: AccountType) -> None:
    assert rules(check_issuance(account("A", type_), ADMIN)) == [GENERATE.ref]


@pytest.mark.parametrize("role", [HOLDER, Role.SYSTEM])
def test_a6r37c_issuance_needs_an_administrator(role: Role) -> None:
    assert rules(check_issuance(account("I", T.ISSUANCE), role)) == [AUTHORIZATION.ref]


def test_a6r37b_issuance_into_a_suspended_or_terminated_account_is_refused() -> None:
    suspended = account("I", T.ISSUANCE, AccountStatus.SUSPENDED)
    terminated = account("I", T.ISSUANCE, AccountStatus.TERMINATED)
    assert rules(check_issuance(suspended, SECTION)) == [DESTINATION_STATUS.ref]
    assert rules(check_issuance(terminated, SECTION)) == [NOT_TERMINATED.ref]


def test_a6r54_units_arriving_from_another_registry_are_generated_in_the_proxy_by_the_registry() -> None:
    assert check_issuance(account("PX", T.PROXY), Role.SYSTEM, external=True) == []
    assert rules(check_issuance(account("PX", T.PROXY), ADMIN, external=True)) == [AUTHORIZATION.ref]
    assert rules(check_issuance(account("H"), Role.SYSTEM, external=True)) == [GENERATE.ref]


def test_a6r39_issuance_reports_only_listed_rules() -> None:
    for type_, status, role in itertools.product(T, AccountStatus, Role):
        for external in (False, True):
            found = check_issuance(account("A", type_, status), role, external=external)
            assert all(v.rule in ISSUANCE_RULES for v in found)


def test_a6r55b_units_in_administrative_cancellation_stay_there_from_rule_set_7() -> None:
    """'Taken permanently out of use': before rule set 7 a correction could take them out again,
    breaking only the overridable send rule, and replay still decides those entries so."""
    cancelled, holding = account("X", T.ADMINISTRATIVE_CANCELLATION), account("W", T.ADMINISTRATIVE_HOLDING)
    assert rules(check_transfer(cancelled, holding, ADMIN, True, ruleset=6)) == [SEND.ref]
    now = check_transfer(cancelled, holding, ADMIN, True, ruleset=7)
    assert [(v.rule, v.code) for v in now] == [
        (SEND, "account_type_cannot_send"),
        (PERMANENT_CANCELLATION, "units_cancelled_for_good"),
    ]
    assert not PERMANENT_CANCELLATION.overridable


CA1, CA2 = ("CHE", "PER"), ("CHE", "GHA")


def approach_account(party: str | None, approach: str | None, type_: AccountType = T.HOLDING) -> Account:
    return Account(f"{party or 'REG'}-1", "Acme", party, approach, type_, ACTIVE)


@pytest.mark.parametrize(
    ("destination", "units", "code"),
    [
        # Bound to an approach: its units only, none of another approach or of none.
        (approach_account("CHE", "CA1"), {"CA1": CA1}, None),
        (approach_account("CHE", "CA1"), {"CA2": CA2}, "approach_mismatch"),
        (approach_account("CHE", "CA1"), {None: ()}, "approach_mismatch"),
        # Generic: units of the approaches its Party takes part in, and of none.
        (approach_account("PER", None), {"CA1": CA1}, None),
        (approach_account("PER", None), {None: ()}, None),
        (approach_account("GHA", None), {"CA1": CA1}, "party_not_in_approach"),
        (approach_account("GHA", None, T.CANCELLATION), {"CA1": CA1}, "party_not_in_approach"),
        # The registry's service accounts belong to no section: any units.
        (approach_account(None, None, T.ADMINISTRATIVE_CANCELLATION), {"CA1": CA1, "CA2": CA2}, None),
    ],
)
def test_a6r46_units_appear_only_in_the_accounts_of_their_cooperative_approach(
    destination: Account, units: dict[str | None, tuple[str, ...]], code: str | None
) -> None:
    found = check_approach(destination, units)
    assert [(v.rule, v.code) for v in found] == ([] if code is None else [(COOPERATIVE_APPROACH, code)])


def test_a6r46_every_approach_the_units_break_is_named_once() -> None:
    found = check_approach(approach_account("CHE", "CA1"), {"CA2": CA2, None: (), "CA1": CA1})
    assert [v.message for v in found] == [
        "account CHE-1 is bound to cooperative approach CA1: it takes no units of no cooperative approach",
        "account CHE-1 is bound to cooperative approach CA1: it takes no units of cooperative approach CA2",
    ]
    assert COOPERATIVE_APPROACH.overridable and COOPERATIVE_APPROACH.since == 7
    assert COOPERATIVE_APPROACH in TRANSFER_RULES and COOPERATIVE_APPROACH in ISSUANCE_RULES
