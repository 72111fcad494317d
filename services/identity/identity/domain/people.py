"""One person, one user record (A6R-15), and what a profile holds (A6R-10, A6R-11).

Duplicates are refused by two keys, each unique in the database:

- the normalised primary email (case-folded, trimmed): a second record for the same mailbox is
  almost always the same person registering twice, e.g. once per Party section;
- a person key: SHA-256 over the normalised full name, date of birth and nationality. Two records
  for one person with two mailboxes collide here. Names are folded (accents, case, punctuation,
  spacing) so that "José  Núñez-Pérez" and "jose nunez perez" are one person.

Identity verification adds a third (see `document_key`): one identity document verifies one user.
Keys are hashes, so the unique indexes hold no readable personal data; anonymisation clears them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date

from identity.domain.errors import Refused

EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]{1,63})+$")
PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
CONTACT_KINDS = ("email", "phone", "postal")
# Fields a user's change request applies at once, and those a section or registry administrator
# must acknowledge first (A6R-11): names and affiliations identify the person; contacts do not.
IMMEDIATE_FIELDS = frozenset({"contacts"})
APPROVED_FIELDS = frozenset({"name", "affiliations"})
TOMBSTONE = "[anonymised]"


def normalise_email(email: str) -> str:
    return unicodedata.normalize("NFKC", email).strip().casefold()


def fold_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", letters.casefold()).split())


def person_key(name: str, date_of_birth: date, nationality: str) -> str:
    material = f"{fold_name(name)}\x00{date_of_birth.isoformat()}\x00{nationality.upper()}"
    return hashlib.sha256(b"a6r-person\x00" + material.encode()).hexdigest()


def document_key(document_type: str, issuing_country: str, number: str) -> str:
    material = (
        f"{document_type.casefold()}\x00{issuing_country.upper()}\x00{re.sub(r'[^0-9A-Za-z]', '', number).upper()}"
    )
    return hashlib.sha256(b"a6r-document\x00" + material.encode()).hexdigest()


def check_email(email: str) -> str:
    if not EMAIL.match(email.strip()):
        raise Refused(422, "invalid_email", "That is not an email address.")
    return email.strip()


def check_contacts(contacts: list[dict[str, str]]) -> list[dict[str, str]]:
    """At least two methods of communication, of at least two kinds (A6R-10): the activation code
    travels over a second channel (A6R-4), so a second email address alone does not do."""
    clean = []
    for contact in contacts:
        kind, value = contact.get("kind", ""), contact.get("value", "").strip()
        if kind not in CONTACT_KINDS:
            raise Refused(422, "invalid_contact", f"A contact is one of {', '.join(CONTACT_KINDS)}.")
        if kind == "email":
            check_email(value)
        elif kind == "phone" and not PHONE.match(value):
            raise Refused(422, "invalid_contact", "A phone number is in E.164 form, e.g. +41225551234.")
        elif kind == "postal" and len(value) < 10:
            raise Refused(422, "invalid_contact", "A postal address needs street, town and country.")
        clean.append({"kind": kind, "value": value})
    if len({c["kind"] for c in clean}) < 2:
        raise Refused(422, "too_few_contacts", "Give at least two methods of communication, e.g. email and phone.")
    return clean


def second_channel(contacts: list[dict[str, str]]) -> dict[str, str]:
    """Where the activation code goes: a phone if there is one, else a postal address."""
    for kind in ("phone", "postal"):
        for contact in contacts:
            if contact["kind"] == kind:
                return contact
    raise Refused(422, "no_second_channel", "The user has no phone or postal contact for the activation code.")


def split_change(fields: dict[str, object]) -> tuple[dict[str, object], dict[str, object]]:
    """A requested profile change, split into what applies at once and what awaits approval."""
    unknown = set(fields) - IMMEDIATE_FIELDS - APPROVED_FIELDS
    if unknown:
        raise Refused(422, "unknown_profile_field", f"Profiles have no field {sorted(unknown)[0]!r}.")
    immediate = {k: v for k, v in fields.items() if k in IMMEDIATE_FIELDS}
    approved = {k: v for k, v in fields.items() if k in APPROVED_FIELDS}
    return immediate, approved
