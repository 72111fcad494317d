"""What the ledger refuses in a verdict's supplementary operations whatever the rules service says
(A6R-38 b, A6R-54). A refusal rejects the whole transaction, as any failing supplementary operation
does (A6R-47): the ledger records the transaction with all its operations or not at all."""

from __future__ import annotations

from ledger.domain.errors import DomainError
from ledger.domain.model import Account, AccountType


def check_supplementary(kind: str, source: Account, destination: Account, scope: tuple[str, str] | None) -> None:
    """Refuse an operation of `kind` from `source` to `destination`, ordered by a binding of `scope`
    (its target type and target; None: the verdict names no such binding among its rules)."""
    if source.type is AccountType.PROXY:
        # The units in the proxy account are held by another registry now: moving them here would
        # put the same serials in two registries (A6R-54).
        raise DomainError(
            f"a supplementary operation may not take units from the proxy account {source.number}",
            code="supplementary_from_proxy",
        )
    if destination.type is AccountType.PROXY:
        # Units in the proxy are held by another registry: a share put there would count as gone
        # abroad, with no registry named to receive it (A6R-54).
        raise DomainError(
            f"a supplementary operation may not put units into the proxy account {destination.number}",
            code="supplementary_to_proxy",
        )
    if kind == "cancellation" and destination.type is not AccountType.CANCELLATION:
        raise DomainError(
            f"a cancellation goes to a cancellation account, not to {destination.type} account {destination.number}",
            code="cancellation_not_to_cancellation_account",
        )
    if scope is None:
        # Which binding ordered the operation decides whose accounts it may take from: unnamed, no one's.
        raise DomainError(
            "a supplementary operation names a binding that is not among the verdict's rules",
            code="supplementary_without_binding",
        )
    target_type, target = scope
    if (target_type == "section" and source.party != target) or (target_type == "account" and source.number != target):
        # A Party's binding acts on that Party's accounts only.
        raise DomainError(
            f"a rule bound to {target_type} {target} may not take units from account {source.number}",
            code="supplementary_outside_binding_scope",
        )
