"""What interrupts a page: the visitor must sign in, lacks the function, or must prove a second
factor again before an elevated operation (RFC 9470 step-up)."""

from __future__ import annotations

# 401s that refuse what the user has just entered (an authenticator code, a security key's answer,
# the current password), not the sign-in itself: the page shows them and the session goes on. Any
# other 401 means the sign-in is over.
ATTEMPT_REFUSED = frozenset({"invalid_second_factor", "invalid_challenge", "invalid_credentials"})


class SignInRequired(Exception):
    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotPermitted(Exception):
    def __init__(self, message: str = "Your user authorizations do not include this function.") -> None:
        super().__init__(message)
        self.message = message


class ImpersonationEnded(Exception):
    """The impersonation ran out while the request was on its way: nothing may be done with the
    administrator's own token in its place (A6R-43)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StepUpRequired(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
