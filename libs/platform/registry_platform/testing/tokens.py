"""Development tokens for tests that call every endpoint of every service as one role or another."""

from __future__ import annotations

import uuid

from registry_platform.auth import (
    INTEROP_GATEWAY,
    REGISTRY_SERVICE,
    SERVICE_SUBJECT_PREFIX,
    Grant,
    dev_signing_key,
    issue_token,
    service_public_key,
    service_signing_key,
)
from registry_platform.settings import DEV_TOKEN_SECRET

# The scope a scoped role is granted in: one section, one of its accounts, one cooperative approach.
SECTION, ACCOUNT, APPROACH = "GHA", "GHA-1", "CA-1"
# The interop gateway's own secret in tests; every test service lists its public key.
TEST_GATEWAY_SECRET = "test-only-interop-gateway-service-secret"  # noqa: S105
TEST_SERVICE_KEYS = {INTEROP_GATEWAY: service_public_key(TEST_GATEWAY_SECRET)}
GATEWAY_SUBJECT = SERVICE_SUBJECT_PREFIX + INTEROP_GATEWAY


def gateway_token(lifetime: int = 3600) -> str:
    """The interop gateway's service token, signed with its own key."""
    key = service_signing_key(TEST_GATEWAY_SECRET)
    return issue_token(key, GATEWAY_SUBJECT, [Grant(REGISTRY_SERVICE)], lifetime=lifetime)


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
