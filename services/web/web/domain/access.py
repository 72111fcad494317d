"""Which functions a user may use, and in which working context (A6R-27, A6R-56).

A user's grants come from the access token identity minted (roles scoped to a section, an account
or a cooperative approach, A6R-12). They group into working contexts: the system administration,
the registry administration, and per Party-specific section either its administration or, for its
users and account holders, the simple account-holder view (A6R-15: one user, several sections).
The menu of a context lists exactly the functions the grants allow there; the pages check the same
functions, and the services decide again with the same token.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from registry_platform.auth import (
    ACCOUNT_APPROVER,
    ACCOUNT_INITIATOR,
    ACCOUNT_ROLES,
    APPROACH_OBSERVER,
    REGISTRY_ADMINISTRATOR,
    SECTION_ADMINISTRATOR,
    SECTION_USER,
    SYSTEM_ADMINISTRATOR,
)

SYSTEM, REGISTRY, SECTION, HOLDER, OBSERVER = "system", "registry", "section", "holder", "observer"


@dataclass(frozen=True)
class Grant:
    role: str
    section: str | None = None
    account: str | None = None
    cooperative_approach: str | None = None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Grant:
        return cls(raw["role"], raw.get("section"), raw.get("account"), raw.get("cooperative_approach"))


@dataclass(frozen=True)
class Context:
    key: str
    kind: str
    label: str
    section: str | None = None
    approach: str | None = None


@dataclass(frozen=True)
class MenuItem:
    label: str
    href: str
    function: str


def grants_of(raw: Iterable[dict[str, Any]]) -> list[Grant]:
    return [Grant.of(g) for g in raw if isinstance(g, dict) and "role" in g]


def has(grants: Sequence[Grant], role: str, section: str | None = None) -> bool:
    return any(g.role == role and (section is None or g.section in (None, section)) for g in grants)


def contexts_for(grants: Sequence[Grant]) -> list[Context]:
    """The working contexts, most powerful first; a user with none sees only their own profile."""
    found: list[Context] = []
    if has(grants, SYSTEM_ADMINISTRATOR):
        found.append(Context(SYSTEM, SYSTEM, "System administration"))
    if has(grants, REGISTRY_ADMINISTRATOR):
        found.append(Context(REGISTRY, REGISTRY, "Registry administration"))
    administered = sorted({g.section for g in grants if g.role == SECTION_ADMINISTRATOR and g.section})
    found += [Context(f"{SECTION}:{s}", SECTION, f"{s} section administration", section=s) for s in administered]
    held = sorted(
        {g.section for g in grants if (g.role in ACCOUNT_ROLES or g.role == SECTION_USER) and g.section}
        - set(administered)
    )
    found += [Context(f"{HOLDER}:{s}", HOLDER, f"{s} accounts", section=s) for s in held]
    observed = sorted(
        {g.cooperative_approach for g in grants if g.role == APPROACH_OBSERVER and g.cooperative_approach}
    )
    found += [Context(f"{OBSERVER}:{a}", OBSERVER, f"{a} observation", approach=a) for a in observed]
    return found


def pick_context(contexts: Sequence[Context], wanted: str | None) -> Context | None:
    for c in contexts:
        if c.key == wanted:
            return c
    return contexts[0] if contexts else None


# Each function and the roles that may use it (section-scoped roles count in their section only).
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "accounts.view": (REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, *sorted(ACCOUNT_ROLES), APPROACH_OBSERVER),
    "transactions.view": (REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, SECTION_USER, *sorted(ACCOUNT_ROLES)),
    "transfer": (REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, ACCOUNT_INITIATOR, ACCOUNT_APPROVER),
    "apply": (REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR, SECTION_USER),
    "applications.decide": (REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR),
    "accounts.status": (REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR),
    "issue": (REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR),
    "descriptors.view": (
        REGISTRY_ADMINISTRATOR,
        SECTION_ADMINISTRATOR,
        SECTION_USER,
        *sorted(ACCOUNT_ROLES),
        APPROACH_OBSERVER,
    ),
    # An authorization is the Party's own act (A6R-45): its section administrators issue it.
    "authorizations.issue": (SECTION_ADMINISTRATOR,),
    "sections.manage": (REGISTRY_ADMINISTRATOR,),
    "approaches.manage": (REGISTRY_ADMINISTRATOR,),
    "service_accounts.open": (REGISTRY_ADMINISTRATOR,),
    "corrections": (REGISTRY_ADMINISTRATOR,),
    "impersonate": (REGISTRY_ADMINISTRATOR,),
    "external_systems": (REGISTRY_ADMINISTRATOR,),
    "journal": (REGISTRY_ADMINISTRATOR,),
    "daily_summary": (REGISTRY_ADMINISTRATOR,),
    "users.manage": (SYSTEM_ADMINISTRATOR, REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR),
    "users.verify": (SYSTEM_ADMINISTRATOR, REGISTRY_ADMINISTRATOR),
    "users.anonymise": (REGISTRY_ADMINISTRATOR,),
    # A6R-11: name and organisation changes wait for these (identity decides who, per user).
    "profile_changes.decide": (REGISTRY_ADMINISTRATOR, SECTION_ADMINISTRATOR),
    "registry_administrators": (SYSTEM_ADMINISTRATOR,),
    "identity_log": (SYSTEM_ADMINISTRATOR, REGISTRY_ADMINISTRATOR),
    # The status board's versions would tell anyone which releases, and so which flaws, to try.
    "service_versions": (SYSTEM_ADMINISTRATOR, REGISTRY_ADMINISTRATOR),
}


def may(grants: Sequence[Grant], function: str, section: str | None = None) -> bool:
    roles = FUNCTIONS[function]
    for g in grants:
        if g.role not in roles:
            continue
        if section is not None and g.section is not None and g.section != section:
            continue
        return True
    return False


def _items(grants: Sequence[Grant], section: str | None, entries: list[tuple[str, str, str]]) -> list[MenuItem]:
    return [MenuItem(label, href, fn) for label, href, fn in entries if fn == "home" or may(grants, fn, section)]


def menu_for(context: Context | None, grants: Sequence[Grant]) -> list[MenuItem]:
    """The context's functions: few for account holders (A6R-27), many for administrators."""
    if context is None:
        return [MenuItem("Home", "/home", "home")]
    s = context.section
    q = f"?section={s}" if s else ""
    if context.kind == HOLDER:
        return _items(
            grants,
            s,
            [
                ("My accounts", "/home", "home"),
                ("Transfer units", "/transfer", "transfer"),
                ("My transactions", "/transactions", "transactions.view"),
                ("Apply for an account", f"/applications/new{q}", "apply"),
            ],
        )
    if context.kind == SECTION:
        return _items(
            grants,
            s,
            [
                ("Overview", "/home", "home"),
                ("Accounts", f"/accounts{q}", "accounts.view"),
                ("Account applications", f"/applications{q}", "applications.decide"),
                ("Issue units", f"/issue{q}", "issue"),
                ("Authorizations", f"/authorizations{q}", "authorizations.issue"),
                ("Transfer units", "/transfer", "transfer"),
                ("Open an account", f"/applications/new{q}", "apply"),
                ("Transactions", "/transactions", "transactions.view"),
                ("People and access", "/users", "users.manage"),
                ("Profile changes", "/profile-changes", "profile_changes.decide"),
            ],
        )
    if context.kind == REGISTRY:
        return _items(
            grants,
            None,
            [
                ("Overview", "/home", "home"),
                ("Sections", "/sections", "sections.manage"),
                ("Cooperative approaches", "/approaches", "approaches.manage"),
                ("Accounts", "/accounts", "accounts.view"),
                ("Account applications", "/applications", "applications.decide"),
                ("Service accounts", "/service-accounts", "service_accounts.open"),
                ("Transactions", "/transactions", "transactions.view"),
                ("Authorizations", "/authorizations", "descriptors.view"),
                ("Daily summary", "/daily-summary", "daily_summary"),
                ("Corrective transfer", "/corrections", "corrections"),
                ("People and access", "/users", "users.manage"),
                ("Profile changes", "/profile-changes", "profile_changes.decide"),
                ("External systems", "/external-systems", "external_systems"),
                ("Ledger journal", "/journal", "journal"),
                ("Identity log", "/identity-log", "identity_log"),
            ],
        )
    if context.kind == SYSTEM:
        return _items(
            grants,
            None,
            [
                ("Overview", "/home", "home"),
                ("Registry administrators", "/registry-administrators", "registry_administrators"),
                ("People", "/users", "users.manage"),
                ("Identity log", "/identity-log", "identity_log"),
            ],
        )
    return _items(grants, None, [("Accounts", "/home", "home")])


# Who grants which role (A6R-14), as identity.domain.grants decides; the grant form offers these.
GRANTABLE_BY: dict[str, tuple[str, ...]] = {
    SYSTEM_ADMINISTRATOR: (REGISTRY_ADMINISTRATOR,),
    REGISTRY_ADMINISTRATOR: (SECTION_ADMINISTRATOR, APPROACH_OBSERVER),
    SECTION_ADMINISTRATOR: (SECTION_USER, ACCOUNT_INITIATOR, ACCOUNT_APPROVER, "account_viewer"),
}


def grantable_roles(grants: Sequence[Grant]) -> list[str]:
    roles: list[str] = []
    for g in grants:
        for role in GRANTABLE_BY.get(g.role, ()):
            if role not in roles:
                roles.append(role)
    return roles
