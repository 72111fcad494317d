"""Development tokens for tests that call every endpoint of every service as one role or another."""

from __future__ import annotations

import uuid

from registry_platform.auth import Grant, dev_signing_key, issue_token
from registry_platform.settings import DEV_TOKEN_SECRET

# The scope a scoped role is granted in: one section, one of its accounts, one cooperative approach.
SECTION, ACCOUNT, APPROACH = "GHA", "GHA-1", "CA-1"


def role_token(role: str) -> str:
    """A token of a new subject holding `role`, in the scope the role needs."""
    grant = Grant(
        role,
        section=SECTION if role.startswith(("section_", "account_")) else None,
        account=ACCOUNT if role.startswith("account_") else None,
        cooperative_approach=APPROACH if role in ("approach_observer", "external_system") else None,
        id=str(uuid.uuid4()),
    )
    return issue_token(dev_signing_key(DEV_TOKEN_SECRET), str(uuid.uuid4()), [grant])
