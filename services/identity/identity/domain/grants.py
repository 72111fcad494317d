"""User authorizations (A6R-12): which roles exist, how each is scoped, who grants it (A6R-14,
A6R-50, A6R-58) and who may suspend, reactivate or revoke it (A6R-51).

The hierarchy, top to bottom, with each level's authority:

- system administrators (level 3) grant and administer registry administrator grants, and nothing
  else: they have no business function (A6R-50);
- registry administrators (level 2) grant section administrators (A6R-58), cooperative-approach
  observers (A6R-46) and external systems (A6R-8), and as the higher level may suspend, reactivate
  and revoke the grants section administrators made;
- section administrators (level 1) grant section users and account roles in their own section only.

A suspension remembers the level of whoever suspended; only the same or a higher level may
reactivate it or suspend it again (A6R-51). Revocation is final: reinstatement is a new grant.
System administrator and registry service grants are never made through the API (the first system
administrator comes from `registry-identity bootstrap-admin`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from identity.domain.errors import Refused
from registry_platform.auth import (
    ACCOUNT_ROLES,
    APPROACH_OBSERVER,
    EXTERNAL_SYSTEM,
    REGISTRY_ADMINISTRATOR,
    ROLES,
    SECTION_ADMINISTRATOR,
    SECTION_USER,
    SYSTEM_ADMINISTRATOR,
    Grant,
)

LEVEL = {SECTION_ADMINISTRATOR: 1, REGISTRY_ADMINISTRATOR: 2, SYSTEM_ADMINISTRATOR: 3}
SECTION_SCOPED = frozenset({SECTION_ADMINISTRATOR, SECTION_USER, *ACCOUNT_ROLES})
# Who grants what; section-scoped grantees need a section administrator of the same section.
GRANTED_BY = {
    REGISTRY_ADMINISTRATOR: SYSTEM_ADMINISTRATOR,
    SECTION_ADMINISTRATOR: REGISTRY_ADMINISTRATOR,
    APPROACH_OBSERVER: REGISTRY_ADMINISTRATOR,
    EXTERNAL_SYSTEM: REGISTRY_ADMINISTRATOR,
    SECTION_USER: SECTION_ADMINISTRATOR,
    **dict.fromkeys(ACCOUNT_ROLES, SECTION_ADMINISTRATOR),
}
ELEVATED = frozenset(LEVEL)

_SECTION = re.compile(r"^[A-Z]{3}$")
_APPROACH = re.compile(r"^CA[0-9]{4}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_.]{0,63}$")


@dataclass(frozen=True)
class Scope:
    section: str | None = None
    account: str | None = None
    cooperative_approach: str | None = None


def _bad_scope(role: str, wanted: str) -> Refused:
    return Refused(422, "invalid_scope", f"A {role} grant is scoped to {wanted}.")


def check_scope(role: str, scope: Scope) -> None:
    """Each role has exactly the scope its function needs (ABAC, A6R-12)."""
    if role not in ROLES:
        raise Refused(422, "unknown_role", f"There is no role {role!r}.")
    s, a, c = scope.section, scope.account, scope.cooperative_approach
    if s is not None and not _SECTION.match(s):
        raise Refused(422, "invalid_scope", "A section is a Party's three-letter code, e.g. GHA.")
    if c is not None and not _APPROACH.match(c):
        raise Refused(422, "invalid_scope", "A cooperative approach id looks like CA0001.")
    if a is not None and not _ACCOUNT.match(a):
        raise Refused(422, "invalid_scope", "That is not an account number.")
    if role in (SECTION_ADMINISTRATOR, SECTION_USER) and not (s and a is None and c is None):
        raise _bad_scope(role, "one section only")
    if role in ACCOUNT_ROLES and not (s and a and c is None):
        raise _bad_scope(role, "one account and the section it is in")
    if role == APPROACH_OBSERVER and not (c and s is None and a is None):
        raise _bad_scope(role, "one cooperative approach only")
    if role == EXTERNAL_SYSTEM and not ((s or c) and (a is None or s)):
        raise _bad_scope(role, "a section or a cooperative approach (or an account in a section)")
    if role not in SECTION_SCOPED | {APPROACH_OBSERVER, EXTERNAL_SYSTEM} and (s or a or c):
        raise _bad_scope(role, "nothing: it is registry-wide")
    # The ledger numbers a section's accounts after its Party (GHA-100001): a grant on another
    # section's account, or on a registry service account, would admit nobody to anything.
    if s and a and not a.startswith(f"{s}-"):
        raise Refused(
            422,
            "account_not_in_section",
            f"Account {a} is not in section {s}: an account's number begins with its section's code ({s}-...).",
        )


def may_grant(actor: Iterable[Grant], role: str, scope: Scope) -> bool:
    """Whether someone holding `actor`'s active grants may make this grant (A6R-14, A6R-50)."""
    grantor = GRANTED_BY.get(role)
    if grantor is None:
        return False
    for g in actor:
        if g.role != grantor:
            continue
        if grantor == SECTION_ADMINISTRATOR and g.section != scope.section:
            continue
        return True
    return False


