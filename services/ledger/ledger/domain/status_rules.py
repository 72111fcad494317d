"""Account statuses (A6R-41): who may set which status, and who may initiate transactions.

Status changes:
- an account is created `initial` (which behaves like `suspended`); nobody sets `initial` later;
- a registry administrator may set any other status, including setting and lifting `frozen`;
- a section administrator may move an account of a Party-specific section between active,
  restricted, suspended and terminated, but may neither set `frozen` nor lift it, and has no say
  over registry service accounts (those with no section), nor over any account of a suspended
  section (A6R-42, rule set 5: `builtin_rules.require_section_acting`, checked by the caller);
- account holders and the registry itself only request changes; an administrator decides;
- `terminated` is permanent, and an account that still holds units cannot be terminated.

Whether a section administrator administers *this* section is an authorization question that
the caller answers from the verified token; here only the role counts.
"""

from ledger.domain.errors import StatusChangeRefused
from ledger.domain.model import Account, AccountStatus, AccountType, Role


def check_status_change(account: Account, new_status: AccountStatus, actor_role: Role, balance: int) -> None:
    """Raise StatusChangeRefused unless `actor_role` may move `account` to `new_status`.

    `balance` is the number of units the account holds now. Codes: account_terminated,
    status_unchanged, status_change_not_permitted, account_not_empty.
    """
    if balance < 0:
        raise ValueError(f"balance cannot be negative, got {balance}")
    if account.status == AccountStatus.TERMINATED:
        raise StatusChangeRefused("account_terminated", f"account {account.number} is terminated")
    if new_status == account.status:
        # Refused so that the journal never records a change that changed nothing.
        raise StatusChangeRefused("status_unchanged", f"account {account.number} is already {new_status}")
    if not _may_set(account, new_status, actor_role):
        raise StatusChangeRefused(
            "status_change_not_permitted",
            f"a {actor_role} may not change account {account.number} from {account.status} to {new_status}",
        )
    # Checked after the permission so that the refusal does not disclose a balance to outsiders.
    if new_status == AccountStatus.TERMINATED and balance > 0:
        raise StatusChangeRefused("account_not_empty", f"account {account.number} still holds {balance} units")


def check_proxy_kept(account: Account, new_status: AccountStatus) -> None:
    """The proxy account is never terminated (rule set 3): a registry has one (A6R-54), and a
    terminated one would end every external transfer in or out for good."""
    if account.type == AccountType.PROXY and new_status == AccountStatus.TERMINATED:
        raise StatusChangeRefused(
            "proxy_not_terminable",
            f"account {account.number} is the registry's proxy account: external transfers need it; "
            "restrict or suspend it instead",
        )


def _may_set(account: Account, new_status: AccountStatus, actor_role: Role) -> bool:
    if new_status == AccountStatus.INITIAL:
        return False
    if actor_role == Role.REGISTRY_ADMINISTRATOR:
        return True
    if actor_role == Role.SECTION_ADMINISTRATOR:
        frozen_involved = AccountStatus.FROZEN in (account.status, new_status)
        return account.party is not None and not frozen_involved
    return False


def may_initiate(status: AccountStatus, actor_role: Role) -> bool:
    """Whether `actor_role` may initiate a transaction involving an account in `status`.

    Active: anyone otherwise authorized; restricted: registry administrators only (A6R-41 b);
    initial, suspended, frozen, terminated: nobody (A6R-37 c, A6R-41).
    """
    if status == AccountStatus.ACTIVE:
        return True
    if status == AccountStatus.RESTRICTED:
        return actor_role == Role.REGISTRY_ADMINISTRATOR
    return False
