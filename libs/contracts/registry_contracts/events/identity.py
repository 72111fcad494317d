"""Events produced by the identity service about access: what every decision point must learn at once.

They share one topic, keyed by user id, so that each user's changes arrive in order. Identity leaves
suspended and revoked grants out of the access tokens it mints; these events close the gap for tokens
already minted (at most one token lifetime), so a change applies everywhere within a second (A6R-51).
"""

from typing import Annotated, Literal

from pydantic import Field

from registry_contracts.events.registry import EventPayload, event_type
from registry_contracts.timestamps import UtcDatetime

Text = Annotated[str, Field(min_length=1)]


@event_type("identity.GrantChanged", 1)
class GrantChanged(EventPayload):
    """A user authorization (A6R-12) was granted, suspended, reactivated or revoked (A6R-51)."""

    grant_id: Text
    user_id: Text
    role: Text
    section: Text | None = None
    account: Text | None = None
    cooperative_approach: Text | None = None
    status: Literal["active", "suspended", "revoked"]
    changed_by: Text
    changed_at: UtcDatetime
    reason: str | None = None


@event_type("identity.SessionRevoked", 1)
class SessionRevoked(EventPayload):
    """Every token of a sign-in session stops working: sign-out, credential revocation, refresh reuse."""

    session_id: Text
    user_id: Text
    reason: Text
    revoked_at: UtcDatetime


@event_type("identity.UserAccessChanged", 1)
class UserAccessChanged(EventPayload):
    """A system administrator suspended or restored a user's access to the whole registry (A6R-50)."""

    user_id: Text
    status: Literal["active", "suspended"]
    changed_by: Text
    changed_at: UtcDatetime