def authority(actor: Iterable[Grant], role: str, scope: Scope) -> int:
    """The level at which `actor` administers a grant of `role` in `scope`: 0 means not at all."""
    level = 0
    for g in actor:
        if role == REGISTRY_ADMINISTRATOR and g.role == SYSTEM_ADMINISTRATOR:
            level = max(level, 3)
        elif role in GRANTED_BY and role != REGISTRY_ADMINISTRATOR and g.role == REGISTRY_ADMINISTRATOR:
            level = max(level, 2)
        elif GRANTED_BY.get(role) == SECTION_ADMINISTRATOR and g.role == SECTION_ADMINISTRATOR:
            if g.section == scope.section:
                level = max(level, 1)
    return level


def level_of(roles: Iterable[str]) -> int:
    """The highest administrator level among these roles; 0 for none."""
    return max((LEVEL.get(r, 0) for r in roles), default=0)


def check_administers_user(actor: Iterable[Grant], roles: Iterable[str]) -> None:
    """An administrator acts on a user's access and credentials only from the level of the user's
    highest role up (A6R-50, A6R-51): a registry administrator never on a system administrator."""
    held = level_of(roles)
    if level_of(g.role for g in actor) < held:
        above = next(role for role, level in LEVEL.items() if level == held)
        raise Refused(
            403,
            "administered_by_higher_level",
            f"This user holds a {above} authorization; ask an administrator of that level or higher.",
        )


def check_separation_of_duties(role: str, held: Iterable[str]) -> None:
    """System administrators have no business function (A6R-50): nobody holds system_administrator
    and any other role at once."""
    roles = set(held)
    others = roles - {SYSTEM_ADMINISTRATOR}
    if role == SYSTEM_ADMINISTRATOR and others:
        raise Refused(
            409,
            "separation_of_duties",
            f"This user holds {', '.join(sorted(others))}; a system administrator may hold no other role.",
        )
    if role != SYSTEM_ADMINISTRATOR and SYSTEM_ADMINISTRATOR in roles:
        raise Refused(
            409,
            "separation_of_duties",
            "This user is a system administrator, who has no business function; choose another user.",
        )


def transition(status: str, action: str, level: int, suspended_level: int | None) -> str:
    """The grant's status after `action` by an administrator of `level`, or a refusal (A6R-51)."""
    if level <= 0:
        raise Refused(403, "not_authorized", "You do not administer this user authorization.")
    if status == "revoked":
        raise Refused(409, "grant_revoked", "This user authorization was revoked; grant a new one instead.")
    held = suspended_level or 0
    if action == "suspend":
        if status == "suspended" and level < held:
            raise _suspended_higher()
        return "suspended"
    if action == "reactivate":
        if status != "suspended":
            raise Refused(409, "grant_not_suspended", "Only a suspended user authorization can be reactivated.")
        if level < held:
            raise _suspended_higher()
        return "active"
    if action == "revoke":
        # Revoking (and granting anew) would lift a higher level's suspension by another way.
        if status == "suspended" and level < held:
            raise _suspended_higher()
        return "revoked"
    raise Refused(422, "unknown_action", f"There is no action {action!r} on a user authorization.")


def _suspended_higher() -> Refused:
    return Refused(
        403,
        "suspended_by_higher_level",
        "A higher-level administrator suspended this user authorization; only they or a higher level may change it.",
    )
