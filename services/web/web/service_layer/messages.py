"""Service refusals in plain language, attached to the form field they concern (issue 7, item 7).

A form names which of its fields each refusal code or request field belongs to; what matches no
field is shown beside the form's action.
"""

from __future__ import annotations

import re

from web.adapters.backends import ServiceError

ACTION = "_action"
# The ledger answered 202: the transaction awaits the rules service's verdict (issue 5 saga).
AWAITING_VERDICT = "The {what} was proposed and awaits the rules' verdict; this page shows its outcome."

_PLAIN = [
    (
        re.compile(r"String should match pattern '\^\[A-Z\]\{3\}\$'"),
        "must be a three-letter code in capitals, e.g. GHA",
    ),
    (
        re.compile(r"String should match pattern '\^CA\[0-9\]\{4\}\$'"),
        "must be CA followed by four digits, e.g. CA0001",
    ),
    (re.compile(r"String should match pattern"), "is not in the expected format"),
    (re.compile(r"Field required"), "is required"),
    (re.compile(r"Input should be greater than or equal to (\d+)"), r"must be at least \1"),
    (re.compile(r"Input should be less than or equal to (\d+)"), r"must be at most \1"),
    (re.compile(r"Input should be a valid integer.*"), "must be a whole number"),
    (re.compile(r"String should have at least (\d+) characters?"), r"must have at least \1 characters"),
    (re.compile(r"String should have at most (\d+) characters?"), r"must have at most \1 characters"),
    (re.compile(r"Value error, "), ""),
]

# Codes whose message needs no field: the whole action was refused for this reason.
FRIENDLY = {
    "not_authorized": "Your user authorizations do not allow this ({message}). Ask your administrator for access.",
    "transaction_id_reused": "This form was already sent with different content; start again from an empty form.",
    "ledger_starting": "The ledger is starting; try again in a moment.",
    "identity_starting": "The identity service is starting; try again in a moment.",
}


def plain(problem: str) -> str:
    text = problem
    for pattern, replacement in _PLAIN:
        text = pattern.sub(replacement, text)
    return text.strip()


def field_errors(exc: ServiceError, fields: dict[str, str]) -> dict[str, str]:
    """{form field (or ACTION): message}. `fields` maps refusal codes and request field names
    (the last part of a validation problem's location) to form fields."""
    errors: dict[str, str] = {}
    problems = exc.details.get("problems") if exc.code == "invalid_request" else None
    if isinstance(problems, list) and problems:
        for problem in problems:
            location = [p for p in str(problem.get("field", "")).split(".") if p and not p.isdigit()]
            target = next((fields[p] for p in reversed(location) if p in fields), ACTION)
            name = location[-1].replace("_", " ") if location else ""
            message = plain(str(problem.get("problem", "")))
            errors.setdefault(target, f"{name.capitalize()} {message}".strip() if target == ACTION else message)
        return errors
    friendly = FRIENDLY.get(exc.code, "").format(message=exc.message.rstrip("."))
    message = friendly or exc.message or exc.code.replace("_", " ")
    if exc.details.get("rule") and exc.code not in FRIENDLY:
        message = f"{message} (rule {exc.details['rule']})"
    errors[fields.get(exc.code, ACTION)] = message[0].upper() + message[1:] if message else message
    return errors
