"""What interrupts a page: the visitor must sign in, lacks the function, or must prove a second
factor again before an elevated operation (RFC 9470 step-up)."""

from __future__ import annotations


class SignInRequired(Exception):
    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotPermitted(Exception):
    def __init__(self, message: str = "Your user authorizations do not include this function.") -> None:
        super().__init__(message)
        self.message = message


class StepUpRequired(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
